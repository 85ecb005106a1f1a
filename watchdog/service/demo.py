"""``watchdog demo``: the whole path on one machine with nothing else running.

An in-process EVM (eth-tester with py-evm, through web3's EthereumTesterProvider) gets a freshly
deployed ModelMonitor; the bundled log of a lending protocol's risk model, with a market regime change
at a known record, is replayed through the real detectors and rules; the critical rule's pause is
signed locally, mined, and read back from the chain.
"""

from __future__ import annotations

import shutil
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.types import Wei

from rules import module_id_bytes32
from watchdog.actions.chain import MonitorClient, Signer, deploy_monitor
from watchdog.service.oneshot import RunOptions, run

DRIFT_AT = 4000  # the record index (0-based prediction count) where demo_data injects the regime change


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def _line_of_prediction(log: Path, index: int) -> int:
    seen = -1
    with open(log, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if b'"prediction"' in raw and b'"features"' in raw:
                seen += 1
                if seen == index:
                    return lineno
    return -1


def run_demo(out_dir: Path, progress: bool = True) -> int:
    t0 = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = resources.files("watchdog").joinpath("data")
    log_path = out_dir / "demo.jsonl"
    policy_path = out_dir / "demo_policy.yaml"
    with resources.as_file(data.joinpath("demo.jsonl")) as p:
        shutil.copyfile(p, log_path)
    with resources.as_file(data.joinpath("demo_policy.yaml")) as p:
        shutil.copyfile(p, policy_path)
    store_path = out_dir / "watchdog.db"
    quarantine_path = out_dir / "quarantine.jsonl"
    for stale in (store_path, quarantine_path, Path(f"{store_path}-wal"), Path(f"{store_path}-shm")):
        stale.unlink(missing_ok=True)

    _say("1/4 starting an in-process EVM (eth-tester + py-evm) and deploying ModelMonitor ...")
    w3 = Web3(Web3.EthereumTesterProvider())
    funder = w3.eth.accounts[0]
    deployer = Signer(Account.create())
    watchdog_signer = Signer(Account.create())
    for who in (deployer, watchdog_signer):
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": funder, "to": who.address, "value": Wei(10**20)}))
    module = module_id_bytes32("lending-risk")
    monitor_addr = deploy_monitor(w3, deployer, watchdogs=(watchdog_signer.address,), modules=(module,))
    monitor = MonitorClient(w3, monitor_addr, watchdog_signer)
    _say(f"    monitor at {monitor_addr}; module 'lending-risk' active at version 1, paused: "
         f"{monitor.is_paused(module)}")
    _say(f"    watchdog signer {watchdog_signer.address} (a fresh local key, never printed)")

    drift_line = _line_of_prediction(log_path, DRIFT_AT)
    _say(f"2/4 replaying {log_path.name}: a lending risk model's log; the market turns at record {DRIFT_AT} "
         f"(line {drift_line})")

    def on_event(event: str, data: dict[str, Any]) -> None:
        if event == "rule_fired":
            d = data["decision"]
            n = data["incident"].evidence_data["counts"]["predictions"]
            _say(f"\n    rule {d.rule} ({d.tier}) fired at line {d.record_index} (record {n - 1:,}, "
                 f"{n - 1 - DRIFT_AT:,} records after the turn): {d.detector}.{d.statistic} = "
                 f"{d.value:.3g} {d.op} {d.threshold:g} for {d.consecutive} evaluations")
        elif event == "action_mined":
            tx = data["tx"]
            _say(f"    -> pause sent and mined: tx {tx.tx_hash} in block {tx.block_number} ({tx.gas_used:,} gas)")
        elif event == "action_failed":
            _say(f"    -> {data['action']} failed: {data['error']}")

    opts = RunOptions(policy=policy_path, source=log_path, store=store_path, quarantine=quarantine_path,
                      progress=progress)
    result = run(opts, monitor=monitor, on_event=on_event)
    _say("")
    _say("3/4 result")
    _say("    " + result.render().replace("\n", "\n    "))
    _say("4/4 reading the chain back")
    paused = monitor.is_paused(module)
    events = monitor.module_paused_events()
    _say(f"    isPaused('lending-risk') = {paused}; ModulePaused events: {len(events)}")
    for e in events:
        inc = next((i for i in result.incidents if i.id == "0x" + bytes(e["incidentId"]).hex()), None)
        match = inc is not None and inc.evidence_hash == "0x" + bytes(e["evidenceHash"]).hex()
        _say(f"    event incident {'0x' + bytes(e['incidentId']).hex()} evidence hash matches the store: {match}")
    _say(f"done in {time.monotonic() - t0:.1f} s; store {store_path}, quarantine {quarantine_path}")
    ok = paused and len(events) == 1
    if not ok:
        print("demo: expected exactly one pause on-chain", file=sys.stderr)
    return 0 if ok else 1
