"""A policy can name sequential detectors: built without a reference, their alarms reach the rules."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run

EXTRA_DETECTORS = """      - {name: e_volatility, kind: e_detector, feature: volatility_7d, alpha: 1.0e-6, warmup: 500}
      - {name: ph_volatility, kind: page_hinkley, feature: volatility_7d}
"""

EXTRA_RULE = """      - name: VolatilityChangePoint
        model: lending-risk
        condition: {detector: e_volatility, statistic: since_alarm, op: "<", threshold: 100}
        labels: {severity: routine}
        annotations:
          summary: "The e-detector found a change point in collateral volatility"
          runbook_url: "https://example.org/runbooks/lending-risk#volatility"
        actions: [alert]
"""


def _policy(tmp_path: Path) -> Path:
    dst = tmp_path / "policy.yaml"
    with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
        shutil.copyfile(p, dst)
    text = dst.read_text()
    anchor = "      - {name: mae_risk, kind: mae, window: 300}\n"
    assert anchor in text
    text = text.replace(anchor, anchor + EXTRA_DETECTORS)
    rules_anchor = "  - name: market-regime\n    interval_records: 100\n    rules:\n"
    assert rules_anchor in text
    text = text.replace(rules_anchor, rules_anchor + EXTRA_RULE)
    dst.write_text(text)
    return dst


def test_sequential_detector_alarm_fires_a_rule(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    write_log(str(log), n=5000, drift_at=3000, seed=3, malformed=False)
    res = run(
        RunOptions(
            policy=_policy(tmp_path),
            source=log,
            store=tmp_path / "w.db",
            quarantine=tmp_path / "q.jsonl",
            progress=False,
            dry_run=True,
        )
    )
    fired = [i for i in res.incidents if i.rule == "VolatilityChangePoint"]
    assert fired
    # every firing came after the change (prediction 3,000), none from a false alarm before it
    assert all(i.evidence_data["counts"]["predictions"] > 3000 for i in fired)
