"""`watchdog serve` with an oracle contract as its source: after a restart it resumes from the saved
block (no event read twice, none skipped). The service runs in-process here (no import cost)."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from web3 import Web3

from tests.anvil import start_anvil
from tests.sources.test_chain import MODEL, POLICY, send
from watchdog.actions.chain import load_artifact
from watchdog.cli import build_parser
from watchdog.commands.serve import Service
from watchdog.engine import checkpoint
from watchdog.store.store import Store


def run_until_read(args) -> tuple[int, int]:
    """Start a service, wait (bounded) until its one source has read to the confirmed head, stop it."""
    svc = Service(args)
    svc.start()
    try:
        deadline = time.monotonic() + 60
        while any(t.is_alive() for t in svc.threads):  # --no-follow: the source ends at the head
            assert time.monotonic() < deadline, "the oracle source did not finish"
            time.sleep(0.02)
        rt = svc.engine.runtimes["oracle-model"]
        seen = (rt.n_predictions, rt.n_labels_joined)
    finally:
        assert svc.shutdown() == 0
    return seen


@pytest.mark.e2e
def test_serve_reads_an_oracle_and_resumes_from_the_saved_block(tmp_path):
    (tmp_path / "p.yaml").write_text(POLICY)
    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        key = node.accounts[0].private_key
        art = load_artifact("ModelOracle")
        acct = Account.from_key(key)
        tx = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(6).build_transaction(
            {"from": acct.address, "chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(acct.address)})
        addr = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))["contractAddress"]
        oracle = w3.eth.contract(address=addr, abi=art["abi"])

        def post(first: int, n: int) -> None:
            for i in range(first, first + n):
                send(w3, key, oracle.functions.post(MODEL, "v1", i.to_bytes(32, "big"), [1_500_000 + i, -2], 250_000))

        store = str(tmp_path / "w.db")
        args = build_parser().parse_args([
            "serve", "--policy", str(tmp_path / "p.yaml"), "--oracle", addr, "--oracle-rpc-url", node.url,
            "--oracle-confirmations", "0", "--no-follow", "--dry-run", "--http", "off", "--store", store,
            "--quarantine", str(tmp_path / "q.jsonl"), "--report-dir", str(tmp_path / "reports")])
        post(0, 5)
        assert run_until_read(args) == (5, 0)
        post(5, 3)
        send(w3, key, oracle.functions.postLabel(MODEL, (6).to_bytes(32, "big"), 300_000))
        assert run_until_read(args) == (8, 1)  # 5 restored + 3 new; none of the first 5 read again
        head = w3.eth.block_number
    with Store(store) as s:
        cp = checkpoint.load(s)
    assert cp.records == 9
    assert checkpoint.orjson.loads(cp.positions[f"chain:{addr}"])["offset"] == head + 1


def test_a_checkpoint_that_cannot_be_restored_refuses_to_start_with_a_sentence(tmp_path):
    from importlib import resources

    from watchdog.errors import StartupError

    store = str(tmp_path / "w.db")
    with Store(store) as s:
        s.execute("INSERT INTO checkpoints (instance, policy_hash, taken_at, records, state) VALUES (?,?,?,?,?)",
                  ("default", "h", 1.0, 5, '{"format": 99}'))
    policy = resources.files("watchdog").joinpath("data", "demo_policy.yaml")
    (tmp_path / "r.jsonl").touch()
    args = build_parser().parse_args([
        "serve", "--policy", str(policy), "--source", str(tmp_path / "r.jsonl"), "--dry-run", "--http", "off",
        "--store", store, "--quarantine", str(tmp_path / "q.jsonl")])
    svc = Service(args)
    with pytest.raises(StartupError, match="checkpoint of instance 'default' in the store cannot be restored"):
        svc.start()
    svc.shutdown()
    with Store(store) as s:  # the unreadable checkpoint is left as it was, not overwritten
        assert s.query_one("SELECT state FROM checkpoints")["state"] == '{"format": 99}'
