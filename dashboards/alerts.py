"""Prometheus alerting rules for a policy's conditions and for the watchdog itself, with their tests.

Paging must not depend on the watchdog process staying alive: Prometheus evaluates the same conditions
on the exported statistics (``watchdog_detector_statistic`` against the policy's threshold, gated by
``min_samples`` on ``watchdog_detector_window_samples``), and pages when the watchdog is down, its feed
is stale, it stopped evaluating, its outbox is stuck, or an action or an alert delivery failed.

The watchdog's own ``for`` counts evaluations (every ``interval_records`` records); Prometheus' ``for``
is a duration, chosen with :class:`AlertOptions`.

:func:`rule_tests` writes ``promtool test rules`` cases for the generated rules: for every policy rule
one series on the firing side of its threshold and one on the safe side, and one case per self rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

import rules

__all__ = ["SELF_ALERTS", "AlertOptions", "alert_rules", "dump", "rule_tests"]

SELF_ALERTS = (
    "WatchdogDown",
    "WatchdogAbsent",
    "WatchdogStaleFeed",
    "WatchdogNoEvaluation",
    "WatchdogOutboxStuck",
    "WatchdogActionFailed",
    "WatchdogAlertDeliveryFailing",
    "WatchdogSignerLow",
)

_DURATION = re.compile(r"^(\d+)(s|m|h)$")


def _minutes(text: str, name: str) -> float:
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{name} must be a duration like 30s, 5m or 1h, got {text!r}")
    return int(m.group(1)) * {"s": 1 / 60, "m": 1, "h": 60}[m.group(2)]


@dataclass(frozen=True)
class AlertOptions:
    """Durations and the scrape job of the generated rules (Prometheus durations: 30s, 5m, 1h)."""

    job: str = "watchdog"
    rule_for: str = "2m"
    """How long a policy condition must hold in Prometheus before it pages."""
    down_for: str = "1m"
    no_evaluation: str = "10m"
    """Page when the watchdog evaluated no rule for this long."""
    stale_feed: str = "10m"
    """Page when the watchdog read no record for this long."""
    outbox_stuck: str = "5m"
    """Page when an action stayed unsent or unmined (intent, signed, sent) for this long."""
    unconfirmed: str = "30m"
    """Page when a mined action is still short of its confirmations this long after it was mined (before
    that it only waits for blocks, which is no reason to page)."""
    failure_window: str = "15m"
    """How far back a failed action or alert delivery keeps its alert firing."""
    labels_stopped: str = "2h"
    """Page when a model with a performance detector (it joins labels) accepted predictions but no label for
    this long (``WatchdogLabelsStopped``)."""
    min_signer_actions: int = 3
    """Page when the signing key's balance pays for fewer pauses than this (``watchdog_signer_actions_affordable``)."""

    def __post_init__(self) -> None:
        for name in ("rule_for", "down_for", "no_evaluation", "stale_feed", "outbox_stuck", "unconfirmed",
                     "failure_window", "labels_stopped"):
            _minutes(getattr(self, name), name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_:.-]*", self.job):
            raise ValueError(
                f"job must be a Prometheus job name (letters, digits, '_', '-', '.'), got {self.job!r}"
            )


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sel(**labels: str) -> str:
    return "{" + ",".join(f"{k}={_q(v)}" for k, v in labels.items()) + "}"


def _seconds(text: str) -> int:
    return round(_minutes(text, "duration") * 60)


def _policy_rules(policy: rules.Policy) -> list[tuple[str, Any]]:
    return [(g.name, r) for g in policy.groups for r in g.rules]


def _levels(rule: rules.Rule) -> dict[int, rules.EffectiveThreshold]:
    """Each comparison's level for Prometheus, by ``id`` of the comparison: its effective threshold,
    standalone (Benjamini-Hochberg, which Prometheus cannot rank, by its Bonferroni bound: it then fires no
    more often than the watchdog)."""
    return {id(t.leaf): t for t in rules.effective_thresholds(rule, standalone=True)}


def _compound_expr(
    cond: rules.AllOf | rules.AnyOf | rules.KOfN, rule: rules.Rule, opts: AlertOptions, policy: rules.Policy
) -> str:
    """A compound condition as PromQL: each comparison is 0/1 per (job, instance, model), a node is true when
    at least k of its children are (all: k = n, any: k = 1); each comparison at its level from `_levels`."""
    children = cond.children
    m = len(children)
    levels = _levels(rule)
    parts = []
    for child in children:
        if isinstance(child, rules.Condition):
            level = levels[id(child)].threshold
            labels = _sel(job=opts.job, model=rule.model, detector=child.detector, statistic=child.statistic)
            leaf = f"(watchdog_detector_statistic{labels} {child.op} bool {level!r})"
            n = policy.min_samples_of(rule, child)
            if n > 1:
                win = "watchdog_detector_window_samples" + _sel(
                    job=opts.job, model=rule.model, detector=child.detector
                )
                leaf = f"({leaf} * on (job, instance, model, detector) ({win} >= bool {int(n)}))"
            parts.append(f"max by (job, instance, model) {leaf}")
        else:
            parts.append(f"({_compound_expr(child, rule, opts, policy)})")
    if isinstance(cond, rules.AllOf):
        need = m
    elif isinstance(cond, rules.AnyOf):
        need = 1
    else:
        need = cond.k_of_n.k
    return f"({' + '.join(parts)}) >= bool {need}"


def _staleness_max_age(policy: rules.Policy, rule: rules.Rule) -> float | None:
    """The ``max_age`` (seconds) of a single-comparison rule on a staleness detector, else None."""
    leaves = rule.condition.leaves
    if len(leaves) != 1:
        return None
    spec = policy.model(rule.model).detector(leaves[0].detector)
    if spec.kind != "staleness":
        return None
    return float(spec.params.get("max_age", rules.KINDS["staleness"].params["max_age"].default or 900.0))


def _accepting(opts: AlertOptions, model: str, seconds: float) -> str:
    """PromQL: > 0 for a watchdog that accepted records of ``model`` in the last ``seconds``."""
    sel = _sel(job=opts.job, model=model)
    return (f"(sum by (job, instance, model) (increase(watchdog_records_accepted_total{sel}[{max(int(seconds), 60)}s]))"
            " > 0)")


def policy_rule(rule: rules.Rule, opts: AlertOptions, policy: rules.Policy) -> dict[str, Any]:
    c = rule.condition
    if not isinstance(c, rules.Condition) and len(c.leaves) > 1:
        expr = _compound_expr(c, rule, opts, policy) + " == 1"
    else:
        # the watchdog's own guard: the rule's min_samples, else the detector's window
        min_samples = policy.min_samples_of(rule)
        labels = _sel(job=opts.job, model=rule.model, detector=c.detector, statistic=c.statistic)
        expr = f"watchdog_detector_statistic{labels} {c.op} {_levels(rule)[id(c.leaves[0])].threshold!r}"
        if min_samples > 1:
            win = "watchdog_detector_window_samples" + _sel(
                job=opts.job, model=rule.model, detector=c.detector
            )
            expr = f"({expr}) and on (job, instance, model, detector) ({win} >= {int(min_samples)})"
        max_age = _staleness_max_age(policy, rule)
        if max_age is not None:
            # "stale" is the wall clock against the newest record's time: while a backlog of history is replayed
            # that is large at once though records are pouring in. Not stale while records are accepted.
            expr = f"({expr}) unless on (job, instance, model) {_accepting(opts, rule.model, max_age)}"
    annotations = {
        "summary": rule.annotations.summary,
        "description": (
            f"Prometheus sees {rules.describe_condition(rule, standalone=True)} for model "
            f"{rule.model} on {{{{ $labels.instance }}}}, independently of the watchdog's own rule."
        ),
    }
    if rule.annotations.runbook_url:
        annotations["runbook_url"] = rule.annotations.runbook_url
    return {
        "alert": rule.name,
        "expr": expr,
        "for": opts.rule_for,
        "labels": {
            "severity": rule.labels.severity,
            "tier": rule.labels.severity,
            "rule": rule.name,
            "source": "prometheus",
        },
        "annotations": annotations,
    }


def self_rules(opts: AlertOptions) -> list[dict[str, Any]]:
    j = _sel(job=opts.job)
    jm = f"job={_q(opts.job)}"

    def rule(
        name: str, expr: str, for_: str, severity: str, summary: str, description: str
    ) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": for_,
            "labels": {"severity": severity, "source": "prometheus"},
            "annotations": {"summary": summary, "description": description},
        }

    return [
        rule(
            "WatchdogDown",
            f"up{j} == 0",
            opts.down_for,
            "critical",
            "The watchdog is down",
            "Prometheus cannot scrape the watchdog at {{ $labels.instance }}.",
        ),
        rule(
            "WatchdogAbsent",
            f"absent(up{j})",
            opts.down_for,
            "critical",
            "No watchdog is being scraped",
            f"No target of job {opts.job} exists in Prometheus.",
        ),
        rule(
            "WatchdogStaleFeed",
            # records_accepted exists at 0 for every model from the start, so a restart followed by records is
            # an increase (records_read's series first appear at their first value: after a restart increase()
            # reads 0 there and a stale page would open with every restart); lines read that were all refused
            # still count as a feed that is alive
            f"sum by (job, instance) (increase(watchdog_records_accepted_total{{{jm}}}[{opts.stale_feed}])) == 0"
            f" unless on (job, instance) "
            f"sum by (job, instance) (increase(watchdog_records_read_total{{{jm}}}[{opts.stale_feed}])) > 0",
            "0m",
            "medium",
            "The watchdog's feed is stale",
            f"The watchdog at {{{{ $labels.instance }}}} read no record in {opts.stale_feed}.",
        ),
        rule(
            "WatchdogNoEvaluation",
            f"time() - watchdog_last_evaluation_timestamp_seconds{j} > {_seconds(opts.no_evaluation)}",
            "0m",
            "medium",
            "The watchdog stopped evaluating rules",
            f"The watchdog at {{{{ $labels.instance }}}} evaluated no rule in {opts.no_evaluation}.",
        ),
        rule(
            "WatchdogOutboxStuck",
            f"((watchdog_outbox_depth{j} > 0) and on (job, instance) "
            f"(time() - watchdog_outbox_oldest_progress_timestamp_seconds{j}"
            f" > {_seconds(opts.outbox_stuck)})) or on (job, instance) "
            f"(time() - watchdog_outbox_oldest_unconfirmed_timestamp_seconds{j} > {_seconds(opts.unconfirmed)})",
            "0m",
            "critical",
            "An on-chain action is stuck in the outbox",
            f"An action at {{{{ $labels.instance }}}} stayed unsent or unmined for more than {opts.outbox_stuck}, "
            f"or mined but short of its confirmations for more than {opts.unconfirmed}.",
        ),
        rule(
            "WatchdogActionFailed",
            "sum by (job, instance, model, rule, action) "
            f'(increase(watchdog_actions_total{{{jm},outcome="failed"}}[{opts.failure_window}])) > 0',
            "0m",
            "critical",
            "An on-chain action failed",
            "The {{ $labels.action }} of model {{ $labels.model }} (rule {{ $labels.rule }}) failed; "
            "see the watchdog's store for the error.",
        ),
        rule(
            "WatchdogAlertDeliveryFailing",
            f"sum by (job, instance, receiver) (increase(watchdog_alert_notifications_total{{{jm},"
            f'outcome=~"failed|failed_retrying|dropped"}}[{opts.failure_window}])) > 0',
            "0m",
            "medium",
            "The watchdog cannot deliver its alerts",
            "Deliveries to {{ $labels.receiver }} failed (kept and retried, or refused) or were dropped.",
        ),
        rule(
            "WatchdogSignerLow",
            f"watchdog_signer_actions_affordable{j} < {opts.min_signer_actions}",
            "0m",
            "critical",
            "The watchdog's key can barely pay for a pause",
            f"The signing key of {{{{ $labels.instance }}}} pays for fewer than {opts.min_signer_actions} pause(s) "
            "at the current fee: fund it before a pause is needed.",
        ),
    ]


def label_models(policy: rules.Policy) -> list[str]:
    """The models that expect labels: those with a performance detector (it reads prediction, label pairs)."""
    return [m.id for m in policy.models
            if any(d.kind in rules.KINDS and rules.KINDS[d.kind].is_performance for d in m.detectors)]


def label_rules(policy: rules.Policy, opts: AlertOptions) -> list[dict[str, Any]]:
    """``WatchdogLabelsStopped`` for each model that expects labels: predictions kept coming, labels did not."""
    out = []
    for model in label_models(policy):
        def accepted(kind: str, model: str = model) -> str:
            sel = _sel(job=opts.job, model=model, kind=kind)
            return (f"sum by (job, instance, model) "
                    f"(increase(watchdog_records_accepted_total{sel}[{opts.labels_stopped}]))")

        out.append({
            "alert": "WatchdogLabelsStopped",
            "expr": f"{accepted('label')} == 0 and on (job, instance, model) {accepted('prediction')} > 0",
            "for": "0m",
            "labels": {"severity": "medium", "source": "prometheus"},
            "annotations": {
                "summary": f"Labels stopped arriving for model {model}",
                "description": f"The watchdog at {{{{ $labels.instance }}}} accepted predictions of model {model} "
                               f"but no label in {opts.labels_stopped}: its performance detectors see nothing "
                               "new. Check the label feed (the outcome oracle or the labels' source).",
            },
        })
    return out


def alert_rules(policy: rules.Policy, opts: AlertOptions | None = None) -> dict[str, Any]:
    """The rule file: one group per policy group, and ``watchdog-self`` for the watchdog's own health."""
    opts = opts or AlertOptions()
    groups: dict[str, list[dict[str, Any]]] = {}
    for gname, r in _policy_rules(policy):
        groups.setdefault(gname, []).append(policy_rule(r, opts, policy))
    out = [{"name": f"watchdog-policy-{gname}", "rules": rs} for gname, rs in groups.items()]
    out.append({"name": "watchdog-self", "rules": self_rules(opts)})
    labels = label_rules(policy, opts)
    if labels:
        out.append({"name": "watchdog-labels", "rules": labels})
    return {"groups": out}


# promtool tests ---------------------------------------------------------------------------------------


def _firing_value(op: str, threshold: float) -> float:
    if op in ("<", "<="):
        return threshold / 10 if threshold > 0 else threshold - 1
    return threshold * 2 if threshold > 0 else threshold + 1


def _safe_value(op: str, threshold: float) -> float:
    if op in ("<", "<="):
        return threshold * 10 if threshold > 0 else threshold + 1
    return threshold / 2 if threshold > 0 else threshold - 1


def _series_name(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f"{k}={_q(v)}" for k, v in labels.items()) + "}"


def rule_tests(policy: rules.Policy, rule_file: str, opts: AlertOptions | None = None) -> dict[str, Any]:
    """``promtool test rules`` cases for :func:`alert_rules` of the same policy and options."""
    opts = opts or AlertOptions()
    inst = "watchdog:9464"
    base = {"job": opts.job, "instance": inst}
    rule_for = _minutes(opts.rule_for, "rule_for")
    at = int(rule_for) + 5
    tests: list[dict[str, Any]] = []
    for _, r in _policy_rules(policy):
        c = r.condition
        if len(c.leaves) > 1:
            continue  # compound rules: tested in tests/observability against promtool with their own series
        spec = policy.model(r.model).detector(c.detector)
        det_labels = {
            **base,
            "model": r.model,
            "detector": c.detector,
            "kind": spec.kind,
            "feature": spec.feature or "prediction",
        }
        stat_labels = {**det_labels, "statistic": c.statistic}
        level = _levels(r)[id(c.leaves[0])].threshold
        n = int(policy.min_samples_of(r))
        expected = policy_rule(r, opts, policy)
        exp_labels = {**stat_labels, **expected["labels"]}
        exp_annotations = {
            k: v.replace("{{ $labels.instance }}", inst) for k, v in expected["annotations"].items()
        }
        for value, alerts in (
            (
                _firing_value(c.op, level),
                [{"exp_labels": exp_labels, "exp_annotations": exp_annotations}],
            ),
            (_safe_value(c.op, level), []),
        ):
            tests.append(
                {
                    "name": f"{r.name} {'fires' if alerts else 'stays quiet'} at {value!r}",
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": _series_name("watchdog_detector_statistic", stat_labels),
                            "values": f"{value!r}x{at + 5}",
                        },
                        {
                            "series": _series_name("watchdog_detector_window_samples", det_labels),
                            "values": f"{n}x{at + 5}",
                        },
                    ],
                    "alert_rule_test": [{"eval_time": f"{at}m", "alertname": r.name, "exp_alerts": alerts}],
                }
            )
        if _staleness_max_age(policy, r) is not None:
            accepted = {**base, "model": r.model, "kind": "prediction"}
            tests.append(
                {
                    "name": f"{r.name} stays quiet while records are accepted (a backlog of history replayed)",
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": _series_name("watchdog_detector_statistic", stat_labels),
                            "values": f"{_firing_value(c.op, level)!r}x{at + 5}",
                        },
                        {
                            "series": _series_name("watchdog_detector_window_samples", det_labels),
                            "values": f"{n}x{at + 5}",
                        },
                        {
                            "series": _series_name("watchdog_records_accepted_total", accepted),
                            "values": f"0+500x{at + 5}",
                        },
                    ],
                    "alert_rule_test": [{"eval_time": f"{at}m", "alertname": r.name, "exp_alerts": []}],
                }
            )
        if n > 1:
            tests.append(
                {
                    "name": f"{r.name} waits for {n} samples",
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": _series_name("watchdog_detector_statistic", stat_labels),
                            "values": f"{_firing_value(c.op, level)!r}x{at + 5}",
                        },
                        {
                            "series": _series_name("watchdog_detector_window_samples", det_labels),
                            "values": f"{n - 1}x{at + 5}",
                        },
                    ],
                    "alert_rule_test": [{"eval_time": f"{at}m", "alertname": r.name, "exp_alerts": []}],
                }
            )
    tests.extend(_self_tests(opts, base, inst))
    tests.extend(_label_tests(policy, opts, base, inst))
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def _label_tests(policy: rules.Policy, opts: AlertOptions, base: dict[str, str], inst: str) -> list[dict[str, Any]]:
    window = int(_minutes(opts.labels_stopped, "labels_stopped"))
    horizon = 2 * window + 10
    by_model = {r["annotations"]["summary"]: r for r in label_rules(policy, opts)}
    tests = []
    for model in label_models(policy):
        rule = by_model[f"Labels stopped arriving for model {model}"]
        labels = {**base, "model": model}
        expected = {"exp_labels": {**labels, **rule["labels"]},
                    "exp_annotations": {k: v.replace("{{ $labels.instance }}", inst)
                                        for k, v in rule["annotations"].items()}}

        def series(kind: str, values: str, model: str = model) -> dict[str, str]:
            return {"series": _series_name("watchdog_records_accepted_total", {**base, "model": model, "kind": kind}),
                    "values": values}

        tests.append({
            "name": f"WatchdogLabelsStopped for {model}: fires when predictions come and labels do not",
            "interval": "1m",
            "input_series": [series("prediction", f"0+10x{horizon}"),
                             series("label", f"0+10x{window} {10 * window}x{horizon}")],
            "alert_rule_test": [
                {"eval_time": f"{window}m", "alertname": "WatchdogLabelsStopped", "exp_alerts": []},
                {"eval_time": f"{2 * window + 5}m", "alertname": "WatchdogLabelsStopped",
                 "exp_alerts": [expected]},
            ],
        })
        tests.append({
            "name": f"WatchdogLabelsStopped for {model}: quiet when predictions stopped too (the feed is stale)",
            "interval": "1m",
            "input_series": [series("prediction", f"0x{horizon}"), series("label", f"0x{horizon}")],
            "alert_rule_test": [
                {"eval_time": f"{2 * window + 5}m", "alertname": "WatchdogLabelsStopped", "exp_alerts": []},
            ],
        })
    return tests


def _self_tests(opts: AlertOptions, base: dict[str, str], inst: str) -> list[dict[str, Any]]:
    by_name = {r["alert"]: r for r in self_rules(opts)}

    def expect(name: str, labels: dict[str, str], **template: str) -> dict[str, Any]:
        ann = {}
        for k, text in by_name[name]["annotations"].items():
            text = text.replace("{{ $labels.instance }}", inst)
            for lk, lv in template.items():
                text = text.replace("{{ $labels." + lk + " }}", lv)
            ann[k] = text
        return {"exp_labels": {**labels, **by_name[name]["labels"]}, "exp_annotations": ann}

    down = int(_minutes(opts.down_for, "down_for"))
    stale = _minutes(opts.stale_feed, "stale_feed")
    no_eval = _minutes(opts.no_evaluation, "no_evaluation")
    stuck = _minutes(opts.outbox_stuck, "outbox_stuck")
    unconfirmed = _minutes(opts.unconfirmed, "unconfirmed")
    horizon = int(max(down, stale, no_eval, stuck, unconfirmed)) + 10
    cases: list[dict[str, Any]] = [
        {
            "name": "WatchdogDown fires when the scrape fails",
            "interval": "1m",
            "input_series": [{"series": _series_name("up", base), "values": f"0x{horizon}"}],
            "alert_rule_test": [
                {
                    "eval_time": f"{down + 1}m",
                    "alertname": "WatchdogDown",
                    "exp_alerts": [expect("WatchdogDown", base)],
                },
                {"eval_time": f"{down + 1}m", "alertname": "WatchdogAbsent", "exp_alerts": []},
            ],
        },
        {
            "name": "WatchdogDown stays quiet while the scrape works",
            "interval": "1m",
            "input_series": [{"series": _series_name("up", base), "values": f"1x{horizon}"}],
            "alert_rule_test": [{"eval_time": f"{down + 1}m", "alertname": "WatchdogDown", "exp_alerts": []}],
        },
        {
            "name": "WatchdogAbsent fires without any target",
            "interval": "1m",
            "input_series": [
                {"series": _series_name("up", {"job": "other", "instance": "x:1"}), "values": f"1x{horizon}"}
            ],
            "alert_rule_test": [
                {
                    "eval_time": f"{down + 1}m",
                    "alertname": "WatchdogAbsent",
                    "exp_alerts": [expect("WatchdogAbsent", {"job": opts.job})],
                }
            ],
        },
        {
            "name": "WatchdogStaleFeed fires when no record is read",
            "interval": "1m",
            "input_series": [
                {
                    "series": _series_name("watchdog_records_read_total", {**base, "source": "s"}),
                    "values": f"0+100x3 300x{horizon}",
                },
                {
                    "series": _series_name("watchdog_records_accepted_total",
                                           {**base, "model": "m", "kind": "prediction"}),
                    "values": f"0+100x3 300x{horizon}",
                },
            ],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "WatchdogStaleFeed", "exp_alerts": []},
                {
                    "eval_time": f"{int(stale) + 5}m",
                    "alertname": "WatchdogStaleFeed",
                    "exp_alerts": [expect("WatchdogStaleFeed", base)],
                },
            ],
        },
        {
            # after a restart the accepted counters start at 0 and records_read's series at its first value: a
            # record read soon after the restart is an increase, not a stale feed
            "name": "WatchdogStaleFeed stays quiet when records come after a restart",
            "interval": "1m",
            "input_series": [
                {
                    "series": _series_name("watchdog_records_read_total", {**base, "source": "s"}),
                    "values": f"0+100x3 _x{int(stale) + 5} 1x{horizon}",  # down, then one record read
                },
                {
                    "series": _series_name("watchdog_records_accepted_total",
                                           {**base, "model": "m", "kind": "prediction"}),
                    "values": f"0+100x3 _x{int(stale) + 4} 0 1x{horizon}",  # exported at 0 from the start
                },
            ],
            "alert_rule_test": [
                {"eval_time": f"{int(stale) + 11}m", "alertname": "WatchdogStaleFeed", "exp_alerts": []},
                {"eval_time": f"{2 * int(stale) + 12}m", "alertname": "WatchdogStaleFeed",
                 "exp_alerts": [expect("WatchdogStaleFeed", base)]},  # and stale again once records stop
            ],
        },
        {
            "name": "WatchdogNoEvaluation fires when evaluations stop",
            "interval": "1m",
            "input_series": [
                {
                    "series": _series_name("watchdog_last_evaluation_timestamp_seconds", base),
                    "values": f"0+60x2 120x{horizon}",
                }
            ],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "WatchdogNoEvaluation", "exp_alerts": []},
                {
                    "eval_time": f"{int(no_eval) + 4}m",
                    "alertname": "WatchdogNoEvaluation",
                    "exp_alerts": [expect("WatchdogNoEvaluation", base)],
                },
            ],
        },
        {
            "name": "WatchdogSignerLow fires when the key pays for too few pauses",
            "interval": "1m",
            "input_series": [{"series": _series_name("watchdog_signer_actions_affordable", base),
                              "values": f"{opts.min_signer_actions + 5}x3 {max(opts.min_signer_actions - 1, 0)}x3"}],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "WatchdogSignerLow", "exp_alerts": []},
                {"eval_time": "5m", "alertname": "WatchdogSignerLow",
                 "exp_alerts": [expect("WatchdogSignerLow", base)]},
            ],
        },
        {
            "name": "WatchdogOutboxStuck fires on an old unfinished action",
            "interval": "1m",
            "input_series": [
                {"series": _series_name("watchdog_outbox_depth", base), "values": f"1x{horizon}"},
                {
                    "series": _series_name("watchdog_outbox_oldest_progress_timestamp_seconds", base),
                    "values": f"0x{horizon}",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": f"{max(int(stuck) - 1, 0)}m",
                    "alertname": "WatchdogOutboxStuck",
                    "exp_alerts": [],
                },
                {
                    "eval_time": f"{int(stuck) + 2}m",
                    "alertname": "WatchdogOutboxStuck",
                    "exp_alerts": [expect("WatchdogOutboxStuck", base)],
                },
            ],
        },
        {
            "name": "WatchdogOutboxStuck stays quiet while a mined action waits for its confirmations",
            "interval": "1m",
            "input_series": [
                {"series": _series_name("watchdog_outbox_depth", base), "values": f"1x{horizon}"},
                {
                    "series": _series_name("watchdog_outbox_oldest_unconfirmed_timestamp_seconds", base),
                    "values": f"0x{horizon}",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": f"{int(max(stuck, 1)) + 2}m",
                    "alertname": "WatchdogOutboxStuck",
                    "exp_alerts": [] if unconfirmed > stuck + 2 else [expect("WatchdogOutboxStuck", base)],
                },
                {
                    "eval_time": f"{int(unconfirmed) + 2}m",
                    "alertname": "WatchdogOutboxStuck",
                    "exp_alerts": [expect("WatchdogOutboxStuck", base)],
                },
            ],
        },
        {
            "name": "WatchdogActionFailed fires after a failed action",
            "interval": "1m",
            "input_series": [
                {
                    "series": _series_name(
                        "watchdog_actions_total",
                        {**base, "model": "m", "rule": "R", "action": "pause", "outcome": "failed"},
                    ),
                    "values": f"0x3 1x{horizon}",
                }
            ],
            "alert_rule_test": [
                {"eval_time": "2m", "alertname": "WatchdogActionFailed", "exp_alerts": []},
                {
                    "eval_time": "5m",
                    "alertname": "WatchdogActionFailed",
                    "exp_alerts": [
                        expect(
                            "WatchdogActionFailed",
                            {**base, "model": "m", "rule": "R", "action": "pause"},
                            action="pause",
                            model="m",
                            rule="R",
                        )
                    ],
                },
            ],
        },
        {
            "name": "WatchdogAlertDeliveryFailing fires after a failed delivery",
            "interval": "1m",
            "input_series": [
                {
                    "series": _series_name(
                        "watchdog_alert_notifications_total",
                        {**base, "receiver": "alertmanager", "outcome": "failed"},
                    ),
                    "values": f"0x3 2x{horizon}",
                }
            ],
            "alert_rule_test": [
                {
                    "eval_time": "5m",
                    "alertname": "WatchdogAlertDeliveryFailing",
                    "exp_alerts": [
                        expect(
                            "WatchdogAlertDeliveryFailing",
                            {**base, "receiver": "alertmanager"},
                            receiver="alertmanager",
                        )
                    ],
                }
            ],
        },
    ]
    return cases


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=100_000, allow_unicode=True)
