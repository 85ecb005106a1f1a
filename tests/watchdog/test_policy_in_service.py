"""The policy's rationing and compound conditions reach the incident store through `watchdog run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("svc") / "log.jsonl"
    write_log(str(path), n=6000, drift_at=4000, malformed=False)
    return path


def test_budget_and_compound_condition_are_recorded_in_the_evidence(history: Path, tmp_path: Path) -> None:
    text = DEMO_POLICY.read_text()
    text = text.replace("    reference: {first_n: 2000}", "    reference: {first_n: 2000}\n"
                        "    budget: {max_actions: 1, period: 24h}")
    # the collateral-mix rule becomes critical with a pause and a two-test condition
    text = text.replace(
        '        condition: {detector: chi2_asset_class, statistic: p_value, op: "<", threshold: 1.0e-6}\n'
        '        for: 3\n        labels: {severity: routine}',
        '        condition:\n          any:\n'
        '            - {detector: chi2_asset_class, statistic: p_value, op: "<", threshold: 1.0e-6}\n'
        '            - {detector: psi_collateral, op: ">", threshold: 5.0}\n'
        '        for: 3\n        labels: {severity: critical}')
    text = text.replace('runbook_url: "https://example.org/runbooks/lending-risk#collateral-mix"\n'
                        '        actions: [alert]',
                        'runbook_url: "https://example.org/runbooks/lending-risk#collateral-mix"\n'
                        '        actions: [alert, pause]')
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    opts = RunOptions(policy=policy, source=history, store=tmp_path / "w.db", quarantine=tmp_path / "q.jsonl",
                      dry_run=True, progress=False)
    result = run(opts)
    incidents = {i.rule: i for i in result.incidents}
    # both critical rules fire after the drift; the first to fire spends the budget of one
    first, second = sorted([incidents["VolatilityRegimeShift"], incidents["CollateralMixShift"]],
                           key=lambda i: (i.record_index, i.rule != "VolatilityRegimeShift"))
    assert first.evidence_data["suppressed"] is None
    assert second.evidence_data["suppressed"] == "budget"
    pauses = {a.incident_id for a in result.actions if a.kind == "pause"}
    assert first.id in pauses and second.id not in pauses
    mix = incidents["CollateralMixShift"].evidence_data["conditions"]
    assert [(c["detector"], c["fire"]) for c in mix] == [("chi2_asset_class", True), ("psi_collateral", False)]
    assert "conditions" not in incidents["VolatilityRegimeShift"].evidence_data  # one comparison: in "condition"
