"""The outbox in process against real anvil nodes: stuck transactions, failover, reverts, rollback, veto."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from eth_utils import keccak
from web3 import Web3

from tests.anvil import AnvilNode, start_anvil
from watchdog.actions.chain import MonitorClient, Signer, chain_metrics, connect, deploy_monitor
from watchdog.actions.outbox import Outbox
from watchdog.errors import ChainError, ConfigError
from watchdog.observe.metrics import Metrics
from watchdog.store.store import Incident, Store

from .conftest import MODULE, deploy, watchdog_client

GWEI = 10**9


@contextmanager
def background_miner(node: AnvilNode, every: float = 0.05) -> Iterator[None]:
    """Mine a block every ``every`` seconds, so that helpers waiting for receipts return on a no-mining node."""
    stop = threading.Event()

    def miner() -> None:
        while not stop.wait(every):
            node.mine()

    t = threading.Thread(target=miner, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def _incident(store: Store, n: int) -> Incident:
    inc = Incident(id="0x" + keccak(text=f"incident-{n}").hex(), model="lending-risk", rule="R", tier="critical",
                   opened_at=0.0, record_index=n, policy_hash="0x" + "00" * 32, dry_run=False, evidence="{}",
                   evidence_hash="0x" + keccak(text=f"evidence-{n}").hex(), state="open")
    store.add_incident(inc)
    return inc


def _enqueue(outbox: Outbox, inc: Incident, kind: str = "pause", module: bytes = MODULE, **kw):
    return outbox.enqueue(incident_id=inc.id, kind=kind, module="lending-risk", module_id=module,
                          evidence_hash=inc.evidence_hash, **kw)


def test_stuck_transaction_is_replaced_with_same_nonce_and_bumped_fee_then_alerts_at_cap(tmp_path):
    with start_anvil(no_mining=True) as node:
        def mine_at(base_gwei: float) -> None:
            node.rpc("anvil_setNextBlockBaseFeePerGas", [hex(int(base_gwei * GWEI))])
            node.mine()

        with background_miner(node):
            address = deploy(node)
        metrics = Metrics()
        cm = chain_metrics(metrics)
        client = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[3].private_key),
                               max_fee_gwei=12, priority_fee_gwei=1)
        with Store(tmp_path / "w.db") as store:
            outbox = Outbox(store, client, confirmations=2, stuck_blocks=2, metrics=cm)
            inc = _incident(store, 1)
            item = outbox.step(_enqueue(outbox, inc).action_id)
            assert item.status == "sent"
            first = outbox.attempts(item.action_id)[0]
            # the same signed bytes again: the node says "already known", which the outbox treats as in flight
            assert client.broadcast(bytes.fromhex(first["raw_tx"][2:])) == "known"
            # The base fee jumps above what the transaction offers: blocks pass without it.
            mine_at(first["max_fee"] / GWEI + 0.5)
            assert outbox.step(item.action_id).status == "sent"
            mine_at(first["max_fee"] / GWEI + 0.5)
            item = outbox.step(item.action_id)
            attempts = outbox.attempts(item.action_id)
            assert len(attempts) == 2 and item.status == "sent"
            second = attempts[1]
            assert second["nonce"] == first["nonce"]
            assert second["max_fee"] >= first["max_fee"] * 1.125
            assert second["priority_fee"] >= first["priority_fee"] * 1.125
            assert second["max_fee"] <= 12 * GWEI
            assert metrics.registry.get_sample_value("watchdog_tx_replaced_total") == 1
            # Now the base fee stays above even the cap: replaced up to the cap, then one alert.
            for _ in range(8):
                mine_at(13)
                item = outbox.step(item.action_id)
            attempts = outbox.attempts(item.action_id)
            assert attempts[-1]["max_fee"] == 12 * GWEI and len({a["nonce"] for a in attempts}) == 1
            assert metrics.registry.get_sample_value("watchdog_tx_stuck_alerts_total") == 1
            assert item.status == "sent" and not client.is_paused(MODULE)
            # The fee market calms down: the last replacement is mined, exactly one pause.
            mine_at(1)
            item = outbox.step(item.action_id)
            node.mine()  # anvil drops a transaction whose fee is under the base fee; the outbox re-sends it
            item = outbox.step(item.action_id)
            assert item.status == "confirmed" and item.tx_hash == attempts[-1]["tx_hash"]  # 2 blocks deep
            assert len(client.module_paused_events()) == 1


class _RpcErrorHandler(BaseHTTPRequestHandler):
    """An endpoint that answers HTTP 200 with a JSON-RPC error to everything."""

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"jsonrpc": "2.0", "id": req.get("id"),
                           "error": {"code": -32603, "message": "internal error"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_failover_from_dead_and_erroring_endpoints_to_a_live_one(node, tmp_path):
    address = deploy(node)
    server = HTTPServer(("127.0.0.1", 0), _RpcErrorHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dead = "http://127.0.0.1:9"  # discard port: nothing listens
        erroring = f"http://127.0.0.1:{server.server_port}"
        metrics = Metrics()
        w3 = connect([dead, erroring, node.url], timeout=2, metrics=chain_metrics(metrics))
        client = MonitorClient(w3, address, Signer.from_key(node.accounts[3].private_key))
        with Store(tmp_path / "w.db") as store:
            outbox = Outbox(store, client, confirmations=1)
            item = outbox.step(_enqueue(outbox, _incident(store, 2)).action_id, wait=2)
        assert item.status == "confirmed"
        reg = metrics.registry
        assert reg.get_sample_value("watchdog_rpc_errors_total", {"endpoint": "127.0.0.1:9", "kind": "connection"}) == 1
        assert reg.get_sample_value("watchdog_rpc_errors_total",
                                    {"endpoint": f"127.0.0.1:{server.server_port}", "kind": "rpc_error"}) == 1
        # once an endpoint answers it stays current: the dead ones are not retried on every call
        live = f"127.0.0.1:{node.port}"
        assert w3.provider.labels[w3.provider.current] == live
        # a revert is an answer, not endpoint trouble: it is not failed over nor counted, and the action
        # fails at the simulation, before any signature, and stays failed (no retry, no second attempt)
        with Store(tmp_path / "w.db") as store:
            outbox = Outbox(store, client, confirmations=1)
            bad = _enqueue(outbox, _incident(store, 9), module=keccak(text="no-such-module"))
            failed = outbox.step(bad.action_id)
            assert failed.status == "failed" and "ModuleNotRegistered" in failed.error
            assert outbox.step(bad.action_id) == failed  # terminal: a second step changes nothing
            assert outbox.attempts(bad.action_id) == [] and failed.attempts == 0 and failed.tx_hash is None
            assert store.action(failed.incident_id, "pause").status == "failed"
        assert w3.provider.labels[w3.provider.current] == live
        assert reg.get_sample_value("watchdog_rpc_errors_total", {"endpoint": live, "kind": "rpc_error"}) is None
        assert reg.get_sample_value("watchdog_rpc_errors_total", {"endpoint": "127.0.0.1:9", "kind": "connection"}) == 1
        assert reg.get_sample_value("watchdog_rpc_errors_total",
                                    {"endpoint": f"127.0.0.1:{server.server_port}", "kind": "rpc_error"}) == 1
        with pytest.raises(ChainError, match="Every RPC endpoint failed"):
            connect([dead], timeout=1)
    finally:
        server.shutdown()


def test_reverts_are_decoded_by_name_and_replays_are_duplicates(node, tmp_path):
    address = deploy(node)
    client = watchdog_client(node, address)
    with Store(tmp_path / "w.db") as store:
        outbox = Outbox(store, client, confirmations=1)
        bad = outbox.step(_enqueue(outbox, _incident(store, 3), module=keccak(text="no-such-module")).action_id)
        assert bad.status == "failed" and "ModuleNotRegistered" in bad.error
        ok = outbox.step(_enqueue(outbox, _incident(store, 4)).action_id, wait=2)
        assert ok.status == "confirmed"
        again = outbox.step(_enqueue(outbox, _incident(store, 5)).action_id)
        assert again.status == "already_paused" and "AlreadyPaused" in again.error
    # another replica's store, same incident: the chain's incident dedup settles it before signing
    with Store(tmp_path / "other.db") as store:
        outbox = Outbox(store, client, confirmations=1)
        dup = outbox.step(_enqueue(outbox, _incident(store, 4)).action_id)
        assert dup.status == "duplicate" and outbox.attempts(dup.action_id) == []
    assert len(client.module_paused_events()) == 1


def test_rollback_goes_to_the_last_approved_earlier_version(node, tmp_path):
    address = deploy(node)
    council = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[0].private_key))
    client = watchdog_client(node, address)
    with Store(tmp_path / "w.db") as store:
        outbox = Outbox(store, client, confirmations=1)
        none = outbox.step(_enqueue(outbox, _incident(store, 6), kind="rollback").action_id)
        assert none.status == "failed" and "nothing to roll back to" in none.error
        for v in (2, 3):
            council.transact("proposeVersion", MODULE, v, keccak(text=f"a{v}"), keccak(text=f"m{v}"))
            council.transact("approveVersion", MODULE, v)
            council.transact("activateVersion", MODULE, v)
        council.transact("revokeVersion", MODULE, 2)  # 2 was active before 3 but is revoked now
        council.transact("unpause", MODULE) if client.is_paused(MODULE) else None
        assert client.rollback_target(MODULE) == 1
        item = outbox.step(_enqueue(outbox, _incident(store, 7), kind="rollback").action_id, wait=2)
        assert item.status == "confirmed"
        assert client.module_info(MODULE)[2] == 1


def test_veto_holds_then_cancels_the_action(node, tmp_path):
    address = deploy(node)
    client = watchdog_client(node, address)
    now = [1000.0]
    with Store(tmp_path / "w.db") as store:
        outbox = Outbox(store, client, confirmations=1, clock=lambda: now[0])
        inc = _incident(store, 8)
        item = outbox.step(_enqueue(outbox, inc, not_before=1300.0).action_id)
        assert item.status == "held"
        with pytest.raises(ConfigError, match="--by"):
            outbox.veto(inc.id, "", "no")
        [vetoed] = outbox.veto(inc.id, "alice", "false alarm: oracle maintenance")
        assert vetoed.status == "vetoed" and vetoed.vetoed_by == "alice"
        now[0] = 2000.0
        assert outbox.step(item.action_id).status == "vetoed"
        events = [dict(r) for r in store.audit_log() if r["event"] == "action_vetoed"]
        assert len(events) == 1 and "oracle maintenance" in events[0]["detail"]
        # not vetoed: sent once the window has passed
        inc2 = _incident(store, 9)
        held = outbox.step(_enqueue(outbox, inc2, not_before=2300.0).action_id)
        assert held.status == "held"
        now[0] = 2301.0
        assert outbox.step(held.action_id, wait=2).status == "confirmed"
        with pytest.raises(ConfigError, match="Too late"):
            outbox.veto(inc2.id, "bob", "late")
    assert len(client.module_paused_events()) == 1


def test_responder_holds_a_vetoable_decision_and_rolls_back(node, tmp_path):
    """The Responder's side: a decision's veto_seconds becomes not_before; a rollback gets its target."""
    from types import SimpleNamespace

    from watchdog.actions.responder import Responder

    address = deploy(node)
    council = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[0].private_key))
    council.transact("proposeVersion", MODULE, 2, keccak(text="a2"), keccak(text="m2"))
    council.transact("approveVersion", MODULE, 2)
    council.transact("activateVersion", MODULE, 2)
    client = watchdog_client(node, address)
    now = [5000.0]
    events = []
    with Store(tmp_path / "w.db") as store:
        responder = Responder(store, client, clock=lambda: now[0], on_event=lambda e, d: events.append(e),
                              outbox=Outbox(store, client, confirmations=1, clock=lambda: now[0]))
        d = SimpleNamespace(model="lending-risk", rule="R", module="lending-risk", dry_run=False,
                            policy_hash="0x", annotations={}, veto_seconds=600)
        inc = _incident(store, 10)
        responder.act(inc, d, "pause")
        item = responder.outbox.item_for(inc.id, "pause")
        assert item.status == "held" and item.not_before == 5600.0 and "action_held" in events
        now[0] = 5601.0
        [done] = responder.resume()
        assert done.status == "confirmed"
        d2 = SimpleNamespace(**{**vars(d), "veto_seconds": 0})
        inc2 = _incident(store, 11)
        responder.act(inc2, d2, "rollback")
        rb = responder.outbox.item_for(inc2.id, "rollback")
        assert rb.status == "confirmed" and rb.target_version == 1 and "action_mined" in events
    assert client.module_info(MODULE) == (True, True, 1)


def test_two_replicas_racing_one_mined_revert_is_decoded(tmp_path):
    """Two stores (replicas) pause the same module in the same block: the loser's mined revert is decoded."""
    with start_anvil(no_mining=True) as node:
        with background_miner(node):
            address = deploy_monitor(Web3(Web3.HTTPProvider(node.url)), Signer.from_key(node.accounts[0].private_key),
                                     watchdogs=(node.accounts[3].address, node.accounts[4].address), modules=(MODULE,))
        items = []
        for k, acct in enumerate((3, 4)):
            client = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[acct].private_key))
            store = Store(tmp_path / f"r{k}.db")
            outbox = Outbox(store, client, confirmations=1)
            items.append((outbox, outbox.step(_enqueue(outbox, _incident(store, 20 + k)).action_id)))
        assert [i.status for _, i in items] == ["sent", "sent"]
        node.mine()
        results = [o.step(i.action_id) for o, i in items]
        assert sorted(r.status for r in results) == ["already_paused", "confirmed"]
        loser = next(r for r in results if r.status == "already_paused")
        assert "reverted with AlreadyPaused" in loser.error and loser.block_number is not None
        for o, _ in items:
            o.store.close()
        assert len(client.module_paused_events()) == 1
