"""What a checkpoint costs: snapshot + one-transaction save of the demo engine, SQLite and PostgreSQL.

    .venv/bin/python bench/checkpoint_bench.py [--repeat 20]

Baseline, measured in the same run: processing the same demo log (10,803 lines) through the engine.
The ratio says what share of a log's processing time one checkpoint costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rules
from watchdog.engine import checkpoint
from watchdog.engine.engine import Engine
from watchdog.store.store import Store

DATA = Path(str(resources.files("watchdog").joinpath("data")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    lines = [ln for ln in (DATA / "demo.jsonl").read_bytes().splitlines() if ln.strip()]
    policy = rules.load_policy(DATA / "demo_policy.yaml")
    t0 = time.perf_counter()
    engine = Engine(policy, base_dir=DATA)
    for n, raw in enumerate(lines, 1):
        engine.process_line(raw, n, "demo")
    base = time.perf_counter() - t0
    print(f"baseline: {len(lines):,} lines through the engine in {base * 1000:.0f} ms")
    size = len(checkpoint.dumps(engine.snapshot()))
    snaps = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        checkpoint.dumps(engine.snapshot())
        snaps.append(time.perf_counter() - t)
    print(f"snapshot to JSON: {size / 1024:.0f} KiB, median {statistics.median(snaps) * 1000:.1f} ms")
    restores = []
    state = checkpoint.orjson.loads(checkpoint.dumps(engine.snapshot()))
    for _ in range(args.repeat):
        fresh = Engine(policy, base_dir=DATA)
        t = time.perf_counter()
        fresh.restore(state)
        restores.append(time.perf_counter() - t)
    print(f"restore: median {statistics.median(restores) * 1000:.1f} ms")
    targets = [("sqlite", lambda tmp: str(Path(tmp) / "b.db"))]
    try:
        from tests.pg import start_postgres

        pg_cm = start_postgres()
        pg = pg_cm.__enter__()
        targets.append(("postgresql", lambda tmp: pg.create_schema("bench")))
    except Exception as e:  # the bench still reports SQLite
        pg_cm = None
        print(f"postgresql: not measured ({e})")
    try:
        for name, url_of in targets:
            with tempfile.TemporaryDirectory() as tmp, Store(url_of(tmp)) as store:
                saves = []
                for i in range(args.repeat):
                    t = time.perf_counter()
                    checkpoint.save(store, engine, {"demo": f'{{"offset": {i}}}'}, now=float(i), records=len(lines))
                    saves.append(time.perf_counter() - t)
                med = statistics.median(saves)
                stored = store.query_one("SELECT state FROM checkpoints")["state"]
                print(f"save ({name}, snapshot + one transaction): median {med * 1000:.1f} ms "
                      f"= {med / base:.3f} x the baseline's processing time; state saved {len(stored) / 1024:.0f} KiB "
                      f"(the reference is stored once in reference_samples); first save {saves[0] * 1000:.1f} ms")
    finally:
        if pg_cm is not None:
            pg_cm.__exit__(None, None, None)


if __name__ == "__main__":
    main()
