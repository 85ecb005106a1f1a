"""What the weekly report costs: the evaluation recorder's overhead on a replay, and building a report.

Baseline: the same replay (engine, responder, SQLite store) without the recorder, measured in the same run.

    .venv/bin/python bench/report_bench.py [--predictions 40320] [--repeat 3]

Prints figures; asserts nothing (speed targets live here, not in timed unit tests).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rules
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.report import parse_week, write_report
from watchdog.report.recorder import EvaluationRecorder
from watchdog.service.demo_data import write_log
from watchdog.service.runner import replay_file
from watchdog.store.store import Store


def replay(policy: rules.Policy, log: Path, db: Path, record: bool) -> float:
    with Store(db) as store:
        engine = Engine(policy, on_decision=Responder(store, None, clock=lambda: 1_795_000_000.0))
        if record:
            engine.observers.append(EvaluationRecorder(store))
        t0 = time.perf_counter()
        replay_file(engine, log, io.BytesIO())
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--predictions", type=int, default=40_320, help="one week at one prediction per 15 s")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
        policy = rules.load_policy(p)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "week.jsonl"
        n = args.predictions
        step = timedelta(seconds=7 * 24 * 3600 / n)
        lines = write_log(str(log), n=n, drift_at=int(n * 0.7), seed=3, start=datetime(2026, 11, 16, tzinfo=UTC),
                          step=step)
        base, rec = [], []
        for i in range(args.repeat):
            base.append(replay(policy, log, Path(tmp) / f"b{i}.db", record=False))
            rec.append(replay(policy, log, Path(tmp) / f"r{i}.db", record=True))
        db = Path(tmp) / "r0.db"
        with Store(db) as store:
            evals = store.query_one("SELECT COUNT(*) AS n FROM evaluations")["n"]
            stats = store.query_one("SELECT COUNT(*) AS n FROM evaluation_stats")["n"]
            builds = []
            for i in range(args.repeat):
                t0 = time.perf_counter()
                files = write_report(store, "lending-risk", parse_week("2026-W47"), Path(tmp) / f"out{i}",
                                     now=datetime(2026, 12, 1, tzinfo=UTC))
                builds.append(time.perf_counter() - t0)
        b, r = statistics.median(base), statistics.median(rec)
        print(f"log: {lines:,} lines ({n:,} predictions over one ISO week), {evals} evaluations, "
              f"{stats:,} statistic rows; SQLite file {db.stat().st_size / 1e6:.2f} MB")
        print(f"replay without recorder (baseline): {b:.2f} s median of {args.repeat}")
        print(f"replay with recorder:              {r:.2f} s  ratio {r / b:.3f} (+{(r - b) / evals * 1e3:.2f} ms "
              f"per evaluation)")
        print(f"report build + render (json {files.json_path.stat().st_size / 1e3:.0f} kB, html "
              f"{files.html_path.stat().st_size / 1e3:.0f} kB): {statistics.median(builds):.2f} s median, "
              f"{statistics.median(builds) / b:.3f} of the baseline replay")


if __name__ == "__main__":
    main()
