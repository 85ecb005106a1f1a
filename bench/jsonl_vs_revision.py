"""The JSONL path of this checkout against another revision's, in alternating processes (CPU seconds).

"No slower than before" is a claim about two trees on one machine at one time. This bench makes a git worktree of
``--rev`` (default: the commit before the engine-core redesign), writes the throughput bench's inputs once (3 models
x 20 features, 243 detectors, the rules every ``--interval`` predictions), and runs ``JsonlSource`` + ``feed`` over
the same file in child processes that alternate between the two trees, ``--rounds`` times. Each child runs the path
once untimed (imports, pyarrow's pool) and then ``--repeat`` times timed; it reports its median CPU seconds
(``time.process_time``) and wall seconds, and the decisions, which must be the same in both trees::

    .venv/bin/python bench/jsonl_vs_revision.py [--rev 71f73ed] [--n 200000] [--rounds 5] [--repeat 3] [--lines]

``--lines`` times the line path instead (``feed(..., columnar=False)``: each line parsed with orjson).

It prints both trees' medians over the rounds, the ratio, and the load average at the start and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r'''
import importlib, json, os, statistics, sys, time
os.environ.setdefault("OMP_NUM_THREADS", "1")
tree, source, policy_path, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
columnar = sys.argv[5] == "columnar"
sys.path.insert(0, tree)
import rules
def first(*names):  # the first of the names that this tree defines (an editable install may offer the other's)
    for module, name in names:
        try:
            obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if os.path.realpath(sys.modules[obj.__module__].__file__).startswith(os.path.realpath(tree)):
            return obj
    raise ImportError(f"{tree} defines none of {names}")
Engine = first(("watchdog.engine.engine", "Engine"), ("watchdog.engine", "Engine"))
Metrics = first(("watchdog.observe.metrics", "Metrics"), ("watchdog.metrics", "Metrics"))
JsonlSource = first(("watchdog.ingest.sources", "JsonlSource"), ("watchdog.sources", "JsonlSource"))
feed = first(("watchdog.service.feed", "feed"), ("watchdog.sources.base", "feed"))
assert os.path.realpath(sys.modules["watchdog"].__file__).startswith(os.path.realpath(tree))
policy = rules.load_policy(policy_path)
def run():
    eng = Engine(policy, base_dir=os.path.dirname(policy_path), metrics=Metrics())
    c, w = time.process_time(), time.perf_counter()
    for batch in JsonlSource(source).batches():
        feed(eng, batch, columnar=columnar)
    eng.finish()
    return time.process_time() - c, time.perf_counter() - w, [[d.rule, d.kind, d.record_index] for d in eng.decisions]
run()
runs = [run() for _ in range(repeat)]
print(json.dumps({"cpu": statistics.median(r[0] for r in runs), "wall": statistics.median(r[1] for r in runs),
                  "decisions": runs[0][2]}))
'''


def _throughput_bench():  # the inputs and policy of bench/throughput.py
    import importlib.util

    spec = importlib.util.spec_from_file_location("throughput", REPO / "bench" / "throughput.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO))
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", default="71f73ed", help="the revision to compare with (default: before the redesign)")
    p.add_argument("--n", type=int, default=200_000, help="JSON lines")
    p.add_argument("--interval", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3, help="timed runs in each child")
    p.add_argument("--lines", action="store_true", help="the line path (feed(columnar=False): orjson per line)")
    args = p.parse_args()
    tp = _throughput_bench()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        base = where / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.rev],
                       check=True, capture_output=True)
        try:
            source, _ = tp.write_inputs(where, args.n)
            policy = where / "policy.yaml"
            policy.write_text(tp.policy_yaml(args.interval))
            got: dict[str, list[dict]] = {"this": [], args.rev: []}
            for _ in range(args.rounds):
                for name, tree in (("this", REPO), (args.rev, base)):
                    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(source), str(policy),
                                          str(args.repeat), "lines" if args.lines else "columnar"],
                                         check=True, capture_output=True, text=True)
                    got[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], capture_output=True)
    path = "the line path, feed(columnar=False)" if args.lines else "JsonlSource + feed"
    print(f"{args.n:,} JSON lines, {path}, {args.rounds} alternating rounds x {args.repeat} timed runs; "
          f"load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    med = {}
    for name, runs in got.items():
        cpu = statistics.median(r["cpu"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        med[name] = cpu
        print(f"  {name:>10}: CPU {cpu:.3f} s median (min {min(r['cpu'] for r in runs):.3f}), wall {wall:.3f} s, "
              f"{args.n / cpu:,.0f} records per CPU second")
    same = all(r["decisions"] == got["this"][0]["decisions"] for rs in got.values() for r in rs)
    print(f"  this / {args.rev}: {med['this'] / med[args.rev]:.3f} of the CPU time; decisions identical: {same}")


if __name__ == "__main__":
    main()
