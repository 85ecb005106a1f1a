"""The fuzz job over the oracle source (issue #13): generated oracle events on a real anvil node, read by
``ChainSource`` and fed through ``feed`` on both paths: no crash, one verdict per event, the same verdicts on the
columnar and the line path, and every well-formed prediction processed."""

from __future__ import annotations

import string
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

import rules
from tests.anvil import start_anvil
from tests.sources.test_chain import POLICY, send
from watchdog.actions.chain import load_artifact
from watchdog.engine.engine import Engine
from watchdog.ingest.sources.chain import ChainSource
from watchdog.observe.metrics import Metrics
from watchdog.service.feed import feed

pytestmark = pytest.mark.e2e

MODEL = keccak(text="oracle-model")
INT256 = st.integers(-(2**255), 2**255 - 1)
SMALL = st.integers(-10**12, 10**12)

# (kind, model known?, version, feature values, prediction); ids are given in order, so none repeats
EVENT = st.one_of(
    st.tuples(st.just("prediction"), st.booleans(),
              st.one_of(st.text(string.ascii_letters + string.digits + ".-", min_size=1, max_size=12),
                        st.text(max_size=20)),
              st.lists(st.one_of(SMALL, INT256), max_size=3), st.one_of(SMALL, INT256)),
    st.tuples(st.just("label"), st.booleans(), st.just(""), st.just([]), st.one_of(SMALL, INT256)),
)


@pytest.fixture(scope="module")
def oracle() -> Iterator[tuple[Web3, str, object, str]]:
    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        key = node.accounts[0].private_key
        art = load_artifact("ModelOracle")
        acct = Account.from_key(key)
        tx = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(6).build_transaction(
            {"from": acct.address, "chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(acct.address)})
        addr = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))["contractAddress"]
        yield w3, key, w3.eth.contract(address=addr, abi=art["abi"]), addr


_next_id = [0]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(EVENT, min_size=1, max_size=6))
def test_generated_oracle_events_get_one_verdict_each_and_the_same_on_both_paths(oracle, tmp_path_factory, events):
    w3, key, contract, addr = oracle
    start = w3.eth.block_number + 1
    good = 0
    for kind, known, version, values, value in events:
        _next_id[0] += 1
        rid = _next_id[0].to_bytes(32, "big")
        model = MODEL if known else keccak(text="stranger")
        if kind == "label":
            send(w3, key, contract.functions.postLabel(model, rid, value))
            continue
        send(w3, key, contract.functions.post(model, version, rid, values, value))
        plain = version.isascii() and version.strip() == version and version.isprintable()
        good += known and len(values) == 2 and plain and all(abs(v) <= 10**12 for v in (*values, value))
    batches = list(ChainSource(w3, addr, {"oracle-model": ("a", "b")}, confirmations=0, from_block=start).batches())
    assert sum(len(b.lines) for b in batches) == len(events)  # one record per event, none lost or doubled

    policy = tmp_path_factory.mktemp("p") / "p.yaml"
    policy.write_text(POLICY)
    verdicts = {}
    for columnar in (True, False):
        eng = Engine(rules.load_policy(policy), base_dir=policy.parent, metrics=Metrics())
        got = [feed(eng, b, columnar=columnar) for b in batches]
        quarantined = sorted((q.line, q.reason_code) for r in got for q in r.quarantined)
        predictions = sum(r.predictions for r in got)
        assert predictions + sum(r.labels for r in got) + len(quarantined) == len(events)
        assert predictions >= good  # every well-formed prediction of the known model is processed
        verdicts[columnar] = (quarantined, predictions)
    assert verdicts[True] == verdicts[False]
