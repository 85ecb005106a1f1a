"""``watchdog status``: a ``--store`` that does not exist is refused with a sentence and exit 2, and is not
created (was: exit 0, no word); vetoed and already-settled actions are listed beside the open ones (were
left out)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from watchdog.actions.outbox import Outbox
from watchdog.cli import main
from watchdog.store.store import Incident, Store

POLICY = Path(str(resources.files("watchdog").joinpath("data", "demo_policy.yaml")))


def _incident(store: Store, n: int) -> Incident:
    inc = Incident(id="0x" + keccak(text=f"incident-{n}").hex(), model="lending-risk", rule="R", tier="critical",
                   opened_at=0.0, record_index=n, policy_hash="0x" + "00" * 32, dry_run=False, evidence="{}",
                   evidence_hash="0x" + keccak(text=f"evidence-{n}").hex(), state="open")
    store.add_incident(inc)
    return inc


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    assert main(["status", "--policy", str(POLICY), "--store", str(missing)]) == 2
    assert f"The store {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()


def test_without_store_the_chain_state_alone_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no watchdog.db here
    assert main(["status", "--policy", str(POLICY)]) == 0
    assert "lending-risk (module lending-risk" in capsys.readouterr().out
    assert not (tmp_path / "watchdog.db").exists()


def test_vetoed_and_already_paused_actions_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.db"
    with Store(db) as store:
        outbox = Outbox(store, None, clock=lambda: 1.8e9)
        mid = keccak(text="lending-risk")
        incs = [_incident(store, n) for n in (1, 2, 3)]
        items = [outbox.enqueue(incident_id=i.id, kind="pause", module="lending-risk", module_id=mid,
                                evidence_hash=i.evidence_hash) for i in incs]
        outbox.veto(incs[0].id, "alice", "false alarm")
        store.execute("UPDATE actions SET status = 'already_paused', error = 'paused by another watchdog'"
                      " WHERE id = ?", (items[1].action_id,))
    assert main(["status", "--policy", str(POLICY), "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"pause vetoed incident {incs[0].id} (vetoed by alice: false alarm)" in out
    assert f"pause already_paused incident {incs[1].id} (paused by another watchdog)" in out
    assert f"pause intent incident {incs[2].id}" in out
