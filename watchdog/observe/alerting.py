"""The watchdog's own alerts: to Alertmanager's v2 API and, optionally, to a generic JSON webhook.

Delivery never blocks an on-chain action. The :class:`AlertNotifier` is a Responder listener that
only turns an event into an alert and puts it on a bounded queue (a full queue drops the alert and
counts it); one worker thread delivers, retrying transient failures (connection errors, timeouts,
HTTP 408/429/5xx) with exponential backoff. Every attempt and every final outcome is counted in
``watchdog_alert_delivery_attempts_total`` and ``watchdog_alert_notifications_total``::

    Responder._emit ──(event)──> AlertNotifier.__call__ ──put_nowait──> queue ──> worker ──> receivers
                                                                                   (retry, backoff)

Which events page: ``alert`` (a rule whose actions include ``alert`` fired), ``action_failed`` (an
on-chain action failed: a ``WatchdogActionFailed`` alert), ``action_stuck`` (a transaction still not
mined after its fee bumps: ``WatchdogActionStuck``), and ``rule_resolved`` (the alerts of that
rule are sent again with ``endsAt``, which resolves them in Alertmanager).

Labels are bounded except ``incident``, the incident id: fine on an alert (one per incident), never on
a metric.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import httpx

from watchdog.errors import ConfigError, WatchdogError
from watchdog.fmt import iso_utc
from watchdog.observe.metrics import Metrics

log = logging.getLogger("watchdog.alerting")

RETRYABLE_STATUS = frozenset({408, 425, 429})
"""Client errors worth retrying; every 5xx is retried too."""


class DeliveryError(WatchdogError, RuntimeError):
    """An alert could not be delivered; ``retryable`` says whether trying again may help."""

    def __init__(self, receiver: str, detail: str, retryable: bool):
        self.receiver = receiver
        self.retryable = retryable
        super().__init__(f"Delivery to {receiver} failed: {detail}.")


def check_url(url: str, option: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{option} must be an http:// or https:// URL, got {url!r}.")
    return url.rstrip("/")


@dataclass(frozen=True)
class Alert:
    """One alert in Alertmanager's terms; ``ends_at`` set means resolved.

    A firing alert with a ``lifetime`` is posted with ``endsAt`` = the time of posting + ``lifetime``:
    Alertmanager keeps it active that long and resolves it by itself if it is not posted again, so the
    notifier re-posts it well inside that lifetime while the rule fires (a crashed watchdog's alerts end).
    """

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    generator_url: str = ""
    lifetime: float | None = None

    @property
    def resolved(self) -> bool:
        return self.ends_at is not None

    def resolve(self, at: float) -> Alert:
        """The same alert, resolved at ``at``."""
        return replace(self, ends_at=at)

    def to_alertmanager(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": iso_utc(self.starts_at, "milliseconds"),
        }
        if self.ends_at is not None:
            out["endsAt"] = iso_utc(self.ends_at, "milliseconds")
        elif self.lifetime is not None:
            out["endsAt"] = iso_utc((time.time() if now is None else now) + self.lifetime, "milliseconds")
        if self.generator_url:
            out["generatorURL"] = self.generator_url
        return out


class Receiver(Protocol):
    name: str

    def send(self, alerts: list[Any]) -> None: ...


def _post(client: httpx.Client, receiver: str, url: str, body: Any) -> None:
    try:
        resp = client.post(url, json=body)
    except httpx.TransportError as e:  # connection refused, timeout, reset: worth another try
        raise DeliveryError(receiver, f"{type(e).__name__}: {e}", retryable=True) from None
    if resp.status_code >= 300:
        raise DeliveryError(
            receiver,
            f"HTTP {resp.status_code} {resp.text[:200]!r}",
            retryable=resp.status_code >= 500 or resp.status_code in RETRYABLE_STATUS,
        )


class AlertmanagerReceiver:
    """POSTs alerts to ``<url>/api/v2/alerts`` (Alertmanager's OpenAPI v2 ``postAlerts``)."""

    name = "alertmanager"
    refreshes = True
    """Alertmanager forgets an alert at its ``endsAt``: firing alerts are posted again while they fire."""

    def __init__(self, url: str, timeout: float = 5.0, transport: httpx.BaseTransport | None = None):
        self.url = check_url(url, "--alertmanager-url") + "/api/v2/alerts"
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, alerts: list[Alert]) -> None:
        _post(self.client, self.name, self.url, [a.to_alertmanager() for a in alerts])


class WebhookReceiver:
    """POSTs a JSON document shaped like Alertmanager's own webhook payload to any URL."""

    name = "webhook"
    refreshes = False
    """A webhook hears each alert once when it fires and once when it resolves."""

    def __init__(self, url: str, timeout: float = 5.0, transport: httpx.BaseTransport | None = None):
        self.url = check_url(url, "--webhook-url")
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, alerts: list[Alert]) -> None:
        status = "resolved" if all(a.ends_at is not None for a in alerts) else "firing"
        body = {
            "version": "4",
            "receiver": "watchdog",
            "status": status,
            "alerts": [
                {"status": "resolved" if a.ends_at is not None else "firing", **a.to_alertmanager()}
                for a in alerts
            ],
        }
        _post(self.client, self.name, self.url, body)


@dataclass
class Backoff:
    """Attempts and delays: ``base * factor**k`` seconds, at most ``cap``, for ``attempts`` tries in all."""

    attempts: int = 5
    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.base < 0 or self.factor < 1 or self.cap < 0:
            raise ValueError("base and cap must be >= 0 and factor >= 1")

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * self.factor**attempt)


@dataclass(frozen=True)
class _Job:
    receiver: Receiver
    alerts: list[Any]


Outcome = Callable[[str, str, int], None]
"""Counts a final outcome: (receiver name, outcome: sent / failed / dropped, number of items)."""


def alert_outcomes(metrics: Metrics | None) -> tuple[Outcome | None, Callable[[str, str], None] | None]:
    if metrics is None:
        return None, None
    return (
        lambda r, o, n: metrics.alert_notifications.labels(r, o).inc(n),
        lambda r, o: metrics.alert_delivery_attempts.labels(r, o).inc(),
    )


class DeliveryWorker:
    """A bounded queue and one thread that delivers jobs with retries; ``submit`` never blocks.

    ``on_outcome(receiver, outcome, n)`` counts final outcomes, ``on_attempt(receiver, outcome)`` each try.
    """

    def __init__(
        self,
        on_outcome: Outcome | None = None,
        on_attempt: Callable[[str, str], None] | None = None,
        *,
        capacity: int = 1000,
        backoff: Backoff | None = None,
        name: str = "watchdog-alerts",
    ):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.on_outcome = on_outcome
        self.on_attempt = on_attempt
        self.backoff = backoff or Backoff()
        self.queue: queue.Queue[_Job | None] = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, receiver: Receiver, alerts: list[Any]) -> bool:
        try:
            self.queue.put_nowait(_Job(receiver, alerts))
        except queue.Full:
            self._count(receiver.name, "dropped", len(alerts))
            log.error("alert_dropped", extra={"receiver": receiver.name, "why": "delivery queue full"})
            return False
        return True

    def _count(self, receiver: str, outcome: str, n: int = 1) -> None:
        if self.on_outcome is not None:
            self.on_outcome(receiver, outcome, n)

    def _attempt(self, receiver: str, outcome: str) -> None:
        if self.on_attempt is not None:
            self.on_attempt(receiver, outcome)

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                if job is None:
                    return
                self._deliver(job)
            finally:
                self.queue.task_done()

    def _deliver(self, job: _Job) -> None:
        name = job.receiver.name
        for attempt in range(self.backoff.attempts):
            try:
                job.receiver.send(job.alerts)
            except DeliveryError as e:
                self._attempt(name, "failed")
                last_try = attempt + 1 >= self.backoff.attempts or not e.retryable or self._stop.is_set()
                log.warning(
                    "alert_delivery_failed",
                    extra={"receiver": name, "attempt": attempt + 1, "error": str(e), "final": last_try},
                )
                if last_try:
                    self._count(name, "failed", len(job.alerts))
                    return
                # Event.wait, not sleep: close() cuts the backoff short instead of hanging shutdown.
                self._stop.wait(self.backoff.delay(attempt))
                continue
            except Exception:
                log.exception("alert_delivery_error", extra={"receiver": name})
                self._count(name, "failed", len(job.alerts))
                return
            self._attempt(name, "sent")
            self._count(name, "sent", len(job.alerts))
            return

    def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until every queued job was delivered or gave up."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what is queued (retries cut short after ``timeout``), then stop the thread."""
        drained = self.drain(timeout)
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=max(timeout, 0.1))
        self._thread.join(timeout=max(timeout, 0.1))
        return drained


class AlertNotifier:
    """A Responder listener: events in, alerts out to every receiver, off the action path.

    ``clock`` gives the wall-clock time of an alert (Alertmanager resolves alerts by wall time; the
    decision's own data time is in the ``decided_at`` annotation). ``evidence_url`` is a template with
    ``{incident}`` (e.g. ``https://watchdog.example/incidents/{incident}``) for the evidence link.

    A firing alert goes to Alertmanager with ``endsAt`` ``lifetime`` seconds ahead, and is posted again
    every ``repost_every`` seconds (a third of the lifetime unless given) while its rule fires; when the rule
    resolves it is posted once more with ``endsAt`` = now. Alertmanager thus never lets a firing alert
    expire (which its receivers would hear as "resolved"), and an alert of a watchdog that died ends by
    itself after ``lifetime``. ``lifetime=None`` posts no ``endsAt`` and never re-posts (Alertmanager's
    ``resolve_timeout`` then applies).
    """

    EVENTS = ("alert", "action_failed", "action_stuck", "rule_resolved")

    def __init__(
        self,
        receivers: list[Receiver],
        worker: Any,
        *,
        clock: Callable[[], float] = time.time,
        evidence_url: str | None = None,
        generator_url: str = "",
        lifetime: float | None = 240.0,
        repost_every: float | None = None,
    ):
        if evidence_url is not None and "{incident}" not in evidence_url:
            raise ConfigError(f"The evidence URL template must contain {{incident}}, got {evidence_url!r}.")
        if lifetime is not None and not lifetime > 0:
            raise ValueError(f"lifetime must be a positive number of seconds, got {lifetime}")
        if repost_every is None and lifetime is not None:
            repost_every = lifetime / 3
        if repost_every is not None and (lifetime is None or not 0 < repost_every < lifetime):
            raise ValueError(f"repost_every must be positive and shorter than the lifetime ({lifetime} s), "
                             f"got {repost_every}")
        self.receivers = receivers
        self.worker = worker
        self.clock = clock
        self.evidence_url = evidence_url
        self.generator_url = generator_url
        self.lifetime = lifetime
        self.repost_every = repost_every
        self.firing: dict[tuple[str, str], list[Alert]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reposter: threading.Thread | None = None
        if worker is not None and repost_every is not None and any(_refreshes(r) for r in receivers):
            self._reposter = threading.Thread(target=self._repost_loop, name="watchdog-alert-repost", daemon=True)
            self._reposter.start()

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        alert = self.alert_for(event, data)
        if alert is None:
            return
        for r in self.receivers:
            self.worker.submit(r, [alert] if isinstance(alert, Alert) else alert)

    def firing_alerts(self) -> list[Alert]:
        with self._lock:
            return [a for alerts in self.firing.values() for a in alerts]

    def repost(self) -> int:
        """Post every firing alert again to the receivers that forget alerts (Alertmanager); returns how many."""
        alerts = self.firing_alerts()
        if alerts:
            for r in self.receivers:
                if _refreshes(r):
                    self.worker.submit(r, alerts)
        return len(alerts)

    def _repost_loop(self) -> None:
        assert self.repost_every is not None
        while not self._stop.wait(self.repost_every):
            try:
                self.repost()
            except Exception:  # never let the re-posting thread die: the next round tries again
                log.exception("alert_repost_failed")

    def alert_for(self, event: str, data: dict[str, Any]) -> Alert | list[Alert] | None:
        if event not in self.EVENTS:
            return None
        d = data["decision"]
        now = self.clock()
        if event == "rule_resolved":
            with self._lock:
                alerts = self.firing.pop((d.model, d.rule), [])
            return [a.resolve(now) for a in alerts] or None
        inc = data["incident"]
        labels = {
            "alertname": d.rule,
            "model": d.model,
            "rule": d.rule,
            "tier": d.tier,
            "severity": d.tier,
            "incident": inc.id,
            "source": "watchdog",
        }
        ann = {
            "summary": d.annotations.get("summary", d.rule),
            "description": (
                f"{d.detector}.{d.statistic} = {d.value:.6g} {d.op} {d.threshold:g} on model "
                f"{d.model} at line {d.record_index} (data time {iso_utc(d.at)}; detected "
                f"{iso_utc(time.time())})." + _began(inc)
            ),
            "evidence_hash": inc.evidence_hash,
            "decided_at": iso_utc(d.at),
        }
        if d.annotations.get("runbook_url"):
            ann["runbook_url"] = d.annotations["runbook_url"]
        if self.evidence_url:
            ann["evidence_url"] = self.evidence_url.format(incident=inc.id)
        if event in ("action_failed", "action_stuck"):
            what = "failed" if event == "action_failed" else "is stuck (not mined after a fee bump)"
            labels.update(
                {
                    "alertname": "WatchdogActionFailed"
                    if event == "action_failed"
                    else "WatchdogActionStuck",
                    "action": data["action"],
                    "severity": "critical",
                }
            )
            ann["summary"] = f"The {data['action']} of model {d.model} {what}"
            ann["description"] = str(data.get("error") or data.get("why") or ann["description"])[:1000]
        alert = Alert(labels, ann, now, None, self.generator_url, self.lifetime)
        with self._lock:
            kept = self.firing.setdefault((d.model, d.rule), [])
            # the same alert again (a replayed incident) replaces the copy held, never doubles it
            kept[:] = [a for a in kept if a.labels != labels] + [alert]
        return alert

    def close(self, timeout: float = 10.0) -> bool:
        self._stop.set()
        if self._reposter is not None:
            self._reposter.join(timeout=max(timeout, 0.1))
        if self.worker is None:
            return True
        done = self.worker.close(timeout)
        for r in self.receivers:
            client = getattr(r, "client", None)
            if client is not None:
                client.close()
        return done


def _refreshes(receiver: Any) -> bool:
    return bool(getattr(receiver, "refreshes", False))


def _began(inc: Any) -> str:
    """" The change began at line N (data time T)." from the incident's evidence, when the detector says."""
    try:
        change = inc.evidence_data.get("change") or {}
    except (ValueError, AttributeError):
        return ""
    if "line" not in change:
        return ""
    return f" The change began at line {change['line']} (data time {change['ts']})."


def build_notifier(
    metrics: Metrics | None,
    *,
    alertmanager_url: str | None = None,
    webhook_url: str | None = None,
    evidence_url: str | None = None,
    backoff: Backoff | None = None,
    capacity: int = 1000,
    lifetime: float | None = 240.0,
    repost_every: float | None = None,
) -> AlertNotifier | None:
    """The notifier for the configured receivers, or None when no receiver is configured."""
    receivers: list[Receiver] = []
    if alertmanager_url:
        receivers.append(AlertmanagerReceiver(alertmanager_url))
    if webhook_url:
        receivers.append(WebhookReceiver(webhook_url))
    if not receivers:
        return None
    if metrics is not None:  # every series at 0 from the start: the delivery-failure rule sees the first failure
        for rc in receivers:
            for outcome in ("sent", "failed", "dropped"):
                metrics.alert_notifications.labels(rc.name, outcome)
    on_outcome, on_attempt = alert_outcomes(metrics)
    return AlertNotifier(
        receivers,
        DeliveryWorker(on_outcome, on_attempt, capacity=capacity, backoff=backoff),
        evidence_url=evidence_url,
        lifetime=lifetime,
        repost_every=repost_every,
    )
