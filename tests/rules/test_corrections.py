"""Multiple-testing corrections where a rule combines several features' p-values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rules import Evaluator, PolicyError, Signal, load_policy_text

POLICY = """
version: 1
name: corrections
models:
  - id: m
    module: m
    prediction: {type: numeric}
    features:
      - {name: a, type: numeric}
      - {name: b, type: numeric}
      - {name: c, type: numeric}
      - {name: d, type: numeric}
    reference: {first_n: 100}
    detectors:
      - {name: ks_a, kind: ks, feature: a, window: 50}
      - {name: ks_b, kind: ks, feature: b, window: 50}
      - {name: ks_c, kind: ks, feature: c, window: 50}
      - {name: ks_d, kind: ks, feature: d, window: 50}
groups:
  - name: g
    rules:
      - name: AnyFeature
        model: m
        condition:
          correction: CORRECTION
          any:
            - {detector: ks_a, statistic: p_value, op: "<", threshold: LEVEL}
            - {detector: ks_b, statistic: p_value, op: "<", threshold: LEVEL}
            - {detector: ks_c, statistic: p_value, op: "<", threshold: LEVEL}
            - {detector: ks_d, statistic: p_value, op: "<", threshold: LEVEL}
        labels: {severity: routine}
        annotations: {summary: "a feature drifted"}
        actions: [alert]
      - name: ThreeFeatures
        model: m
        condition:
          correction: CORRECTION
          k_of_n:
            k: 3
            of:
              - {detector: ks_a, statistic: p_value, op: "<", threshold: LEVEL}
              - {detector: ks_b, statistic: p_value, op: "<", threshold: LEVEL}
              - {detector: ks_c, statistic: p_value, op: "<", threshold: LEVEL}
              - {detector: ks_d, statistic: p_value, op: "<", threshold: LEVEL}
        labels: {severity: routine}
        annotations: {summary: "three features drifted"}
        actions: [alert]
"""

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def fired(correction: str, level: float, p: list[float]) -> dict[str, float]:
    policy = load_policy_text(POLICY.replace("CORRECTION", correction).replace("LEVEL", str(level)), "c.yaml")
    signals = {
        f"ks_{x}": Signal(values={"statistic": 0.5, "p_value": v}, n=50)
        for x, v in zip("abcd", p, strict=True)
    }
    return {d.rule: d.threshold for d in Evaluator(policy).evaluate("m", signals, NOW, 1) if d.kind == "fire"}


def test_bonferroni_divides_the_level_by_the_number_of_features():
    assert set(fired("none", 0.01, [0.004, 0.5, 0.5, 0.5])) == {"AnyFeature"}
    assert fired("bonferroni", 0.01, [0.004, 0.5, 0.5, 0.5]) == {}
    got = fired("bonferroni", 0.01, [0.001, 0.5, 0.5, 0.5])
    assert set(got) == {"AnyFeature"} and got["AnyFeature"] == pytest.approx(0.0025)


def test_benjamini_hochberg_rejects_the_step_up_set():
    p = [0.01, 0.02, 0.03, 0.5]  # BH at 0.05: 0.01<=0.0125, 0.02<=0.025, 0.03<=0.0375, 0.5>0.05 -> 3 rejected
    assert set(fired("benjamini_hochberg", 0.05, p)) == {"AnyFeature", "ThreeFeatures"}
    assert set(fired("bonferroni", 0.05, p)) == {"AnyFeature"}  # only 0.01 <= 0.0125
    assert fired("benjamini_hochberg", 0.05, [0.02, 0.2, 0.3, 0.5]) == {}  # 0.02 > 0.0125 and nothing after


def test_no_data_is_not_a_rejection():
    text = POLICY.replace("CORRECTION", "benjamini_hochberg").replace("LEVEL", "0.05")
    policy = load_policy_text(text, "c.yaml")
    signals = {"ks_a": Signal(values={"statistic": 0.5, "p_value": 0.001}, n=50),
               "ks_b": Signal(values={"statistic": 0.5, "p_value": 0.001}, n=10)}  # under min_samples
    assert [d.rule for d in Evaluator(policy).evaluate("m", signals, NOW, 1)] == ["AnyFeature"]


def test_a_correction_needs_p_values_and_one_level():
    text = POLICY.replace("CORRECTION", "bonferroni").replace("LEVEL", "0.01")
    bad = text.replace('{detector: ks_b, statistic: p_value, op: "<", threshold: 0.01}',
                       '{detector: ks_b, statistic: statistic, op: ">", threshold: 0.3}', 1)
    with pytest.raises(PolicyError) as e:
        load_policy_text(bad, "c.yaml")
    assert any("applies to p-values" in i.problem and i.line == 24 for i in e.value.errors), e.value.errors
    text = POLICY.replace("CORRECTION", "benjamini_hochberg").replace("LEVEL", "0.05")
    bad = text.replace('{detector: ks_d, statistic: p_value, op: "<", threshold: 0.05}',
                       '{detector: ks_d, statistic: p_value, op: "<", threshold: 0.01}', 1)
    with pytest.raises(PolicyError, match="same threshold"):
        load_policy_text(bad, "c.yaml")


def test_without_a_budget_no_spending_ledger_grows():
    from importlib import resources

    from rules import load_policy

    policy = load_policy(resources.files("watchdog").joinpath("data", "demo_policy.yaml"))
    assert policy.budget_of("lending-risk") is None
    ev = Evaluator(policy)
    for i in range(200):  # fire and clear again and again: every firing of the pause rule acts
        p = 1e-12 if (i // 4) % 2 == 0 else 0.5
        ev.evaluate("lending-risk", {"ks_volatility": Signal(values={"statistic": 0.5, "p_value": p}, n=500)},
                    datetime.fromtimestamp(1_795_000_000 + 60 * i, tz=UTC), i)
    assert ev.state("VolatilityRegimeShift").state in ("firing", "inactive", "pending")
    assert not any(ev._spent.values())  # nothing to count against: nothing kept
