"""Backtest throughput: `watchdog.backtest.backtest` against a plain engine replay of the same log.

Baseline: `watchdog.runner.replay_file` through an `Engine` with no decision handler (the detectors and rules
alone), measured in the same run. The backtest adds ground-truth bookkeeping and the decision table. Also the
evaluator alone: `Evaluator.evaluate` per evaluation on the lending example (11 rules, compound conditions).

    .venv/bin/python bench/backtest_bench.py [--predictions 40000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rules
from rules import EXAMPLES_DIR, Evaluator, Signal
from watchdog.engine.engine import Engine
from watchdog.observe.metrics import Metrics
from watchdog.service.backtest import ChangePoint, backtest
from watchdog.service.demo_data import write_log
from watchdog.service.runner import replay_file

POLICY = Path(__file__).resolve().parents[1] / "watchdog" / "data" / "demo_policy.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--predictions", type=int, default=40_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "history.jsonl"
        drift_at = args.predictions * 2 // 3
        lines = write_log(str(log), n=args.predictions, drift_at=drift_at)
        policy = rules.load_policy(POLICY)
        base, bt = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            replay_file(Engine(policy, base_dir=POLICY.parent, metrics=Metrics()), log, None)
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = backtest(POLICY, log, [ChangePoint("lending-risk", at_line=1)])
            bt.append(time.perf_counter() - t0)
        b, t = statistics.median(base), statistics.median(bt)
        print(f"log: {lines:,} lines, {args.predictions:,} predictions, drift at prediction {drift_at:,}")
        print(f"baseline replay_file (median of {args.repeat}): {b:.2f} s, {lines / b:,.0f} lines/s")
        print(f"backtest (median of {args.repeat}):            {t:.2f} s, {lines / t:,.0f} lines/s, "
              f"ratio {t / b:.3f} of the baseline")
        print(f"decisions: {len(result.firings)}")

    policy = rules.load_policy(EXAMPLES_DIR / "lending.yaml")
    names = [d.name for d in policy.model("lending-risk").detectors]
    signals = {n: Signal({"statistic": 0.1, "p_value": 0.5, "unseen_ratio": 0.0}, n=1000) for n in names}
    ev = Evaluator(policy)
    t0, now = time.perf_counter(), datetime(2025, 1, 1, tzinfo=UTC)
    k = 20_000
    for i in range(k):
        ev.evaluate("lending-risk", signals, now + timedelta(minutes=i), 100 * (i + 1))
    per = (time.perf_counter() - t0) / k
    print(f"evaluator alone, lending example (9 rules on the model): {per * 1e6:.1f} us per evaluation")


if __name__ == "__main__":
    main()
