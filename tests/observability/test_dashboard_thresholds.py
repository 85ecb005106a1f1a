"""A compound rule's panels draw one threshold per comparison, at the level the watchdog compares with."""

from __future__ import annotations

import dashboards
import rules

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
      - name: Single
        model: m
        condition: {detector: ks_b, op: ">", threshold: 0.4}
        labels: {severity: routine}
        annotations: {summary: "b drifted"}
        actions: [alert]
"""


def _panels_of(rule: str) -> dict[tuple[str, str], dict]:
    """The rule's panels by the (detector, statistic) their statistic query selects."""
    policy = rules.load_policy_text(POLICY, "thresholds.yaml")
    board = dashboards.build_dashboards(policy)[dashboards.model_uid(policy, "m")]
    out = {}
    for panel in dashboards._walk_panels(board["panels"]):
        if not panel.get("title", "").startswith(rule + " "):
            continue
        (stat,) = [t["expr"] for t in panel["targets"] if t["expr"].startswith("watchdog_detector_statistic{")]
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
