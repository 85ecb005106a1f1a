"""Every metric the watchdog exports, in one place.

Names follow Prometheus' own rules: one prefix (``watchdog_``), base units, ``_total`` only on
counters, labels of bounded cardinality (model, feature, detector, rule, tier, reason code, action,
outcome; never a request id or a transaction hash). Values that already live in detectors and rules
are read at scrape time by :class:`EngineCollector`, not pushed with ``.set()`` from the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from . import __version__

if TYPE_CHECKING:
    from .engine import Engine


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
        self.labels_unmatched = Counter(
            "watchdog_labels_unmatched_total", "Late labels whose prediction was not found in the join window.",
            ["model"], registry=r)
        self.evaluations = Counter(
            "watchdog_evaluations_total", "Rule evaluations, by model.", ["model"], registry=r)
        self.rule_transitions = Counter(
            "watchdog_rule_transitions_total", "Rules that started firing or resolved.",
            ["model", "rule", "tier", "transition"], registry=r)
        self.actions = Counter(
            "watchdog_actions_total", "Actions attempted, by kind and outcome.",
            ["model", "rule", "action", "outcome"], registry=r)
        self.build = Info("watchdog_build", "The watchdog's own version.", registry=r)
        self.build.info({"version": __version__})

    def attach(self, engine: Engine) -> None:
        self.registry.register(EngineCollector(engine))


class EngineCollector(Collector):
    """Detector statistics, thresholds, rule states and the policy hash, read at scrape time."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def describe(self) -> list:  # no describe: the label sets depend on the policy
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        e = self.engine
        stat = GaugeMetricFamily("watchdog_detector_statistic", "A detector's current statistic.",
                                 labels=["model", "detector", "kind", "feature", "statistic"])
        thr = GaugeMetricFamily("watchdog_rule_threshold", "The threshold a rule compares its statistic with.",
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
        policy = GaugeMetricFamily("watchdog_policy_info", "The policy in force (value is always 1).",
                                   labels=["policy", "hash"])
        for rt in e.runtimes.values():
            m = rt.model_id
            ready.add_metric([m], 1.0 if rt.ready else 0.0)
            backlog.add_metric([m], float(len(rt.awaiting_label)))
            for name, det in rt.detectors.items():
                spec = rt.specs[name]
                feature = spec.feature or "prediction"
                for s in det.statistics:
                    v = det.read(s)
                    if not math.isnan(v):
                        stat.add_metric([m, name, spec.kind, feature, s], float(v))
                fired.add_metric([m, name, spec.kind, feature], 1.0 if det.drift_detected else 0.0)
                win.add_metric([m, name, spec.kind, feature], float(det.n))
        for rule in e.policy_rules():
            c = rule.condition
            thr.add_metric([rule.model, rule.name, c.detector, c.statistic], float(c.threshold))
            current = e.evaluator.state(rule.name).state
            for s in ("inactive", "pending", "firing"):
                state.add_metric([rule.model, rule.name, rule.labels.severity, s], 1.0 if s == current else 0.0)
        if e.last_evaluation_wall is not None:
            last.add_metric([], e.last_evaluation_wall)
        policy.add_metric([e.policy.name, e.policy.hash], 1.0)
        yield from (stat, thr, fired, win, state, ready, backlog, last, policy)
