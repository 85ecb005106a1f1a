"""A compound rule's panels draw one threshold per comparison, at the level the watchdog compares with; the
Prometheus rule compares with, and describes, the same corrected level."""

from __future__ import annotations

from datetime import UTC, datetime

import dashboards
import rules
from dashboards import alerts

POLICY = """
version: 1
name: thresholds
models:
  - id: m
    module: m
    prediction: {type: numeric}
    features:
      - {name: a, type: numeric}
      - {name: b, type: numeric}
      - {name: c, type: numeric}
    reference: {first_n: 100}
    detectors:
      - {name: ks_a, kind: ks, feature: a, window: 50}
      - {name: ks_b, kind: ks, feature: b, window: 50}
      - {name: ks_c, kind: ks, feature: c, window: 50}
groups:
  - name: g
    rules:
      - name: Consensus
        model: m
        condition:
          k_of_n:
            k: 2
            of:
              - {detector: ks_a, statistic: p_value, op: "<", threshold: 0.01}
              - {detector: ks_b, statistic: p_value, op: "<", threshold: 0.02}
              - all:
                  - {detector: ks_c, statistic: statistic, op: ">", threshold: 0.2}
                  - {detector: ks_c, statistic: statistic, op: "<", threshold: 0.9}
        labels: {severity: routine}
        annotations: {summary: "inputs drifted together"}
        actions: [alert]
      - name: AnyCorrected
        model: m
        condition:
          correction: bonferroni
          any:
            - {detector: ks_a, statistic: p_value, op: "<", threshold: 0.03}
            - {detector: ks_b, statistic: p_value, op: "<", threshold: 0.03}
            - {detector: ks_c, statistic: p_value, op: "<", threshold: 0.03}
        labels: {severity: routine}
        annotations: {summary: "an input drifted"}
        actions: [alert]
      - name: AnyFalseDiscovery
        model: m
        condition:
          correction: benjamini_hochberg
          any:
            - {detector: ks_a, statistic: p_value, op: "<", threshold: 0.05}
            - {detector: ks_b, statistic: p_value, op: "<", threshold: 0.05}
            - {detector: ks_c, statistic: p_value, op: "<", threshold: 0.05}
        labels: {severity: routine}
        annotations: {summary: "inputs drifted"}
        actions: [alert]
      - name: Single
        model: m
        condition: {detector: ks_b, op: ">", threshold: 0.4}
        labels: {severity: routine}
        annotations: {summary: "b drifted"}
        actions: [alert]
"""


def _policy() -> rules.Policy:
    return rules.load_policy_text(POLICY, "thresholds.yaml")


def _panels_of(rule: str) -> dict[tuple[str, str], dict]:
    """The rule's panels by the (detector, statistic) their statistic query selects."""
    policy = _policy()
    board = dashboards.build_dashboards(policy)[dashboards.model_uid(policy, "m")]
    out = {}
    for panel in dashboards._walk_panels(board["panels"]):
        if not panel.get("title", "").startswith(rule + " "):
            continue
        exprs = [t["expr"] for t in panel["targets"]]
        (stat,) = [e for e in exprs if e.startswith("watchdog_detector_statistic{")]
        key = tuple(stat.split(f'{k}="')[1].split('"')[0] for k in ("detector", "statistic"))
        assert key not in out, f"two panels of {rule} show {key}"
        out[key] = panel
    return out


def _thresholds(panel: dict) -> list[tuple[float, str]]:
    return sorted((float(t["expr"].removeprefix("vector(").removesuffix(")")), t["legendFormat"])
                  for t in panel["targets"] if t["expr"].startswith("vector("))


def _log_scale(panel: dict) -> bool:
    return panel["fieldConfig"]["defaults"]["custom"].get("scaleDistribution", {}).get("type") == "log"


def test_k_of_n_draws_each_comparison_on_its_detectors_panel():
    panels = _panels_of("Consensus")
    assert set(panels) == {("ks_a", "p_value"), ("ks_b", "p_value"), ("ks_c", "statistic")}
    assert _thresholds(panels[("ks_a", "p_value")]) == [(0.01, "threshold < 0.01")]
    assert _thresholds(panels[("ks_b", "p_value")]) == [(0.02, "threshold < 0.02")]
    # two comparisons of the same statistic (inside the nested all): two lines on one panel
    assert _thresholds(panels[("ks_c", "statistic")]) == [(0.2, "threshold > 0.2"), (0.9, "threshold < 0.9")]
    for panel in panels.values():
        exprs = [t["expr"] for t in panel["targets"]]
        assert not any("watchdog_rule_threshold" in e for e in exprs)  # it holds the first comparison only
        assert 'watchdog_rule_state{model="m",rule="Consensus",state="firing"}' in exprs
        assert "of the rule's 4 comparisons" in panel["title"]
    assert _log_scale(panels[("ks_a", "p_value")]) and not _log_scale(panels[("ks_c", "statistic")])


def test_bonferroni_lines_are_the_corrected_levels():
    panels = _panels_of("AnyCorrected")
    assert set(panels) == {("ks_a", "p_value"), ("ks_b", "p_value"), ("ks_c", "p_value")}
    for panel in panels.values():
        ((level, legend),) = _thresholds(panel)
        assert level == 0.03 / 3 and legend == "threshold < 0.01 (0.03 / 3, Bonferroni)"


def test_a_single_comparison_keeps_the_threshold_in_force():
    (panel,) = _panels_of("Single").values()
    exprs = [t["expr"] for t in panel["targets"]]
    assert 'watchdog_rule_threshold{model="m",rule="Single"}' in exprs
    assert _thresholds(panel) == []


def test_panel_descriptions_state_the_corrected_levels():
    for panel in _panels_of("AnyCorrected").values():
        assert panel["description"] == (
            "an input drifted Fires when ks_a.p_value < 0.01 (0.03 / 3, Bonferroni) or "
            "ks_b.p_value < 0.01 (0.03 / 3, Bonferroni) or ks_c.p_value < 0.01 (0.03 / 3, Bonferroni)."
        )


def test_benjamini_hochberg_lines_are_the_false_discovery_rate():
    for panel in _panels_of("AnyFalseDiscovery").values():
        assert _thresholds(panel) == [(0.05, "threshold < 0.05 (false-discovery rate, Benjamini-Hochberg)")]


def test_every_line_is_the_level_the_evaluator_reports():
    """Differential: each drawn level is the threshold the evaluator puts in its decision for a comparison."""
    policy = _policy()
    signals = {d: rules.Signal({"statistic": 0.5, "p_value": 1e-9}, n=50) for d in ("ks_a", "ks_b", "ks_c")}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    decisions = {d.rule: d for d in rules.Evaluator(policy).evaluate("m", signals, now, 1)}
    for name in ("AnyCorrected", "AnyFalseDiscovery"):
        drawn = {key: level for key, panel in _panels_of(name).items() for level, _ in _thresholds(panel)}
        reported = {(c.detector, c.statistic): c.threshold for c in decisions[name].conditions}
        assert drawn == reported, name


def _alert(name: str) -> dict:
    policy = _policy()
    return alerts.policy_rule(policy.rule(name), alerts.AlertOptions(), policy)


def test_alert_rule_compares_with_and_describes_the_corrected_level():
    rule = _alert("AnyCorrected")
    assert rule["expr"].count(f"< bool {0.03 / 3!r})") == 3 and "0.03" not in rule["expr"]
    assert rule["annotations"]["description"].startswith(
        "Prometheus sees ks_a.p_value < 0.01 (0.03 / 3, Bonferroni) or "
        "ks_b.p_value < 0.01 (0.03 / 3, Bonferroni)"
    )


def test_alert_rule_holds_benjamini_hochberg_to_its_bonferroni_bound():
    rule = _alert("AnyFalseDiscovery")
    bound = 0.05 / 3
    assert rule["expr"].count(f"< bool {bound!r})") == 3
    assert f"ks_c.p_value < {bound:g} (0.05 / 3, Bonferroni bound of Benjamini-Hochberg)" in (
        rule["annotations"]["description"]
    )


def test_single_comparison_alert_is_unchanged():
    rule = _alert("Single")
    assert rule["expr"].startswith('(watchdog_detector_statistic{job="watchdog",model="m",detector="ks_b",'
                                   'statistic="statistic"} > 0.4) and on')
    assert rule["annotations"]["description"].startswith("Prometheus sees ks_b.statistic > 0.4 for model m")
