"""What the JSON nesting guard costs: JSONL through ``feed`` with the guard and with it switched off, same process.

The guard (``watchdog.ingest.columnar._alone``) counts each line's opening brackets before pyarrow reads a block,
so a line nested past 16 levels goes to the line path (libarrow's JSON reader crashes at about 20,000 levels and
spends a minute at 12,000). This bench replays the throughput bench's inputs (3 models x 20 features, the same
policy) and reports CPU seconds (``time.process_time``), median and minimum of ``--repeat`` runs, alternating
guard on and off, with the decisions compared::

    .venv/bin/python bench/nesting_guard.py --n 200000 --repeat 7
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rules
import watchdog.ingest.columnar as columnar
from watchdog.engine.engine import Engine
from watchdog.ingest.sources import JsonlSource
from watchdog.observe.metrics import Metrics
from watchdog.service.feed import feed


def _throughput_bench():  # the inputs and policy of bench/throughput.py
    spec = importlib.util.spec_from_file_location("throughput", REPO / "bench" / "throughput.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--interval", type=int, default=20_000)
    args = p.parse_args()
    tp = _throughput_bench()
    guard = columnar._alone
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        source, _ = tp.write_inputs(where, args.n)
        policy_path = where / "policy.yaml"
        policy_path.write_text(tp.policy_yaml(args.interval))
        policy = rules.load_policy(policy_path)

        def run(on: bool) -> tuple[float, list[tuple]]:
            columnar._alone = guard if on else (lambda part, body: [])
            eng = Engine(policy, base_dir=where, metrics=Metrics())
            t = time.process_time()
            for batch in JsonlSource(source).batches():
                feed(eng, batch)
            eng.finish()
            return time.process_time() - t, [(d.rule, d.kind, d.record_index) for d in eng.decisions]

        run(True), run(False)  # warm up
        times: dict[bool, list[float]] = {True: [], False: []}
        decisions = set()
        for _ in range(args.repeat):
            for on in (True, False):
                cpu, ds = run(on)
                times[on].append(cpu)
                decisions.add(tuple(ds))
        columnar._alone = guard
    print(f"{args.n:,} JSON lines, {args.repeat} runs each, alternating; CPU seconds (process time); "
          f"load average {os.getloadavg()[0]:.1f}")
    for on in (True, False):
        ts = sorted(times[on])
        print(f"  guard {'on ' if on else 'off'}: median {ts[len(ts) // 2]:.3f} s, min {ts[0]:.3f} s, "
              f"{args.n / ts[len(ts) // 2]:,.0f} records/s")
    on, off = sorted(times[True])[args.repeat // 2], sorted(times[False])[args.repeat // 2]
    print(f"  the guard costs {100 * (on / off - 1):+.1f} % of the JSONL path; decisions identical: "
          f"{len(decisions) == 1}")


if __name__ == "__main__":
    main()
