"""The shipped example policies: lending.yaml loads, bad.yaml shows many different mistakes at once."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

import rules
from rules import Evaluator, PolicyError, Signal, format_summary, load_policy

EXAMPLES = Path(rules.__file__).parent / "examples"


def test_lending_example_loads() -> None:
    policy = load_policy(EXAMPLES / "lending.yaml")
    assert policy.name == "lending-risk-policy"
    assert policy.model_ids == ("lending-risk", "liquidation-classifier")
    risk = policy.model("lending-risk")
    assert {f.name for f in risk.features} >= {
        "utilization",
        "collateral_ratio",
        "volatility_7d",
        "borrow_rate",
        "asset_class",
    }
    assert risk.prediction.type == "numeric"
    assert {r.tier for r in policy.rules} == {"routine", "medium", "critical"}
    assert policy.rule("UtilizationDrift").condition.threshold == 1e-6


def test_lending_example_runs_through_the_evaluator() -> None:
    from datetime import datetime

    policy = load_policy(EXAMPLES / "lending.yaml")
    ev = Evaluator(policy)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    signals = {"chi2_asset_class": Signal({"statistic": 3.0, "p_value": 0.2, "unseen_ratio": 0.2}, n=500)}
    [decision] = ev.evaluate("lending-risk", signals, now, 100)
    assert (decision.rule, decision.tier, decision.actions) == (
        "UnseenAssetClass",
        "medium",
        ("alert", "pause"),
    )
    assert decision.rule_source is not None and decision.rule_source.endswith("lending.yaml:108")


def test_bad_example_reports_every_mistake_with_its_line() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(EXAMPLES / "bad.yaml")
    found = [(issue.line, issue.field) for issue in caught.value.errors]
    assert found == [
        (6, "dry_run"),
        (9, "models[0].module"),
        (12, "models[0].features[0].range"),
        (14, "models[0].features[2].name"),
        (15, "models[0].reference"),
        (15, "models[0].reference.file"),
        (17, "models[0].detectors[0].window"),
        (18, "models[0].detectors[1].feature"),
        (19, "models[0].detectors[2].feature"),
        (20, "models[0].detectors[3].kind"),
        (21, "models[0].detectors[4].kind"),
        (22, "models[0].detectors[5].bins"),
        (25, "groups[0].interval_records"),
        (29, "groups[0].rules[0].condition.detector"),
        (33, "groups[0].rules[0].actions[1]"),
        (34, "groups[0].rules[1].name"),
        (36, "groups[0].rules[1].condition.op"),
        (36, "groups[0].rules[1].condition.statistic"),
        (37, "groups[0].rules[1].for"),
        (38, "groups[0].rules[1].labels.severity"),
        (39, "groups[0].rules[1].annotations.runbook"),
        (41, "groups[0].rules[2].annotations"),
        (42, "groups[0].rules[2].model"),
        (43, "groups[0].rules[2].condition.threshold"),
        (45, "groups[0].rules[2].labels"),
        (46, "groups[0].rules[2].actions[1]"),
    ]
    message = str(caught.value)
    assert message.startswith(f"{EXAMPLES / 'bad.yaml'} has 26 problems; fix them")
    assert all(str(issue) in message for issue in caught.value.errors)


def test_summary_lists_tiers_and_their_rules() -> None:
    summary = format_summary(load_policy(EXAMPLES / "lending.yaml"))
    lines = summary.splitlines()
    assert lines[0].startswith("Policy 'lending-risk-policy' (version 1), sha256 ")
    assert "  routine   may alert; alerts only, never acts" in lines
    assert "  medium    may alert, pause; on-chain actions wait 15m for a steward's veto" in lines
    assert "  critical  may alert, pause, rollback; acts at once" in lines
    tiers = lines.index("Tiers")
    critical = lines.index("  critical  may alert, pause, rollback; acts at once")
    assert any(
        line.startswith("    - BorrowRateShift") and line.endswith("[dry run]")
        for line in lines[tiers:critical]
    )
    assert any(
        line.startswith("    - RiskScoreDrift") and line.endswith("-> alert, pause, rollback")
        for line in lines[critical:]
    )
    assert (
        "module lending-risk = 0x8d61c3afcfe716c6c97025d61bbb476206c46dcbccacb54c0684c30fa51e03a5" in summary
    )
    assert "Notes" not in summary


def test_summary_notes_unusual_directions_and_empty_tiers(tmp_path: Path) -> None:
    from tests.rules.policies import BASE, edit

    text = edit(
        BASE, 28, '        condition: {detector: ks_util, statistic: p_value, op: ">", threshold: 0.01}'
    )
    text = edit(text, 3, "dry_run: true\nmodels:")
    summary = format_summary(rules.load_policy_text(text))
    assert "Mode: DRY RUN" in summary
    assert (
        "UtilDrift fires when p_value > 0.01; ks's p_value usually signals trouble in the other direction (<)"
        in summary
    )
    no_routine = rules.load_policy_text(edit(BASE, 47, "        labels: {severity: medium}"))
    lines = format_summary(no_routine).splitlines()
    assert lines[lines.index("  routine   may alert; alerts only, never acts") + 1] == "    (no rules)"
