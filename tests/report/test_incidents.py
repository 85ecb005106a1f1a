"""Incidents in the weekly report: a steward's manual actions in their own words, revert data a person can read,
a no-op action that does not make a week an incident, and both clocks of a rule's detection."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from eth_utils import keccak

from rules import module_id_bytes32
from watchdog.actions.outbox import Outbox
from watchdog.actions.responder import canonical_json, evidence_hash
from watchdog.fmt import iso_utc
from watchdog.report import build_report, parse_week, write_report
from watchdog.store.store import Incident, Store

from .test_build import AFTER, WEEK_START, _run

STEWARD = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
MODULE_ID = "0x" + module_id_bytes32("lending-risk").hex()
# revert data as anvil returned it to `watchdog pause` / `watchdog rollback` (selector + ABI-encoded arguments)
ALREADY_PAUSED = f"The pause transaction reverted with AlreadyPaused (0xeecf4ae1{MODULE_ID[2:]})."
VERSION_NOT_FOUND = f"The rollback transaction reverted with VersionNotFound (0x84d057f8{MODULE_ID[2:]}{3:064x})."
LONG_HEX = re.compile(r"0x[0-9a-fA-F]{67,}")


def manual_action(store: Store, at: float, kind: str, status: str, *, reason: str, error: str | None = None,
                  target: int | None = None, tx: str | None = None, block: int | None = None) -> str:
    """What `watchdog pause|rollback` leaves in the store (watchdog/commands/chain.py, then the outbox)."""
    evidence = {"manual": True, "action": kind, "module": "lending-risk", "module_id": MODULE_ID, "reason": reason,
                "by": STEWARD, "at": iso_utc(at), "target_version": target}
    ev = canonical_json(evidence)
    inc = Incident(id="0x" + keccak(ev).hex(), model="lending-risk", rule=f"manual-{kind}", tier="manual",
                   opened_at=at, record_index=0, policy_hash="", dry_run=False, evidence=ev.decode(),
                   evidence_hash=evidence_hash(ev), state="open")
    store.add_incident(inc)
    store.audit(at, "manual_action", {"action": kind, "reason": reason, "by": STEWARD}, model="lending-risk",
                incident_id=inc.id)
    item = Outbox(store, None, clock=lambda: at).enqueue(
        incident_id=inc.id, kind=kind, module="lending-risk", module_id=MODULE_ID, evidence_hash=inc.evidence_hash,
        target_version=target)
    store.update_action(item.action_id, at + 1, status=status, error=error, tx_hash=tx, block_number=block)
    if status in ("mined", "confirmed"):
        store.audit(at + 1, "action_mined", {"action": kind, "tx_hash": tx, "block_number": block},
                    incident_id=inc.id)
    else:
        store.audit(at + 1, f"action_{status}", {"action": kind, "why": error}, incident_id=inc.id)
    return inc.id


def _healthy_week(tmp_path: Path, policy: Path) -> Path:
    return _run(tmp_path, policy, n=3000, drift_at=None, malformed=False, start=WEEK_START + timedelta(hours=1),
                step=timedelta(seconds=150))


def test_a_drill_on_a_paused_module_and_a_refused_rollback_leave_a_healthy_week_healthy(tmp_path, demo_policy):
    db = _healthy_week(tmp_path, demo_policy)
    t = (WEEK_START + timedelta(days=3)).timestamp()
    with Store(db) as store:
        drill = manual_action(store, t, "pause", "already_paused", reason="drill: oracle frozen", error=ALREADY_PAUSED)
        rollback = manual_action(store, t + 60, "rollback", "failed", reason="v2 misprices", target=3,
                                 error=VERSION_NOT_FOUND)
        files = write_report(store, "lending-risk", parse_week("2026-W47"), tmp_path / "out", now=AFTER)
    rep = json.loads(files.json_path.read_bytes())
    assert rep["verdict"]["status"] == "healthy", rep["verdict"]
    assert rep["incidents"] == []  # no rule fired
    assert [m["id"] for m in rep["manual_actions"]] == [drill, rollback]
    notes = rep["verdict"]["notes"]
    assert notes == [
        f"Manual pause of module lending-risk by {STEWARD} at 2026-11-19T00:00:00Z (reason: drill: oracle frozen): "
        "pause not needed: the module was already paused; nothing changed on-chain.",
        f"Manual rollback of module lending-risk to version 3 by {STEWARD} at 2026-11-19T00:01:00Z (reason: v2 "
        "misprices): rollback failed: reverted with VersionNotFound(module lending-risk, version 3); nothing "
        "changed on-chain."]
    m = rep["manual_actions"][1]
    assert (m["action"], m["module"], m["target_version"], m["by"], m["reached_chain"]) == (
        "rollback", "lending-risk", 3, STEWARD, False)
    assert m["actions"][0]["error"] == VERSION_NOT_FOUND  # the JSON keeps what the store holds
    html = files.html_path.read_text()
    assert "Manual rollback of module lending-risk to version 3" in html and "drill: oracle frozen" in html
    # none of the rule fields a manual action does not have
    for absent in ("fired at line 0", "None consecutive", "manual-pause (manual)", "Policy hash</th><td><code></code>"):
        assert absent not in html
    assert not LONG_HEX.search(html), LONG_HEX.search(html)
    assert "VersionNotFound(module lending-risk, version 3)" in html and "AlreadyPaused(module lending-risk)" in html


def test_a_manual_pause_that_was_mined_makes_the_week_an_incident(tmp_path, demo_policy):
    db = _healthy_week(tmp_path, demo_policy)
    t = (WEEK_START + timedelta(days=2)).timestamp()
    tx = "0x" + "ab" * 32
    with Store(db) as store:
        manual_action(store, t, "pause", "confirmed", reason="oracle feed frozen", tx=tx, block=9)
        rep = build_report(store, "lending-risk", parse_week("2026-W47"), now=AFTER)
    assert rep["verdict"]["status"] == "incident"
    assert rep["verdict"]["reasons"] == [
        f"Manual pause of module lending-risk by {STEWARD} at 2026-11-18T00:00:00Z (reason: oracle feed frozen): "
        f"pause confirmed in block 9 (tx {tx})."]
    assert rep["verdict"]["notes"] == []
    timeline = rep["manual_actions"][0]["timeline"]
    assert [(e["event"], e["detail"]) for e in timeline] == [
        ("manual_action", f"pause requested by {STEWARD}: oracle feed frozen"),
        ("action_mined", f"pause mined in block 9 (tx {tx})")]


def test_a_rule_incident_counts_even_when_its_pause_changed_nothing(tmp_path, demo_policy):
    db = _run(tmp_path, demo_policy, n=5000, drift_at=3000, malformed=False, start=WEEK_START,
              step=timedelta(seconds=60))
    with Store(db) as store:
        inc = next(i for i in store.incidents("lending-risk") if i.rule == "VolatilityRegimeShift")
        action = store.action(inc.id, "pause")
        store.update_action(action.id, 2.0e9, status="already_paused", error=ALREADY_PAUSED)
        rep = build_report(store, "lending-risk", parse_week("2026-W47"), now=AFTER)
    assert rep["verdict"]["status"] == "incident"  # the model drifted: the rule's decision is the incident
    reason = next(r for r in rep["verdict"]["reasons"] if r.startswith("VolatilityRegimeShift"))
    assert reason.endswith("; pause not needed: the module was already paused.")


def test_a_detection_shows_its_data_time_its_detection_time_its_line_and_record_index(tmp_path, demo_policy):
    db = _run(tmp_path, demo_policy, n=5000, drift_at=3000, malformed=False, start=WEEK_START,
              step=timedelta(seconds=60))
    with Store(db) as store:
        files = write_report(store, "lending-risk", parse_week("2026-W47"), tmp_path / "out", now=AFTER)
        rep = json.loads(files.json_path.read_bytes())
        inc = next(i for i in rep["incidents"] if i["rule"] == "VolatilityRegimeShift")
        (opened,) = store.query("SELECT at FROM audit WHERE event = 'incident_opened' AND incident_id = ?",
                                (inc["id"],))
    assert inc["opened_at"] == inc["evidence"]["decided_at"]  # data time of the decisive record
    assert inc["detected_at"] == iso_utc(opened["at"])  # the watchdog's clock when it wrote the incident
    # the line is a line of the log; the record index counts the model's predictions from 0
    line, index = inc["decisive_line"], inc["decisive_record_index"]
    record = json.loads((tmp_path / "week.jsonl").read_bytes().splitlines()[line - 1])
    assert record["id"] == f"req-{index:06d}" and line != index
    fired = next(t for t in inc["timeline"] if t["event"] == "rule_fired")
    assert fired["detail"] == (f"VolatilityRegimeShift fired at line {line} (record index {index}) after 3 "
                               "consecutive evaluation(s)")
    reason = next(r for r in rep["verdict"]["reasons"] if r.startswith("VolatilityRegimeShift"))
    assert f"fired at {inc['opened_at']} (data time, line {line}, record index {index}; detected " in reason
    html = files.html_path.read_text()
    assert "Data time of the decisive record (UTC)" in html and "Detected by the watchdog (its clock, UTC)" in html
    assert f"line {line:,} (record index {index:,}" in html
    assert "record 16417" not in html and not re.search(r"\brecord \d", html)
