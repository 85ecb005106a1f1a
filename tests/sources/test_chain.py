"""Oracle events on a real anvil node: confirmations, resume from the stored block, records into the engine."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

import rules
from tests.anvil import start_anvil
from watchdog.actions.chain import load_artifact
from watchdog.engine.engine import Engine
from watchdog.ingest.sources import Position
from watchdog.ingest.sources.chain import ChainSource
from watchdog.observe.metrics import Metrics
from watchdog.service.feed import feed

POLICY = """\
version: 1
name: oracle-test
models:
  - id: oracle-model
    module: oracle-model
    prediction: {type: numeric}
    features:
      - {name: a, type: numeric}
      - {name: b, type: numeric}
    reference: {first_n: 4}
    detectors:
      - {name: ks_a, kind: ks, feature: a, window: 4}
groups:
  - name: g
    interval_records: 2
    rules:
      - name: DriftA
        model: oracle-model
        condition: {detector: ks_a, statistic: p_value, op: "<", threshold: 1.0e-9}
        labels: {severity: routine}
        annotations: {summary: drift, runbook_url: "https://example.org/r"}
        actions: [alert]
"""
MODEL = keccak(text="oracle-model")


def send(w3: Web3, key: str, fn) -> None:
    acct = Account.from_key(key)
    tx = fn.build_transaction({"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address),
                               "chainId": w3.eth.chain_id})
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1


@pytest.mark.e2e
def test_oracle_events_after_confirmations_resume_without_rereading(tmp_path):
    policy_path = tmp_path / "p.yaml"
    policy_path.write_text(POLICY)
    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        key = node.accounts[0].private_key
        art = load_artifact("ModelOracle")
        acct = Account.from_key(key)
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        tx = factory.constructor(6).build_transaction({"from": acct.address, "chainId": w3.eth.chain_id,
                                                      "nonce": w3.eth.get_transaction_count(acct.address)})
        addr = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))["contractAddress"]
        oracle = w3.eth.contract(address=addr, abi=art["abi"])
        for i in range(6):  # one block each (automine)
            rid = i.to_bytes(32, "big")
            send(w3, key, oracle.functions.post(MODEL, "v1", rid, [1_500_000 + i, -2_000_000], 250_000))
        send(w3, key, oracle.functions.post(keccak(text="stranger"), "v1", b"\x09" * 32, [1], 1))
        send(w3, key, oracle.functions.post(MODEL, "v1", b"\x08" * 32, [1], 1))          # one feature short
        send(w3, key, oracle.functions.postLabel(MODEL, (0).to_bytes(32, "big"), 300_000))
        head = w3.eth.block_number

        src = ChainSource(w3, addr, {"oracle-model": ("a", "b")}, confirmations=3)
        batches = list(src.batches())
        pos = batches[-1].position
        assert pos.offset == head - 3 + 1           # the last 3 blocks are not confirmed yet
        lines = [ln for b in batches for ln in b.lines]
        assert len(lines) == 6                     # 6 predictions; the rest are in unconfirmed blocks

        eng = Engine(rules.load_policy(policy_path), base_dir=tmp_path, metrics=Metrics())
        for b in batches:
            assert not feed(eng, b).quarantined
        rt = eng.runtimes["oracle-model"]
        assert rt.n_predictions == 6 and rt.ready
        assert rt.state.recent[-1][1] == 6 and rt.state.recent[-1][0] == w3.eth.get_block(head - 3)["timestamp"]

        node.mine(3)
        more = list(ChainSource(w3, addr, {"oracle-model": ("a", "b")}, confirmations=3).batches(
            Position.from_json(pos.to_json())))
        got = [q for b in more for q in feed(eng, b).quarantined]
        assert [(q.line, q.reason_code) for q in got] == [(7, "unknown_model"), (8, "wrong_type")]
        assert rt.n_predictions == 6 and rt.n_labels_joined == 1   # nothing read twice; the label joined
        assert more[-1].position.offset == w3.eth.block_number - 3 + 1
