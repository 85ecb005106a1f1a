"""Kill ``watchdog run`` (a subprocess) with SIGKILL at each step of the outbox, restart it: exactly one
pause lands. The restart runs in this process (``watchdog.service.run``, the same code ``watchdog run`` calls),
which keeps the tests fast; what matters is that it starts from nothing but the store and the chain."""

from __future__ import annotations

import signal

import pytest

from watchdog.actions.chain import Signer
from watchdog.actions.outbox import Outbox
from watchdog.store.store import Store

from .conftest import MODULE, deploy, run_watchdog, watchdog_client

pytestmark = pytest.mark.e2e

RULE = "VolatilityRegimeShift"


def _run(node, address, policy, log, tmp_path, fault: str | None = None):
    env = {"WATCHDOG_PRIVATE_KEY": node.accounts[3].private_key}
    if fault:
        env["WATCHDOG_FAULT"] = fault
    return run_watchdog(
        "--log-format", "json", "run", "--policy", str(policy), "--source", str(log), "--rpc-url", node.url,
        "--monitor", address, "--store", str(tmp_path / "w.db"), "--quarantine", str(tmp_path / "q.jsonl"),
        "--metrics-addr", "off", "--no-progress", "--confirmations", "1", env=env)


def _restart(node, address, policy, log, tmp_path, monkeypatch):
    from pathlib import Path

    from watchdog.service.oneshot import RunOptions, run

    monkeypatch.setenv("WATCHDOG_PRIVATE_KEY", node.accounts[3].private_key)
    monkeypatch.delenv("WATCHDOG_FAULT", raising=False)
    return run(RunOptions(policy=Path(policy), source=Path(log), rpc_url=[node.url], monitor=address,
                          store=tmp_path / "w.db", quarantine=tmp_path / "q.jsonl", progress=False, confirmations=1))


def _pause_row(tmp_path):
    with Store(tmp_path / "w.db") as store:
        inc = next(i for i in store.incidents() if i.rule == RULE)
        outbox = Outbox(store, None)
        item = outbox.item_for(inc.id, "pause")
        return inc, item, (outbox.attempts(item.action_id) if item else [])


# status the killed run leaves behind, and whether the pause is already on-chain at that moment
CRASH_POINTS = {
    "after_intent": ("intent", False),
    "after_sign": ("signed", False),
    "after_send": ("signed", True),
    "before_receipt": ("sent", True),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_killed_at_each_step_resumes_and_pauses_exactly_once(point, node, demo_policy, drift_log, tmp_path,
                                                              monkeypatch):
    address = deploy(node)
    client = watchdog_client(node, address)
    killed = _run(node, address, demo_policy, drift_log, tmp_path, fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert f'"point": "{point}"' in killed.stderr

    status, on_chain = CRASH_POINTS[point]
    inc, item, attempts = _pause_row(tmp_path)
    assert item is not None and item.status == status
    assert len(client.module_paused_events()) == (1 if on_chain else 0)
    saved_raw = [a["raw_tx"] for a in attempts]
    assert bool(saved_raw) == (status in ("signed", "sent"))  # a kill after signing leaves the bytes saved

    _restart(node, address, demo_policy, drift_log, tmp_path, monkeypatch)
    events = client.module_paused_events()
    assert len(events) == 1
    assert "0x" + bytes(events[0]["incidentId"]).hex() == inc.id
    inc, item, attempts = _pause_row(tmp_path)
    assert item.status == "confirmed" and item.tx_hash == events[0]["tx_hash"]
    # Whatever was signed before the crash was re-sent as the same bytes, never signed again.
    assert len(attempts) == 1
    if saved_raw:
        assert attempts[0]["raw_tx"] == saved_raw[0]
    assert client.is_paused(MODULE)

    if point == "after_send":  # a third run replays the same incident: still one pause
        _restart(node, address, demo_policy, drift_log, tmp_path, monkeypatch)
        assert len(client.module_paused_events()) == 1


def test_signed_nonce_taken_by_another_tx_is_signed_again_once(node, demo_policy, drift_log, tmp_path, monkeypatch):
    """Killed after signing; meanwhile the same key spends that nonce elsewhere. The saved transaction can
    never land, the chain says the incident is unused, so the restart signs again with a fresh nonce."""
    address = deploy(node)
    client = watchdog_client(node, address)
    killed = _run(node, address, demo_policy, drift_log, tmp_path, fault="after_sign")
    assert killed.returncode == -signal.SIGKILL
    _inc, item, attempts = _pause_row(tmp_path)
    w3 = client.w3
    me = Signer.from_key(node.accounts[3].private_key)
    tx = {"to": node.accounts[4].address, "value": 1, "gas": 21000, "nonce": attempts[0]["nonce"],
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id}
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(me.sign(tx)))

    _restart(node, address, demo_policy, drift_log, tmp_path, monkeypatch)
    assert len(client.module_paused_events()) == 1
    _inc, item, attempts = _pause_row(tmp_path)
    assert item.status == "confirmed" and len(attempts) == 2
    assert attempts[1]["nonce"] > attempts[0]["nonce"]
