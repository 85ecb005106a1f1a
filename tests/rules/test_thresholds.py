"""One effective threshold per comparison: what the evaluator compares with is what the summary prints."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

import rules
from rules import (
    Evaluator,
    Signal,
    benjamini_hochberg,
    describe_condition,
    effective_thresholds,
    load_policy_text,
)

POLICY = """
version: 1
name: effective
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
      - name: Bonferroni
        model: m
        condition:
          correction: bonferroni
          any:
            - {detector: ks_a, statistic: p_value, op: "<", threshold: 1e-6, clear_threshold: 3e-6}
            - {detector: ks_b, statistic: p_value, op: "<", threshold: 1e-6}
            - {detector: ks_c, statistic: p_value, op: "<", threshold: 1e-6}
        labels: {severity: routine}
        annotations: {summary: "an input drifted"}
        actions: [alert]
      - name: FalseDiscovery
        model: m
        condition:
          correction: benjamini_hochberg
          k_of_n:
            k: 2
            of:
              - {detector: ks_a, statistic: p_value, op: "<", threshold: 0.05}
              - {detector: ks_b, statistic: p_value, op: "<", threshold: 0.05}
              - {detector: ks_c, statistic: p_value, op: "<", threshold: 0.05}
        labels: {severity: routine}
        annotations: {summary: "two inputs drifted"}
        actions: [alert]
      - name: Nested
        model: m
        condition:
          all:
            - {detector: ks_a, statistic: statistic, op: ">", threshold: 0.3}
            - correction: bonferroni
              any:
                - {detector: ks_b, statistic: p_value, op: "<", threshold: 0.01}
                - {detector: ks_c, statistic: p_value, op: "<", threshold: 0.01}
        labels: {severity: routine}
        annotations: {summary: "a moved and b or c drifted"}
        actions: [alert]
"""

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> rules.Policy:
    return load_policy_text(POLICY, "effective.yaml")


def test_bonferroni_divides_the_level_and_the_clear_level(policy: rules.Policy) -> None:
    levels = effective_thresholds(policy.rule("Bonferroni"))
    assert [t.leaf.detector for t in levels] == ["ks_a", "ks_b", "ks_c"]
    assert [t.threshold for t in levels] == [1e-6 / 3] * 3
    assert levels[0].hold_threshold == 3e-6 / 3 and levels[1].hold_threshold == 1e-6 / 3
    assert levels[1].description == "< 3.33333e-07 (1e-06 / 3, Bonferroni)"
    assert levels[0].description == "< 3.33333e-07 (1e-06 / 3, Bonferroni) (clears past 1e-06, 3e-06 / 3)"
    assert {(t.correction, t.m) for t in levels} == {("bonferroni", 3)}


def test_benjamini_hochberg_reports_its_rate_or_standalone_its_bonferroni_bound(policy: rules.Policy) -> None:
    rule = policy.rule("FalseDiscovery")
    assert {t.threshold for t in effective_thresholds(rule)} == {0.05}
    assert {t.threshold for t in effective_thresholds(rule, standalone=True)} == {0.05 / 3}
    assert effective_thresholds(rule)[0].description == "< 0.05 (false-discovery rate, Benjamini-Hochberg)"


def test_a_correction_applies_to_the_compound_that_names_it_only(policy: rules.Policy) -> None:
    levels = effective_thresholds(policy.rule("Nested"))
    assert [(t.leaf.detector, t.threshold, t.correction, t.m) for t in levels] == [
        ("ks_a", 0.3, "none", 1),
        ("ks_b", 0.01 / 2, "bonferroni", 2),
        ("ks_c", 0.01 / 2, "bonferroni", 2),
    ]
    assert describe_condition(policy.rule("Nested")) == (
        "ks_a.statistic > 0.3 and (ks_b.p_value < 0.005 (0.01 / 2, Bonferroni) or "
        "ks_c.p_value < 0.005 (0.01 / 2, Bonferroni))"
    )


def test_without_a_correction_the_description_is_the_condition_as_written() -> None:
    policy = rules.load_policy(rules.EXAMPLES_DIR / "lending.yaml")
    for rule in policy.rules:
        assert describe_condition(rule) == rule.condition.describe()
        written = [leaf.threshold for leaf in rule.condition.leaves]
        assert [t.threshold for t in effective_thresholds(rule)] == written


def test_check_summary_shows_the_corrected_threshold(policy: rules.Policy) -> None:
    lines = rules.format_summary(policy).splitlines()
    (line,) = [ln for ln in lines if ln.strip().startswith("- Bonferroni ")]
    assert "ks_b.p_value < 3.33333e-07 (1e-06 / 3, Bonferroni)" in line
    assert "< 1e-06 " not in line and "< 1e-06," not in line


def test_watchdog_check_prints_the_corrected_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from watchdog.cli import main

    path = tmp_path / "effective.yaml"
    path.write_text(POLICY)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ks_a.p_value < 3.33333e-07 (1e-06 / 3, Bonferroni)" in out
    assert "ks_a.p_value < 0.05 (false-discovery rate, Benjamini-Hochberg)" in out


def test_the_incident_carries_the_threshold_the_summary_prints(policy: rules.Policy) -> None:
    """Differential: the evaluator reports exactly `effective_thresholds`, with data or without."""
    levels = {t.leaf.detector: t for t in effective_thresholds(policy.rule("Bonferroni"))}
    signals = {
        "ks_a": Signal({"statistic": 0.5, "p_value": 1e-7}, n=50),
        "ks_b": Signal({"statistic": 0.5, "p_value": 0.5}, n=50),
        # ks_c: no data
    }
    (fire,) = [d for d in Evaluator(policy).evaluate("m", signals, NOW, 1) if d.rule == "Bonferroni"]
    assert fire.threshold == levels["ks_a"].threshold == 1e-6 / 3
    assert fire.clear_threshold == levels["ks_a"].hold_threshold
    for result in fire.conditions:
        assert result.threshold == levels[result.detector].threshold
    assert f"{fire.threshold:g}" in rules.format_summary(policy)


@pytest.mark.parametrize("seed", range(20))
def test_benjamini_hochberg_is_the_step_up_procedure(seed: int) -> None:
    """Against the textbook definition on random p-values: reject p(1..k), k largest with p(k) <= k q / m."""
    rng = random.Random(seed)
    m = rng.randint(1, 8)
    p = [rng.choice([rng.random(), rng.random() / 50]) for _ in range(rng.randint(0, m))]
    q = rng.choice([0.01, 0.05, 0.2])
    ranked = sorted(p)
    k = max((i for i in range(1, len(p) + 1) if ranked[i - 1] <= i * q / m), default=0)
    expected = tuple(x <= ranked[k - 1] if k else False for x in p)
    assert benjamini_hochberg(p, q, m) == expected


def test_benjamini_hochberg_needs_m_to_count_every_p_value() -> None:
    with pytest.raises(ValueError, match="m must count at least the 2 p-values"):
        benjamini_hochberg([0.1, 0.2], 0.05, 1)
