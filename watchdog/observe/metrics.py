"""Every metric the watchdog exports, in one place.

Names follow Prometheus' own rules: one prefix (``watchdog_``), base units, ``_total`` only on
counters, labels of bounded cardinality (model, feature, detector, rule, tier, reason code, action,
outcome; never a request id or a transaction hash). Values that already live in detectors and rules
are read at scrape time by :class:`EngineCollector`, not pushed with ``.set()`` from the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

import rules
from watchdog import __version__
from watchdog.ingest.records import REASON_CODES


class EngineView(Protocol):
    """What the engine collector reads of an engine at scrape time (:class:`watchdog.engine.engine.Engine`
    has it); a narrow view, so this module needs nothing of the engine's."""

    @property
    def policy(self) -> Any: ...
    @property
    def evaluator(self) -> Any: ...
    @property
    def runtimes(self) -> Mapping[str, Any]: ...
    @property
    def last_evaluation_wall(self) -> float | None: ...


class SignerView(Protocol):
    """The signing key's funds as the actions package keeps them (:class:`watchdog.actions.preflight.SignerStatus`),
    refreshed at start and on every heartbeat; read here at scrape time."""

    @property
    def balance_wei(self) -> int: ...
    @property
    def actions_affordable(self) -> int: ...


class QuorumView(Protocol):
    """The k-of-n watch of ``watchdog serve`` (:class:`watchdog.actions.quorum.QuorumWatch`), read at scrape time."""

    @property
    def pending(self) -> list[Any]: ...
    @property
    def votes_received(self) -> Mapping[str, int]: ...
    @property
    def disagreements(self) -> int: ...
    @property
    def overturned(self) -> Mapping[str, int]: ...


class StoreView(Protocol):
    """What the store collector reads (:class:`watchdog.store.store.Store` has it)."""

    def query(self, sql: str, params: Any = ...) -> list[Any]: ...


OPEN_ACTION_STATUSES = ("intent", "held", "signed", "sent", "mined")
"""Action statuses still in the outbox (watchdog.actions.outbox.OPEN_STATES): they count in its depth."""
WAITING_ON_PURPOSE = ("held",)
"""Open statuses that wait by design (the veto window): never "stuck"."""
WAITING_ON_CHAIN = ("mined",)
"""Open statuses that only wait for confirmations: their own gauge, held to a longer deadline."""


class Metrics:
    """The counters of one watchdog process, registered on their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records_read = Counter(
            "watchdog_records_read_total", "Lines read from sources, valid or not.", ["source"], registry=r)
        self.records_accepted = Counter(
            "watchdog_records_accepted_total", "Valid records accepted, by model and kind.",
            ["model", "kind"], registry=r)
        self.records_quarantined = Counter(
            "watchdog_records_quarantined_total", "Records sent to quarantine, by reason code.",
            ["reason"], registry=r)
        for reason in REASON_CODES:  # every series exists at 0: increase() sees the first one
            self.records_quarantined.labels(reason)
        self.labels_unmatched = Counter(
            "watchdog_labels_unmatched_total", "Late labels whose prediction was not found in the join window.",
            ["model"], registry=r)
        self.processing_errors = Counter(
            "watchdog_processing_errors_total", "Failures while feeding detectors or evaluating rules (the batch is "
            "dropped, the stream goes on), by stage.", ["stage"], registry=r)
        for stage in ("detector_update", "evaluation", "table"):  # exported at 0 before the first
            self.processing_errors.labels(stage)
        self.evaluations = Counter(
            "watchdog_evaluations_total", "Rule evaluations, by model.", ["model"], registry=r)
        self.rule_transitions = Counter(
            "watchdog_rule_transitions_total", "Rules that started firing or resolved.",
            ["model", "rule", "tier", "transition"], registry=r)
        self.actions = Counter(
            "watchdog_actions_total", "Actions attempted, by kind and outcome.",
            ["model", "rule", "action", "outcome"], registry=r)
        self.tx_latency = Histogram(
            "watchdog_transaction_latency_seconds",
            "From an action's intent to its receipt (mined), by action; a veto window's hold is included.",
            ["action"], buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300), registry=r)
        for action in ("pause", "rollback"):  # exported (empty) before the first transaction, for dashboards
            self.tx_latency.labels(action)
        self.rpc_errors = Counter(
            "watchdog_rpc_errors_total", "JSON-RPC calls that failed, by endpoint (a configured name, never a URL)"
            " and kind (connection, timeout, http_status, bad_json, rpc_error).",
            ["endpoint", "kind"], registry=r)
        self.alert_notifications = Counter(
            "watchdog_alert_notifications_total",
            "Alert deliveries to Alertmanager or a webhook, by receiver and outcome (sent, failed, dropped).",
            ["receiver", "outcome"], registry=r)
        self.alert_delivery_attempts = Counter(
            "watchdog_alert_delivery_attempts_total", "HTTP attempts to deliver alerts, retries included.",
            ["receiver", "outcome"], registry=r)
        self.grafana_annotations = Counter(
            "watchdog_grafana_annotations_total", "Grafana annotations posted for actions, by outcome.",
            ["outcome"], registry=r)
        self.policy_reloads = Counter(
            "watchdog_policy_reloads_total", "Policy reloads on SIGHUP, by outcome (success, failure, unchanged).",
            ["outcome"], registry=r)
        self.http_connections_closed = Counter(
            "watchdog_http_connections_closed_total", "HTTP connections the server closed or refused itself, by "
            "reason (header_timeout, body_timeout, evicted, refused).", ["reason"], registry=r)
        for reason in ("header_timeout", "body_timeout", "evicted", "refused"):  # http_limits.CLOSE_REASONS
            self.http_connections_closed.labels(reason)
        self.http_accept_errors = Counter(
            "watchdog_http_accept_errors_total", "accept() calls on the HTTP socket that failed for want of "
            "descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).", registry=r)
        self.build = Info("watchdog_build", "The watchdog's own version.", registry=r)
        self.build.info({"version": __version__})

    def attach(self, engine: EngineView) -> None:
        # every model's accepted counters exist at 0 from the start: the stale-feed and labels-stopped rules
        # see the first record after a restart as an increase, and labels that never come as a 0
        for model in engine.policy.models:
            for kind in ("prediction", "label"):
                self.records_accepted.labels(model.id, kind)
        self.registry.register(EngineCollector(engine))

    def attach_signer(self, status: SignerView) -> None:
        """Export the signing key's balance and the pauses it still pays for, read at scrape time."""
        self.registry.register(SignerCollector(status))

    def attach_quorum(self, watch: QuorumView) -> None:
        """Export the pending k-of-n quorums and the votes seen on-chain, read from the watch at scrape time."""
        self.registry.register(QuorumCollector(watch))

    def attach_store(self, store: StoreView, engine: EngineView | None = None) -> None:
        """Export the outbox depth, open incidents and pauses, read from the store at scrape time."""
        self.registry.register(StoreCollector(store, engine))

    def attach_alert_queue(self, undelivered: Callable[[], Mapping[str, int]]) -> None:
        """Export ``watchdog_alerts_undelivered{receiver}``: ``undelivered()`` (receiver -> alerts held), read at
        scrape time (:class:`watchdog.observe.alerting.AlertQueue` has it)."""
        self.registry.register(AlertQueueCollector(undelivered))


class EngineCollector(Collector):
    """Detector statistics, thresholds, rule states and the policy hash, read at scrape time."""

    def __init__(self, engine: EngineView):
        self.engine = engine

    def describe(self) -> list[Any]:  # no describe: the label sets depend on the policy
        return []

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        stat = GaugeMetricFamily("watchdog_detector_statistic", "A detector's current statistic.",
                                 labels=["model", "detector", "kind", "feature", "statistic"])
        thr = GaugeMetricFamily("watchdog_rule_threshold",
                                "The level a rule holds each of its comparisons to: a compound rule's corrected "
                                "(Bonferroni, Benjamini-Hochberg) threshold, as the evaluator applies it.",
                                labels=["model", "rule", "detector", "statistic"])
        fired = GaugeMetricFamily("watchdog_detector_drift_detected", "1 when a detector's own test fires.",
                                  labels=["model", "detector", "kind", "feature"])
        win = GaugeMetricFamily("watchdog_detector_window_samples", "Values in a detector's window.",
                                labels=["model", "detector", "kind", "feature"])
        state = GaugeMetricFamily("watchdog_rule_state", "1 for the state a rule is in (inactive, pending, firing).",
                                  labels=["model", "rule", "tier", "state"])
        ready = GaugeMetricFamily("watchdog_model_reference_ready", "1 once a model's reference is complete.",
                                  labels=["model"])
        backlog = GaugeMetricFamily("watchdog_label_join_backlog", "Predictions waiting for their label.",
                                    labels=["model"])
        last = GaugeMetricFamily("watchdog_last_evaluation_timestamp_seconds",
                                 "Wall-clock time of the last rule evaluation.", labels=[])
        policy = InfoMetricFamily("watchdog_policy", "The policy in force.", labels=["policy", "hash"])
        version = GaugeMetricFamily("watchdog_model_version_info",
                                    "The model version of the latest prediction (value is always 1).",
                                    labels=["model", "version"])
        for rt in e.runtimes.values():
            m = rt.model_id
            ready.add_metric([m], 1.0 if rt.ready else 0.0)
            if rt.versions:
                version.add_metric([m, rt.versions[-1]], 1.0)
            backlog.add_metric([m], float(rt.awaiting_labels()))
            for name, det in rt.detectors.items():
                spec = rt.specs[name]
                feature = spec.feature or "prediction"
                for s in det.statistics:
                    v = det.read(s)
                    if not math.isnan(v):
                        stat.add_metric([m, name, spec.kind, feature, s], float(v))
                fired.add_metric([m, name, spec.kind, feature], 1.0 if det.drift_detected else 0.0)
                win.add_metric([m, name, spec.kind, feature], float(det.n))
        for rule in e.policy.rules:
            for t in rules.effective_thresholds(rule):  # every comparison, at its corrected level
                thr.add_metric([rule.model, rule.name, t.leaf.detector, t.leaf.statistic], float(t.threshold))
            current = e.evaluator.state(rule.name).state
            for s in ("inactive", "pending", "firing"):
                state.add_metric([rule.model, rule.name, rule.labels.severity, s], 1.0 if s == current else 0.0)
        if e.last_evaluation_wall is not None:
            last.add_metric([], e.last_evaluation_wall)
        policy.add_metric([e.policy.name, e.policy.hash], {})
        yield from (stat, thr, fired, win, state, ready, backlog, last, policy, version)


class StoreCollector(Collector):
    """The outbox, open incidents and pauses as the store has them, read at scrape time.

    A failing read (a store being migrated, a closed connection at shutdown) yields nothing rather than
    failing the whole scrape: the missing series is what an alert on absence notices.
    """

    def __init__(self, store: StoreView, engine: EngineView | None = None):
        self.store = store
        self.models = [m.id for m in engine.policy.models] if engine is not None else []

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            by_status = self.store.query("SELECT status, COUNT(*) AS n, MIN(updated_at) AS oldest"
                                         " FROM actions GROUP BY status")
            open_rows = self.store.query("SELECT model, COUNT(*) AS n FROM incidents WHERE state = ?"
                                         " GROUP BY model", ("open",))
            # k-of-n: our vote that did not pause itself counts once the quorum job saw the pause it helped make
            paused_rows = self.store.query(
                "SELECT DISTINCT i.model AS model FROM actions a JOIN incidents i ON i.id = a.incident_id"
                " LEFT JOIN outbox o ON o.action_id = a.id WHERE a.kind = ? AND (a.status IN (?, ?)"
                " OR (a.status = ? AND o.quorum_note LIKE ?))", ("pause", "mined", "confirmed", "voted", "paused%"))
        except Exception:
            return
        statuses = GaugeMetricFamily("watchdog_outbox_actions", "Actions in the store, by status.",
                                     labels=["status"])
        depth = GaugeMetricFamily("watchdog_outbox_depth",
                                  "Actions still open (intent, held, signed, sent, mined): what the outbox owes.")
        oldest = GaugeMetricFamily("watchdog_outbox_oldest_progress_timestamp_seconds",
                                   "When the least recently advanced open action not yet mined (intent, signed, "
                                   "sent) last changed state; absent when there is none.")
        unconfirmed = GaugeMetricFamily("watchdog_outbox_oldest_unconfirmed_timestamp_seconds",
                                        "When the longest-waiting mined action still short of its confirmations "
                                        "was mined; absent when there is none.")
        pending, first, mined = 0, None, None
        for row in by_status:
            statuses.add_metric([row["status"]], float(row["n"]))
            if row["status"] in OPEN_ACTION_STATUSES:
                pending += int(row["n"])
                if row["status"] in WAITING_ON_CHAIN:
                    mined = row["oldest"] if mined is None else min(mined, row["oldest"])
                elif row["status"] not in WAITING_ON_PURPOSE:
                    first = row["oldest"] if first is None else min(first, row["oldest"])
        depth.add_metric([], float(pending))
        if first is not None:
            oldest.add_metric([], float(first))
        if mined is not None:
            unconfirmed.add_metric([], float(mined))
        incidents = GaugeMetricFamily("watchdog_incidents_open", "Incidents still open, by model.",
                                      labels=["model"])
        counts = {m: 0 for m in self.models}
        counts.update({r["model"]: int(r["n"]) for r in open_rows})
        for m, n in sorted(counts.items()):
            incidents.add_metric([m], float(n))
        paused = GaugeMetricFamily("watchdog_model_paused",
                                   "1 when the watchdog's pause of the model was mined, or its k-of-n vote's incident "
                                   "paused (the chain is the authority).",
                                   labels=["model"])
        hit = {r["model"] for r in paused_rows}
        for m in sorted(set(counts) | hit):
            paused.add_metric([m], 1.0 if m in hit else 0.0)
        yield from (statuses, depth, oldest, unconfirmed, incidents, paused)


class AlertQueueCollector(Collector):
    """The alerts held for each receiver until it accepts them (0 when all were delivered)."""

    def __init__(self, undelivered: Callable[[], Mapping[str, int]]):
        self.undelivered = undelivered

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("watchdog_alerts_undelivered",
                              "Alerts kept until their receiver accepts them (journaled in the state directory).",
                              labels=["receiver"])
        for receiver, n in sorted(self.undelivered().items()):
            g.add_metric([receiver], float(n))
        yield g


class SignerCollector(Collector):
    """``watchdog_signer_balance_wei`` and ``watchdog_signer_actions_affordable`` from a :class:`SignerView`."""

    def __init__(self, status: SignerView):
        self.status = status

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("watchdog_signer_balance_wei", "The signing key's balance, in wei.",
                                value=float(self.status.balance_wei))
        yield GaugeMetricFamily("watchdog_signer_actions_affordable",
                                "Pauses the signing key's balance pays for at the fee of its last refresh.",
                                value=float(self.status.actions_affordable))


class QuorumCollector(Collector):
    """``watchdog_quorum_pending_incidents``, ``watchdog_quorum_votes_received_total{origin}`` (own, others) and
    ``watchdog_quorum_disagreements_total`` from a :class:`QuorumView`."""

    def __init__(self, watch: QuorumView):
        self.watch = watch

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("watchdog_quorum_pending_incidents",
                                "Incidents with k-of-n pause votes that count now and no pause yet.",
                                value=float(len(self.watch.pending)))
        votes = CounterMetricFamily("watchdog_quorum_votes_received_total",
                                    "Pause votes (PauseVoted events) seen on the monitor since the start, by origin "
                                    "(own: this watchdog's key, others: the other operators).", labels=["origin"])
        for origin in ("own", "others"):
            votes.add_metric([origin], float(self.watch.votes_received.get(origin, 0)))
        yield votes
        yield CounterMetricFamily("watchdog_quorum_disagreements_total",
                                  "EvidenceDisagreement events seen on the monitor since the start: operators "
                                  "that hashed different evidence for one incident.",
                                  value=float(self.watch.disagreements))
        overturned = GaugeMetricFamily("watchdog_operator_overturned_incidents",
                                       "Incidents of each watchdog operator that the council overturned (the "
                                       "monitor's overturnedIncidents), as seen in its events since the start.",
                                       labels=["operator"])
        for who, n in sorted(self.watch.overturned.items()):
            overturned.add_metric([who], float(n))
        yield overturned
