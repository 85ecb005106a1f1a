"""A read endpoint that lags behind the head must not turn our own mined pause into a "duplicate".

Behind a load balancer whose replicas are not in sync, the broadcast and the gas estimate reach the head while
receipts, calls and logs come from a node a few blocks back: the re-broadcast says "nonce too low", no receipt
is found, ``incidentUsed`` still reads false, and the re-simulation reverts with ``IncidentAlreadyUsed``. The
monitor's ``ModulePaused`` event for the incident id tells whose transaction it was. Real anvil, behind a
proxy that lags on purpose (tests/chain/rpc_proxy.py).
"""

from __future__ import annotations

from web3 import Web3

from watchdog.actions.chain import MonitorClient, Signer, connect, deploy_monitor
from watchdog.actions.outbox import Outbox
from watchdog.store.store import Store

from .conftest import MODULE, deploy
from .rpc_proxy import FaultyRpc
from .test_outbox import _enqueue, _incident, background_miner


def test_own_pause_seen_through_a_lagging_endpoint_is_recorded_mined_not_duplicate(node, tmp_path):
    address = deploy(node)
    head = MonitorClient(connect(node.url), address)  # the truth, for the assertions
    with FaultyRpc(node.url) as rpc, Store(tmp_path / "w.db") as store:
        client = MonitorClient(connect(rpc.url), address, Signer.from_key(node.accounts[3].private_key))
        rpc.lag = 4
        outbox = Outbox(store, client, confirmations=1)
        inc = _incident(store, 40)
        item = outbox.step(_enqueue(outbox, inc).action_id, wait=0.2)
        [attempt] = outbox.attempts(item.action_id)
        assert len(head.module_paused_events()) == 1  # mined at once (automine), invisible through the proxy
        # the next step re-simulates at the head: IncidentAlreadyUsed, with no readable event yet
        item = outbox.step(item.action_id)
        assert item.status not in ("duplicate", "already_paused"), item.error
        assert "no event of the monitor for the incident is readable yet" in item.error
        with background_miner(node):  # the lagging node catches up
            outbox.settle(20.0)
        item = outbox.item_for(inc.id, "pause")
        [event] = head.module_paused_events()
        assert item.status == "confirmed", item.error
        assert item.tx_hash == attempt["tx_hash"] == event["tx_hash"]
        assert item.block_number == event["block_number"]
        assert len(outbox.attempts(item.action_id)) == 1  # never signed again
        audit = [r["event"] for r in store.audit_log() if r["incident_id"] == inc.id]
        assert "action_mined" in audit and "action_duplicate" not in audit
    assert head.is_paused(MODULE)


def test_incident_used_by_another_transaction_after_ours_was_signed_is_a_duplicate(node, tmp_path):
    w3 = Web3(Web3.HTTPProvider(node.url))
    address = deploy_monitor(w3, Signer.from_key(node.accounts[0].private_key),
                             watchdogs=(node.accounts[3].address, node.accounts[4].address), modules=(MODULE,))
    other = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[4].private_key))
    with FaultyRpc(node.url) as rpc, Store(tmp_path / "w.db") as store:
        client = MonitorClient(connect(rpc.url), address, Signer.from_key(node.accounts[3].private_key))
        outbox = Outbox(store, client, confirmations=1)
        inc = _incident(store, 41)
        rpc.fail = {"eth_sendRawTransaction"}
        item = outbox.step(_enqueue(outbox, inc).action_id)
        assert item.status == "signed" and item.attempts == 1  # saved, not accepted
        theirs = other.transact("pause", MODULE, bytes.fromhex(inc.id[2:]), bytes.fromhex(inc.evidence_hash[2:]))
        rpc.fail = False
        item = outbox.step(item.action_id, wait=2)  # our saved bytes go out and revert: IncidentAlreadyUsed
        assert item.status == "duplicate", item.error
        assert theirs.tx_hash in item.error and "not one of ours" in item.error
    assert len(other.module_paused_events()) == 1
