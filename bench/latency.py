"""Reaction latency of the transaction path on anvil (automine).

From the decisive record entering the engine (``Engine.process_line`` of the line whose evaluation fires
the critical pause rule) to the pause transaction sent, and to its receipt, through the real path:
detectors, rules, responder, the durable outbox in a SQLite file (synchronous=FULL), local signing, the
failover provider, anvil. 200 incidents: the engine is prepared once up to the line before the decisive
one and deep-copied per incident; the chain is snapshotted before each incident and reverted after, so
every incident is a first pause of the module.

Baseline, measured in the same run: the skeleton's direct ``MonitorClient.pause`` (estimate, nonce,
fees, sign, send, wait for the receipt through web3's HTTPProvider), with no engine and no store.

    .venv/bin/python bench/latency.py [--n 200]
"""

from __future__ import annotations

import argparse
import copy
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from web3 import Web3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rules
from rules import module_id_bytes32
from tests.anvil import start_anvil
from watchdog.actions.chain import MonitorClient, Signer, connect, deploy_monitor
from watchdog.actions.outbox import Outbox
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.observe.metrics import Metrics
from watchdog.service.demo_data import write_log
from watchdog.store.store import Store


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="latency-"))
    try:
        return run(args.n, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(n: int, tmp: Path) -> int:
    import logging
    import os

    # The real log path (formatting, a stream write), but not onto the terminal between the figures.
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"), force=True)  # noqa: SIM115
    log = tmp / "drift.jsonl"
    write_log(str(log), n=6000, drift_at=4000, seed=11, malformed=False)
    policy_path = REPO / "watchdog" / "data" / "demo_policy.yaml"
    policy = rules.load_policy(policy_path)
    lines = log.read_bytes().splitlines()

    decisive: list[int] = []

    def find(_engine, _rt, d):
        if d.kind == "fire" and "pause" in d.actions and not decisive:
            decisive.append(d.record_index)

    probe = Engine(policy, base_dir=policy_path.parent, on_decision=find)
    for i, raw in enumerate(lines, 1):
        probe.process_line(raw, i, "bench")
        if decisive:
            break
    line = decisive[0]

    holder: dict[str, object] = {}

    def dispatch(engine, rt, d):
        if d.kind == "fire" and "pause" in d.actions:
            holder["t_decision"] = time.monotonic()
        h = holder.get("responder")
        if h is not None:
            h(engine, rt, d)

    base = Engine(policy, base_dir=policy_path.parent, on_decision=dispatch)
    for i, raw in enumerate(lines[: line - 1], 1):
        base.process_line(raw, i, "bench")

    # Shared, not copied: the policy's objects (the evaluator keys its state by their identity), metrics.
    shared = {id(base.metrics): base.metrics, id(base.on_decision): dispatch, id(policy): policy}
    for g in policy.groups:
        shared[id(g)] = g
        for r in g.rules:
            shared[id(r)] = r
            for leaf in r.condition.leaves:
                shared[id(leaf)] = leaf

    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        module = module_id_bytes32("lending-risk")
        address = deploy_monitor(w3, Signer.from_key(node.accounts[0].private_key),
                                 watchdogs=(node.accounts[3].address,), modules=(module,))
        signer = Signer.from_key(node.accounts[3].private_key)
        metrics = Metrics()
        client = MonitorClient(connect(node.url), address, signer)

        sent, mined, decided = [], [], []
        for k in range(n):
            snap = node.snapshot()
            store = Store(tmp / f"w{k % 4}.db")
            store.execute("DELETE FROM outbox_attempts")
            store.execute("DELETE FROM outbox")
            store.execute("DELETE FROM actions")
            outbox = Outbox(store, client, confirmations=1)
            responder = Responder(store, client, metrics=metrics, outbox=outbox, receipt_wait=5.0)
            holder["responder"] = responder
            engine = copy.deepcopy(base, memo=dict(shared))
            t0 = time.monotonic()
            engine.process_line(lines[line - 1], line, "bench")
            t_end = time.monotonic()
            [item] = outbox.items()
            assert item.status == "confirmed", (item.status, item.error)
            t_intent = outbox._t_intent[item.action_id]
            lat = outbox.latency[item.action_id]
            decided.append(float(holder["t_decision"]) - t0)  # type: ignore[arg-type]
            sent.append(t_intent + lat["sent"] - t0)
            mined.append(t_intent + lat["mined"] - t0)
            assert mined[-1] <= t_end - t0 + 1e-6
            store.close()
            node.revert(snap)

        base_mined = []
        direct = MonitorClient(Web3(Web3.HTTPProvider(node.url)), address, signer)
        for k in range(n):
            snap = node.snapshot()
            t0 = time.monotonic()
            direct.pause(module, (k + 1).to_bytes(32, "big"), b"\x01" * 32)
            base_mined.append(time.monotonic() - t0)
            node.revert(snap)

    print(f"reaction latency over {n} incidents (anvil automine, {platform.machine()}, decisive line {line})")
    print(f"  record -> pause decision:  p50 {pct(decided, 50):6.1f} ms   p99 {pct(decided, 99):6.1f} ms"
          "   (detectors and rules on the decisive evaluation)")
    print(f"  record -> pause sent:      p50 {pct(sent, 50):6.1f} ms   p99 {pct(sent, 99):6.1f} ms")
    print(f"  record -> receipt (mined): p50 {pct(mined, 50):6.1f} ms   p99 {pct(mined, 99):6.1f} ms"
          f"   goal p99 <= 100 ms: {'met' if pct(mined, 99) <= 100 else 'NOT met'}")
    print(f"  baseline direct MonitorClient.pause (no engine, no store): p50 {pct(base_mined, 50):6.1f} ms"
          f"   p99 {pct(base_mined, 99):6.1f} ms")
    print(f"  ratio (record -> receipt) / baseline: p50 {pct(mined, 50) / pct(base_mined, 50):.2f}x"
          f"   p99 {pct(mined, 99) / pct(base_mined, 99):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
