"""The watchdog's own alerts: to Alertmanager's v2 API and, optionally, to a generic JSON webhook.

Delivery never blocks an on-chain action. The :class:`AlertNotifier` is a Responder listener that
only turns an event into an alert and hands it to an :class:`AlertQueue`; one worker thread delivers,
keeping every alert (bounded, in a journal in the state directory, so across restarts) until the
receiver accepts it, and retrying transient failures (connection errors, timeouts, HTTP 408/429/5xx)
with capped exponential backoff. Every attempt and every outcome is counted in
``watchdog_alert_delivery_attempts_total`` and ``watchdog_alert_notifications_total`` (outcomes in
:data:`ALERT_OUTCOMES`, each series at 0 from the start)::

    Responder._emit ──(event)──> AlertNotifier ──submit──> AlertQueue ──> worker ──> receivers
                                  │  firing.json  ▲        undelivered.jsonl      (backoff, until taken)
                                  └──re-post every lifetime/3 while firing

Which events page: ``alert`` (a rule whose actions include ``alert`` fired), ``action_failed`` (an
on-chain action failed: a ``WatchdogActionFailed`` alert), ``action_stuck`` (a transaction still not
mined after its fee bumps: ``WatchdogActionStuck``), ``vote_disagreement`` (k-of-n: an operator voted other
evidence for an incident than its first vote, seen by serve's ``quorum`` job: ``WatchdogVoteDisagreement``, sent
once, no decision behind it), and ``rule_resolved`` (the alerts of that rule are sent again with ``endsAt`` = now,
which resolves them in Alertmanager).

A firing alert carries ``endsAt`` a lifetime ahead and is re-posted well inside it while its rule fires,
so Alertmanager never lets it lapse into a false "resolved"; the firing set is kept in ``firing.json`` so
a restarted watchdog goes on re-posting (and resolves) what the last process opened.

Labels are bounded except ``incident``, the incident id: fine on an alert (one per incident), never on
a metric. :class:`DeliveryWorker` (a bounded in-memory queue, a few retries, then given up) remains for
Grafana annotations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

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


class _Counted:
    """The outcome and attempt hooks a delivery path reports to (the metrics' counters), both optional."""

    on_outcome: Outcome | None
    on_attempt: Callable[[str, str], None] | None

    def _count(self, receiver: str, outcome: str, n: int = 1) -> None:
        if self.on_outcome is not None:
            self.on_outcome(receiver, outcome, n)

    def _attempt(self, receiver: str, outcome: str) -> None:
        if self.on_attempt is not None:
            self.on_attempt(receiver, outcome)


class DeliveryWorker(_Counted):
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


ALERT_OUTCOMES = ("sent", "reposted", "failed_retrying", "failed", "dropped")
"""Outcomes in ``watchdog_alert_notifications_total``: *sent* (Alertmanager or the webhook accepted the alert),
*reposted* (a firing alert accepted again), *failed_retrying* (an attempt failed; the alert is kept and tried
again), *failed* (refused for good, e.g. HTTP 400), *dropped* (the bound of undelivered alerts was hit)."""

JOURNAL = "undelivered.jsonl"
FIRING = "firing.json"


class AlertStateError(WatchdogError, ValueError):
    """A file of the alert state directory cannot be used."""

    def __init__(self, path: Path, detail: str):
        self.path = path
        super().__init__(f"The alert state file {path} cannot be used: {detail}. Move it aside to start afresh "
                         "(its undelivered alerts are then lost).")


def alert_to_json(a: Alert) -> dict[str, Any]:
    return {"labels": a.labels, "annotations": a.annotations, "starts_at": a.starts_at, "ends_at": a.ends_at,
            "generator_url": a.generator_url, "lifetime": a.lifetime}


def alert_from_json(d: dict[str, Any]) -> Alert:
    return Alert({str(k): str(v) for k, v in d["labels"].items()},
                 {str(k): str(v) for k, v in d["annotations"].items()},
                 float(d["starts_at"]), None if d.get("ends_at") is None else float(d["ends_at"]),
                 str(d.get("generator_url") or ""), None if d.get("lifetime") is None else float(d["lifetime"]))


@dataclass
class _Entry:
    id: int
    receiver: str
    alerts: list[Alert]
    repost: bool = False  # a re-post of firing alerts: never journaled, coalesced, counted "reposted"
    retrying: bool = False  # counted failed_retrying already


@dataclass
class _Lane:
    """One receiver's undelivered entries, in order, and its backoff."""

    receiver: Receiver
    entries: deque[_Entry] = field(default_factory=deque)
    failures: int = 0
    next_try: float = 0.0
    busy: bool = False


class AlertQueue(_Counted):
    """Undelivered alerts, kept until the receiver accepts them: bounded, in order, durable across restarts.

    Each receiver has its own lane; the head of a lane is posted, and on a retryable failure (connection
    refused, timeout, HTTP 408/425/429/5xx) it is tried again after ``backoff.delay(k)`` seconds, without
    end, while the entries behind it wait (a resolve is never delivered before its firing alert). An entry
    is written to ``<state_dir>/undelivered.jsonl`` (one JSON line ``{"add": ...}`` before it is queued, one
    ``{"done": id}`` once delivered or given up; written to the kernel by ``submit``, fsynced by the worker
    off the caller's thread) so a restart, even after SIGKILL, delivers what the last process could not; a
    line torn by a crash is logged and skipped, and the journal is compacted at start.
    At most ``capacity`` alerts are held: the oldest entry beyond it is dropped and counted ``dropped``. A
    refused alert (another HTTP 4xx) is counted ``failed`` and not tried again. Re-posts of firing alerts are
    not journaled (the next round re-posts anyway) and a newer one replaces an older one not yet delivered::

        submit ──▶ journal {"add"} ──▶ lane ──▶ post ──accepted──▶ journal {"done"}, "sent"
                                        ▲        │
                                        └backoff─┴─retryable─▶ "failed_retrying" (once per entry)

    The interface is :class:`DeliveryWorker`'s (``submit``, ``drain``, ``close``).
    """

    def __init__(
        self,
        receivers: list[Receiver],
        state_dir: Path | None = None,
        *,
        on_outcome: Outcome | None = None,
        on_attempt: Callable[[str, str], None] | None = None,
        capacity: int = 1000,
        backoff: Backoff | None = None,
    ):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.backoff = backoff or Backoff(base=0.5, factor=2.0, cap=30.0)
        self.on_outcome = on_outcome
        self.on_attempt = on_attempt
        self.lanes = {r.name: _Lane(r) for r in receivers}
        self._cond = threading.Condition()
        self._stop = False
        self._next_id = 1
        self._journaled_done = 0
        self._dirty = False
        self.path = None if state_dir is None else Path(state_dir) / JOURNAL
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._load()
        self._thread = threading.Thread(target=self._run, name="watchdog-alerts", daemon=True)
        self._thread.start()

    # the journal -----------------------------------------------------------------------------

    def _load(self) -> None:
        assert self.path is not None
        kept: dict[int, _Entry] = {}
        if self.path.exists():
            lines = self.path.read_bytes().splitlines()
            for n, line in enumerate(lines, 1):
                try:
                    rec = json.loads(line)
                    if "done" in rec:
                        kept.pop(int(rec["done"]), None)
                    else:
                        kept[int(rec["add"])] = _Entry(int(rec["add"]), str(rec["receiver"]),
                                                       [alert_from_json(a) for a in rec["alerts"]])
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    # a line torn by a crash (or a full disk) mid-write: the rest of the journal still counts
                    log.error("alert_journal_bad_line", extra={"path": str(self.path), "line": n, "error": str(e),
                                                               "last": n == len(lines)})
        self._next_id = max(kept, default=0) + 1
        for entry in kept.values():
            lane = self.lanes.get(entry.receiver)
            if lane is None:
                log.error("alert_dropped", extra={"receiver": entry.receiver, "alerts": len(entry.alerts),
                                                  "why": "kept for a receiver that is no longer configured"})
                self._count(entry.receiver, "dropped", len(entry.alerts))
                continue
            lane.entries.append(entry)
        self._rewrite()
        if kept:
            log.warning("alerts_undelivered_resumed", extra={"entries": len(kept), "path": str(self.path)})

    def _rewrite(self) -> None:
        """The journal compacted to what is still undelivered (write, fsync, rename)."""
        assert self.path is not None
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            for lane in self.lanes.values():
                for e in lane.entries:
                    if not e.repost:
                        f.write(self._add_line(e))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._journaled_done = 0

    @staticmethod
    def _add_line(e: _Entry) -> bytes:
        rec = {"add": e.id, "receiver": e.receiver, "alerts": [alert_to_json(a) for a in e.alerts]}
        return json.dumps(rec, separators=(",", ":")).encode() + b"\n"

    def _journal(self, line: bytes) -> None:
        """Append one line. Written to the kernel at once (a SIGKILL loses nothing), but not fsynced here: the
        caller is the Responder, on the action path; the worker syncs before it posts (:meth:`_sync`)."""
        if self.path is None:
            return
        with open(self.path, "ab") as f:
            f.write(line)
        self._dirty = True

    def _sync(self) -> None:
        """fsync the journal (for a power loss) if lines were written since the last sync; on the worker."""
        if self.path is None or not self._dirty:
            return
        self._dirty = False
        try:
            with open(self.path, "ab") as f:
                os.fsync(f.fileno())
        except OSError as e:
            log.error("alert_journal_failed", extra={"path": str(self.path), "error": str(e)})

    def _done(self, e: _Entry) -> None:
        if self.path is None or e.repost:
            return
        self._journal(json.dumps({"done": e.id}).encode() + b"\n")
        self._journaled_done += 1
        if self._journaled_done >= 200 and not any(lane.busy for lane in self.lanes.values()):
            self._rewrite()

    # the public side ---------------------------------------------------------------------------

    def submit(self, receiver: Receiver, alerts: list[Any], *, repost: bool = False) -> bool:
        """Keep ``alerts`` for ``receiver`` until delivered; never blocks on the network."""
        with self._cond:
            lane = self.lanes.get(receiver.name)
            if lane is None:
                lane = self.lanes[receiver.name] = _Lane(receiver)
            if repost:
                for e in lane.entries:
                    if e.repost and not (lane.busy and e is lane.entries[0]):
                        e.alerts = list(alerts)  # the newer re-post replaces the one not yet delivered
                        return True
            entry = _Entry(self._next_id, receiver.name, list(alerts), repost=repost)
            self._next_id += 1
            try:
                if not repost:
                    self._journal(self._add_line(entry))
            except OSError as e:  # a full disk must not lose the alert: it is still held in memory
                log.error("alert_journal_failed", extra={"path": str(self.path), "error": str(e)})
            lane.entries.append(entry)
            self._bound()
            self._cond.notify_all()
            return True

    def _held(self) -> int:
        return sum(len(e.alerts) for lane in self.lanes.values() for e in lane.entries if not e.repost)

    def _bound(self) -> None:
        while self._held() > self.capacity:
            oldest: _Entry | None = None
            for lane in self.lanes.values():
                for i, e in enumerate(lane.entries):
                    if e.repost or (i == 0 and lane.busy):
                        continue
                    if oldest is None or e.id < oldest.id:
                        oldest = e
                    break
            if oldest is None:
                return
            self.lanes[oldest.receiver].entries.remove(oldest)
            self._count(oldest.receiver, "dropped", len(oldest.alerts))
            log.error("alert_dropped", extra={"receiver": oldest.receiver, "alerts": len(oldest.alerts),
                                              "why": f"more than {self.capacity} alerts undelivered"})
            self._done(oldest)

    def undelivered(self) -> dict[str, int]:
        """Alerts held for each receiver (re-posts aside): ``watchdog_alerts_undelivered``."""
        with self._cond:
            return {name: sum(len(e.alerts) for e in lane.entries if not e.repost)
                    for name, lane in self.lanes.items()}

    def pending(self, receiver: str | None = None) -> int:
        """Alerts held for delivery (re-posts aside), for one receiver or all."""
        with self._cond:
            return sum(len(e.alerts) for name, lane in self.lanes.items() if receiver in (None, name)
                       for e in lane.entries if not e.repost)

    # the worker ----------------------------------------------------------------------------------

    def _due(self, now: float) -> tuple[_Lane | None, float | None]:
        """The lane whose head is due now, else how long until the next one is."""
        wait: float | None = None
        for lane in self.lanes.values():
            if not lane.entries or lane.busy:
                continue
            if lane.next_try <= now:
                return lane, None
            wait = lane.next_try - now if wait is None else min(wait, lane.next_try - now)
        return None, wait

    def _run(self) -> None:
        while True:
            self._sync()  # outside the lock: submit() never waits for the disk
            with self._cond:
                if self._stop:
                    return
                lane, wait = self._due(time.monotonic())
                if lane is None:
                    if not self._dirty:
                        self._cond.wait(wait)
                    continue
                lane.busy = True
                entry = lane.entries[0]
                alerts = list(entry.alerts)
            self._sync()
            error: DeliveryError | None = None
            try:
                lane.receiver.send(alerts)
            except DeliveryError as e:
                error = e
            except Exception as e:  # a bug in a receiver: refused for good, never a crashed worker
                log.exception("alert_delivery_error", extra={"receiver": lane.receiver.name})
                error = DeliveryError(lane.receiver.name, f"{type(e).__name__}: {e}", retryable=False)
            with self._cond:
                lane.busy = False
                self._settle(lane, entry, len(alerts), error)
                self._cond.notify_all()

    def _settle(self, lane: _Lane, entry: _Entry, n: int, error: DeliveryError | None) -> None:
        name = lane.receiver.name
        if error is None:
            self._attempt(name, "sent")
            lane.entries.popleft()
            lane.failures, lane.next_try = 0, 0.0
            self._count(name, "reposted" if entry.repost else "sent", n)
            self._done(entry)
            return
        self._attempt(name, "failed")
        log.warning("alert_delivery_failed", extra={"receiver": name, "attempt": lane.failures + 1,
                                                    "error": str(error), "final": not error.retryable})
        if not error.retryable:
            lane.entries.popleft()
            self._count(name, "failed", n)
            self._done(entry)
            return
        if not entry.retrying:
            entry.retrying = True
            self._count(name, "failed_retrying", n)
        lane.next_try = time.monotonic() + self.backoff.delay(lane.failures)
        lane.failures += 1

    def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until every alert held was delivered or given up."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(lane.entries for lane in self.lanes.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Try to deliver what is held for at most ``timeout`` seconds, then stop; what is still undelivered
        stays in the journal for the next start. Returns whether everything was delivered."""
        drained = self.drain(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=max(timeout, 1.0))
        if not drained:
            log.warning("alerts_undelivered_kept", extra={"alerts": self.pending(), "path": str(self.path)})
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

    ACTION_EVENTS: ClassVar[Mapping[str, tuple[str, str]]] = MappingProxyType({
        "action_held": ("WatchdogActionHeld", "held"),
        "action_mined": ("WatchdogActionTaken", "mined"),
        "action_failed": ("WatchdogActionFailed", "failed"),
        "action_stuck": ("WatchdogActionStuck", "stuck"),
        "action_vetoed": ("WatchdogActionVetoed", "vetoed"),
        "action_settled": ("WatchdogActionSettled", "settled"),
        "action_voted": ("WatchdogActionVoted", "voted"),  # k-of-n: our vote is mined, short of the quorum
    })
    """An on-chain action's events and the alert each sends (label ``outcome``); the newest alert of an
    incident's action replaces (resolves) the one before it, and all end when the rule resolves."""
    EVENTS = ("alert", "rule_resolved", "vote_disagreement", *ACTION_EVENTS)

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
        state_dir: Path | None = None,
        incident_state: Callable[[str], str | None] | None = None,
        action_status: Callable[[str, str], tuple[str, str | None] | None] | None = None,
        watch_every: float = 5.0,
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
        if not watch_every > 0:
            raise ValueError(f"watch_every must be a positive number of seconds, got {watch_every}")
        self.incident_state = incident_state
        self.action_status = action_status
        self.watch_every = watch_every
        self._held: dict[tuple[str, str], dict[str, Any]] = {}  # (incident, action) -> its action_held data
        self.firing: dict[tuple[str, str], list[Alert]] = {}
        self._lock = threading.Lock()
        self.firing_path = None if state_dir is None else Path(state_dir) / FIRING
        if self.firing_path is not None:
            self.firing_path.parent.mkdir(parents=True, exist_ok=True)
            self.firing = _load_firing(self.firing_path)
            if self.firing:
                log.info("alerts_firing_resumed", extra={"alerts": sum(map(len, self.firing.values()))})
        self._stop = threading.Event()
        self._reposter: threading.Thread | None = None
        reposts = repost_every is not None and any(_refreshes(r) for r in receivers)
        if worker is not None and (reposts or action_status is not None):
            self._reposter = threading.Thread(target=self._repost_loop, name="watchdog-alert-repost", daemon=True)
            self._reposter.start()

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        alert = self.alert_for(event, data)
        if alert is None:
            return
        self.post([alert] if isinstance(alert, Alert) else alert)

    def post(self, alerts: list[Alert]) -> None:
        """Hand ``alerts`` to the worker, once for each receiver."""
        for r in self.receivers:
            self.worker.submit(r, alerts)

    def fire(self, alert: Alert) -> None:
        """Post a firing alert and keep re-posting it until :meth:`resolve` of its model and rule."""
        self._remember((alert.labels.get("model", ""), alert.labels.get("rule", alert.labels["alertname"])), alert)
        self.post([alert])

    def resolve(self, model: str, rule: str) -> list[Alert]:
        """Post the firing alerts of ``model``/``rule`` resolved now; returns them."""
        alerts = self._forget((model, rule), self.clock())
        if alerts:
            self.post(alerts)
        return alerts

    def firing_alerts(self) -> list[Alert]:
        with self._lock:
            return [a for alerts in self.firing.values() for a in alerts]

    def repost(self) -> int:
        """Post every firing alert again to the receivers that forget alerts (Alertmanager); returns how many.

        An alert whose incident a steward marked resolved in the store is resolved instead: that ends an
        alert kept from an earlier run whose rule will not resolve in this one.
        """
        if self.incident_state is not None:
            with self._lock:
                groups = list(self.firing.items())
            for key, alerts in groups:
                incident = alerts[0].labels.get("incident") if alerts else None
                if incident and self.incident_state(incident) == "resolved":
                    self.resolve(*key)
        alerts = self.firing_alerts()
        if alerts:
            for r in self.receivers:
                if not _refreshes(r):
                    continue
                if isinstance(self.worker, AlertQueue):
                    self.worker.submit(r, alerts, repost=True)
                else:
                    self.worker.submit(r, alerts)
        return len(alerts)

    def _remember(self, key: tuple[str, str], alert: Alert) -> None:
        with self._lock:
            kept = self.firing.setdefault(key, [])
            # the same alert again (a replayed incident) replaces the copy held, never doubles it; a newer
            # alert about an incident's action (held, then mined) replaces and resolves the older one
            older = [a for a in kept if a.labels != alert.labels and _same_action(a, alert)]
            kept[:] = [a for a in kept if a.labels != alert.labels and a not in older] + [alert]
            self._save()
        if older:
            self.post([a.resolve(alert.starts_at) for a in older])

    def _forget(self, key: tuple[str, str], now: float, clear: str | None = None) -> list[Alert]:
        """The firing alerts of ``key``, resolved at ``now``; ``clear`` (why) goes in their ``resolved``
        annotation, so a receiver's "resolved" says the condition cleared rather than that it was left."""
        with self._lock:
            alerts = self.firing.pop(key, [])
            if alerts:
                self._save()
        if clear is not None:
            alerts = [replace(a, annotations={**a.annotations, "resolved": clear}) for a in alerts]
        return [a.resolve(now) for a in alerts]

    def _save(self) -> None:
        if self.firing_path is None:
            return
        doc = {"version": 1, "firing": [{"model": m, "rule": r, "alerts": [alert_to_json(a) for a in alerts]}
                                        for (m, r), alerts in self.firing.items()]}
        tmp = self.firing_path.with_name(self.firing_path.name + ".tmp")
        try:
            # no fsync: this runs on the Responder's thread, before the on-chain action; the rename is atomic
            # for a crash, and a file a power loss left empty reads as "nothing firing"
            with open(tmp, "w") as f:
                json.dump(doc, f)
            os.replace(tmp, self.firing_path)
        except OSError as e:  # the alerts still go out; only their re-posting after a restart is at risk
            log.error("alert_state_write_failed", extra={"path": str(self.firing_path), "error": str(e)})

    def check_held(self) -> int:
        """Alert on held actions a steward vetoed since (a veto is written to the store by another process,
        ``watchdog veto`` or the API): returns how many were found vetoed."""
        if self.action_status is None:
            return 0
        with self._lock:
            held = list(self._held.items())
        found = 0
        for (incident, action), data in held:
            got = self.action_status(incident, action)
            if got is None or got[0] in ("intent", "held"):
                continue
            with self._lock:
                self._held.pop((incident, action), None)
            if got[0] == "vetoed":
                found += 1
                self("action_vetoed", {**data, "error": got[1] or ""})
        return found

    def _repost_loop(self) -> None:
        tick = min(self.watch_every, self.repost_every or self.watch_every)
        next_repost = time.monotonic() + (self.repost_every or 0)
        while not self._stop.wait(tick):
            try:
                self.check_held()
                if self.repost_every is not None and time.monotonic() >= next_repost:
                    next_repost = time.monotonic() + self.repost_every
                    self.repost()
            except Exception:  # never let the re-posting thread die: the next round tries again
                log.exception("alert_repost_failed")

    def alert_for(self, event: str, data: dict[str, Any]) -> Alert | list[Alert] | None:
        if event not in self.EVENTS:
            return None
        if event == "vote_disagreement":  # from the quorum watch (watchdog/actions/quorum.py): no decision behind it
            return self._disagreement(data, self.clock())
        d = data["decision"]
        now = self.clock()
        if event == "rule_resolved":
            clear = (f"Clear: rule {d.rule} of model {d.model} resolved at line {d.record_index} "
                     f"(data time {iso_utc(d.at)}).")
            return self._forget((d.model, d.rule), now, clear) or None
        inc = data["incident"]
        labels = {
            "alertname": d.rule,
            "model": d.model,
            "module": d.module,
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
        if event in self.ACTION_EVENTS:
            labels, ann = self._action(event, data, labels, ann)
            with self._lock:
                if event == "action_held":
                    self._held[(inc.id, str(data["action"]))] = data
                else:
                    self._held.pop((inc.id, str(data["action"])), None)
        alert = Alert(labels, ann, now, None, self.generator_url, self.lifetime)
        self._remember((d.model, d.rule), alert)
        return alert

    def _action(self, event: str, data: dict[str, Any], labels: dict[str, str],
                ann: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """What was done: the action, its module, its transaction and block, in the labels and the text."""
        d, action = data["decision"], str(data["action"])
        alertname, outcome = self.ACTION_EVENTS[event]
        severity = {"mined": d.tier, "settled": d.tier, "voted": d.tier, "vetoed": "medium"}.get(outcome, "critical")
        labels = {**labels, "alertname": alertname, "action": action, "outcome": outcome, "severity": severity}
        tx = data.get("tx")
        tx_hash = getattr(tx, "tx_hash", None) or data.get("tx_hash")
        block = getattr(tx, "block_number", None) or data.get("block_number")
        if tx_hash:
            ann["tx_hash"] = str(tx_hash)
        if block is not None:
            ann["block_number"] = str(block)
        what = f"The {action} of module {d.module} (model {d.model}, rule {d.rule})"
        detail = str(data.get("error") or data.get("why") or "")[:1000]
        if outcome == "mined":
            ann["summary"] = f"{what} was mined in block {block}"
            ann["description"] = f"{what} was mined in block {block}, transaction {tx_hash}. " + ann["description"]
        elif outcome == "held":
            until = data.get("not_before")
            when = f" until {iso_utc(float(until))}" if until else ""
            ann["summary"] = f"{what} is held{when} for its veto window"
            ann["description"] = (f"{what} is held{when}; a steward may veto it before then with `watchdog veto "
                                  f"{data['incident'].id} --by NAME --reason TEXT`. " + ann["description"])
        elif outcome == "vetoed":
            ann["summary"] = f"{what} was vetoed"
            ann["description"] = detail or f"{what} was vetoed by a steward; it will not be sent."
        elif outcome == "failed":
            unsent = " was not sent" if data.get("unsent") else " failed"
            ann["summary"] = what + unsent
            ann["description"] = detail or ann["description"]
        elif outcome == "stuck":
            ann["summary"] = f"{what} is stuck (not mined after a fee bump)"
            ann["description"] = detail or ann["description"]
        elif outcome == "voted":
            note = str(data.get("note") or "voted")
            ann["summary"] = f"{what} was voted on-chain: {note}"
            ann["description"] = (f"{what} is a k-of-n vote, mined in block {block}, transaction {tx_hash}: {note}. "
                                  "The module pauses when enough operators vote for the same evidence. "
                                  + ann["description"])
        else:
            ann["summary"] = f"{what} was settled without a transaction of ours"
            ann["description"] = detail or ann["description"]
        return labels, ann

    def _disagreement(self, data: dict[str, Any], now: float) -> Alert:
        """``WatchdogVoteDisagreement``: an operator voted other evidence for an incident than its first vote."""
        labels = {"alertname": "WatchdogVoteDisagreement", "severity": "critical", "source": "watchdog",
                  "incident": data["incident_id"], "module": data["module"]}
        if data.get("model"):
            labels["model"] = data["model"]
        ann = {"summary": f"Operators disagree on the evidence of incident {data['incident_id'][:10]}...",
               "description": str(data.get("description", ""))[:1000], "evidence_hash": data["evidence_hash"],
               "first_evidence_hash": data["first_evidence_hash"], "operator": data["operator"]}
        if self.evidence_url and data.get("model"):
            ann["evidence_url"] = self.evidence_url.format(incident=data["incident_id"])
        return Alert(labels, ann, now, None, self.generator_url)

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


def _load_firing(path: Path) -> dict[tuple[str, str], list[Alert]]:
    if not path.exists():
        return {}
    text = path.read_text()
    if not text.strip():
        log.warning("alert_state_empty", extra={"path": str(path), "why": "written just before a power loss"})
        return {}
    try:
        doc = json.loads(text)
        if doc.get("version") != 1:
            raise ValueError(f"version {doc.get('version')!r}, expected 1")
        return {(str(g["model"]), str(g["rule"])): [alert_from_json(a) for a in g["alerts"]] for g in doc["firing"]}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise AlertStateError(path, f"it is not the watchdog's list of firing alerts ({e})") from None


def _same_action(a: Alert, b: Alert) -> bool:
    return ("action" in a.labels and a.labels.get("action") == b.labels.get("action")
            and a.labels.get("incident") == b.labels.get("incident"))


def _refreshes(receiver: Any) -> bool:
    return bool(getattr(receiver, "refreshes", False))


def _began(inc: Any) -> str:
    """" The change began at line N (data time T)." from the incident's evidence, when the detector says."""
    try:
        change = inc.evidence_data.get("change") or {}
    except (ValueError, AttributeError):
        return ""
    if "line" in change:
        return f" The change began at line {change['line']} (data time {change['ts']})."
    if "id" in change:  # the evidence names records by id (line numbers are one operator's)
        return f" The change began at record {change['id']} (data time {change['ts']})."
    return ""


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
    state_dir: Path | None = None,
    incident_state: Callable[[str], str | None] | None = None,
    action_status: Callable[[str, str], tuple[str, str | None] | None] | None = None,
) -> AlertNotifier | None:
    """The notifier for the configured receivers, or None when no receiver is configured.

    With ``state_dir`` the undelivered alerts (``undelivered.jsonl``) and the firing ones (``firing.json``)
    survive a restart; without it they live in memory only. ``incident_state(id)`` reads an incident's
    state from the store: a firing alert whose incident was marked resolved is resolved at the next re-post;
    ``action_status(incident, kind)`` reads an action's (status, error): a held action found vetoed alerts.
    """
    receivers: list[Receiver] = []
    if alertmanager_url:
        receivers.append(AlertmanagerReceiver(alertmanager_url))
    if webhook_url:
        receivers.append(WebhookReceiver(webhook_url))
    if not receivers:
        return None
    if metrics is not None:  # every series at 0 from the start: the delivery-failure rule sees the first failure
        for rc in receivers:
            for outcome in ALERT_OUTCOMES:
                metrics.alert_notifications.labels(rc.name, outcome)
            for outcome in ("sent", "failed"):
                metrics.alert_delivery_attempts.labels(rc.name, outcome)
    on_outcome, on_attempt = alert_outcomes(metrics)
    worker = AlertQueue(receivers, state_dir, on_outcome=on_outcome, on_attempt=on_attempt, capacity=capacity,
                        backoff=backoff)
    if metrics is not None:
        metrics.attach_alert_queue(worker.undelivered)
    return AlertNotifier(
        receivers,
        worker,
        evidence_url=evidence_url,
        lifetime=lifetime,
        repost_every=repost_every,
        state_dir=state_dir,
        incident_state=incident_state,
        action_status=action_status,
    )
