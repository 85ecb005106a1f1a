"""Without a receiver the watchdog says at start that its alerts go nowhere, and counts them ``unrouted``
(before: nothing was said and every alert was counted ``outcome="sent"``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"


def test_alerts_without_a_receiver_are_announced_and_counted_unrouted(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "log.jsonl"
    write_log(str(log), n=6000, drift_at=4000, malformed=False)
    registries = []
    with caplog.at_level(logging.WARNING):
        res = run(RunOptions(policy=DEMO_POLICY, source=log, store=tmp_path / "w.db", quarantine=tmp_path / "q",
                             dry_run=True, progress=False, settle_seconds=0.0), start_metrics=registries.append)
    assert res.incidents
    assert "alerts_unrouted" in [r.getMessage() for r in caplog.records]
    reg = registries[0]
    samples = {s.labels["outcome"]: s.value for m in reg.collect() if m.name == "watchdog_actions"
               for s in m.samples if s.labels.get("action") == "alert" and s.name.endswith("_total")}
    assert samples.get("unrouted", 0) >= 1 and "sent" not in samples
