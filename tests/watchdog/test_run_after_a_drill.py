"""A steward's drill does not break later runs on the same store (before: ``KeyError: 'condition'`` in
``RunResult.render`` whenever the store held a manual pause or rollback, exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.store.store import Incident, Store

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"


def test_run_renders_a_store_holding_a_manual_pause(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    evidence = {"manual": True, "action": "pause", "module": "lending-risk", "reason": "drill",
                "by": "0xSteward", "at": "2026-11-20T00:00:00Z", "target_version": None}
    with Store(db) as store:
        store.add_incident(Incident(id="0x" + "11" * 32, model="lending-risk", rule="manual-pause", tier="manual",
                                    opened_at=0.0, record_index=0, policy_hash="", dry_run=False,
                                    evidence=json.dumps(evidence), evidence_hash="0x" + "22" * 32, state="open"))
    log = tmp_path / "log.jsonl"
    write_log(str(log), n=3000, drift_at=None, malformed=False)
    res = run(RunOptions(policy=DEMO_POLICY, source=log, store=db, quarantine=tmp_path / "q.jsonl", dry_run=True,
                         progress=False, settle_seconds=0.0))
    text = res.render()
    assert "manual pause of lending-risk by 0xSteward: drill" in text


def test_a_held_pause_says_until_when_and_what_sends_it(tmp_path: Path) -> None:
    """Before: only ``pause: held``."""
    from watchdog.actions.outbox import Outbox
    from watchdog.service.oneshot import _held

    with Store(tmp_path / "w.db") as store:
        store.add_incident(Incident(id="0x" + "33" * 32, model="lending-risk", rule="UtilizationDrift",
                                    tier="medium", opened_at=0.0, record_index=1, policy_hash="", dry_run=False,
                                    evidence="{}", evidence_hash="0x" + "55" * 32, state="open"))
        outbox = Outbox(store, None)
        item = outbox.enqueue(incident_id="0x" + "33" * 32, kind="pause", module="lending-risk",
                              module_id="0x" + "44" * 32, evidence_hash="0x" + "55" * 32,
                              not_before=1795132800.0)
        store.update_action(item.action_id, 1.0, status="held")
        held = _held(store)
    assert "until 2026-11-20T00:00:00Z" in held[item.action_id]
    assert "watchdog outbox --process" in held[item.action_id]
