from __future__ import annotations

import sqlite3

import pytest

from watchdog.store.store import MIGRATIONS, Incident, Store


def incident(i: str = "0x01") -> Incident:
    return Incident(id=i, model="m", rule="R", tier="critical", opened_at=10.0, record_index=5,
                    policy_hash="ab", dry_run=False, evidence='{"a":1}', evidence_hash="0xee", state="open")


def test_schema_is_migrated_and_reopening_keeps_data(tmp_path):
    path = tmp_path / "w.db"
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.add_incident(incident())
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.incident("0x01").evidence_data == {"a": 1}
        mode = s._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_incident_insert_is_idempotent(tmp_path):
    with Store(tmp_path / "w.db") as s:
        assert s.add_incident(incident())
        assert not s.add_incident(incident())
        assert len(s.incidents()) == 1 and s.incidents("other") == []


def test_action_intent_then_outcome(tmp_path):
    with Store(tmp_path / "w.db") as s:
        s.add_incident(incident())
        a = s.add_action("0x01", "pause", "mod", now=1.0)
        assert a.status == "intent" and a.tx_hash is None
        again = s.add_action("0x01", "pause", "mod", now=2.0)
        assert again.id == a.id and again.created_at == 1.0
        s.update_action(a.id, 3.0, status="mined", tx_hash="0xabc", block_number=7)
        got = s.action("0x01", "pause")
        assert (got.status, got.tx_hash, got.block_number, got.updated_at) == ("mined", "0xabc", 7, 3.0)
        assert [x.id for x in s.actions("mined")] == [a.id]


def test_action_needs_an_existing_incident(tmp_path):
    with Store(tmp_path / "w.db") as s, pytest.raises(sqlite3.IntegrityError):
        s.add_action("0xmissing", "pause", "mod", now=1.0)


def test_store_from_a_newer_watchdog_is_refused(tmp_path):
    path = tmp_path / "w.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this watchdog"):
        Store(path)


def test_audit_log_keeps_order_and_policy_hash(tmp_path):
    with Store(tmp_path / "w.db") as s:
        s.audit(1.0, "run_started", {"x": 1}, policy_hash="h")
        s.audit(2.0, "alert", {"y": 2}, model="m", rule="R")
        rows = list(s.audit_log())
        assert [r["event"] for r in rows] == ["run_started", "alert"] and rows[0]["policy_hash"] == "h"
