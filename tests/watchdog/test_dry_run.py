"""Dry-run (shadow mode) never sends: per rule, for the whole policy, or by the operator's --dry-run, against a
real in-process EVM with a deployed ModelMonitor and a funded watchdog key. A live run on the same setup pauses,
so the absence of transactions means something."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from rules import module_id_bytes32
from watchdog.actions.chain import MonitorClient, Signer, deploy_monitor
from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"
MODULE = module_id_bytes32("lending-risk")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chain() -> tuple[Web3, str, Signer]:
    w3 = Web3(Web3.EthereumTesterProvider())
    funder = w3.eth.accounts[0]
    deployer, watchdog = Signer(Account.create()), Signer(Account.create())
    for who in (deployer, watchdog):
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": funder, "to": who.address,
                                                                     "value": 10**20}))
    address = deploy_monitor(w3, deployer, watchdogs=(watchdog.address,), modules=(MODULE,))
    return w3, address, watchdog


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dry") / "log.jsonl"
    write_log(str(path), n=6000, drift_at=4000, malformed=False)
    return path


def _run(chain: tuple[Web3, str, Signer], history: Path, tmp_path: Path, policy_text: str,
         operator_dry_run: bool = False) -> tuple[object, MonitorClient]:
    w3, address, watchdog = chain
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text)
    monitor = MonitorClient(w3, address, watchdog)
    opts = RunOptions(policy=policy, source=history, store=tmp_path / "w.db", quarantine=tmp_path / "q.jsonl",
                      dry_run=operator_dry_run, progress=False, settle_seconds=5.0)
    return run(opts, monitor=monitor), monitor


def _assert_nothing_sent(chain: tuple[Web3, str, Signer], monitor: MonitorClient, result: object) -> None:
    w3, _, watchdog = chain
    assert w3.eth.get_transaction_count(watchdog.address) == 0
    assert not monitor.is_paused(MODULE)
    assert monitor.module_paused_events() == []
    incidents = {i.rule: i for i in result.incidents}  # type: ignore[attr-defined]
    assert incidents["VolatilityRegimeShift"].dry_run  # it fired, recorded as "would have paused"
    pauses = [a for a in result.actions if a.kind == "pause"]  # type: ignore[attr-defined]
    assert pauses and all(a.status not in ("sent", "mined", "signed") and a.tx_hash is None for a in pauses)


def test_policy_dry_run_never_sends(chain, history: Path, tmp_path: Path) -> None:
    text = DEMO_POLICY.read_text().replace("dry_run: false", "dry_run: true")
    result, monitor = _run(chain, history, tmp_path, text)
    _assert_nothing_sent(chain, monitor, result)


def test_rule_dry_run_never_sends(chain, history: Path, tmp_path: Path) -> None:
    text = DEMO_POLICY.read_text().replace("        actions: [alert, pause]\n",
                                           "        actions: [alert, pause]\n        dry_run: true\n")
    assert text.count("dry_run: true") == 1
    result, monitor = _run(chain, history, tmp_path, text)
    _assert_nothing_sent(chain, monitor, result)


def test_operator_dry_run_never_sends(chain, history: Path, tmp_path: Path) -> None:
    _, monitor = _run(chain, history, tmp_path, DEMO_POLICY.read_text(), operator_dry_run=True)
    w3, _, watchdog = chain
    assert w3.eth.get_transaction_count(watchdog.address) == 0 and not monitor.is_paused(MODULE)


def test_live_run_on_the_same_chain_does_pause(chain, history: Path, tmp_path: Path) -> None:
    # runs last: it pauses the module the tests above shared
    _, monitor = _run(chain, history, tmp_path, DEMO_POLICY.read_text())
    w3, _, watchdog = chain
    assert monitor.is_paused(MODULE)
    assert w3.eth.get_transaction_count(watchdog.address) == 1
