"""End-to-end ingest throughput on one core: 3 models x 20 numeric features, every two-sample drift detector on.

Each model has, on each of its 20 features, the four numeric two-sample drift detectors (``ks``, ``psi``,
``wasserstein``, ``jensen_shannon``, window 2,000), plus ``ks`` on its prediction: 243 detectors in all.
Reference: each model's first 5,000 predictions. The rules evaluate every ``--interval`` predictions of a
model (default 20,000). Records are interleaved between the models.

Paths, each from a fresh engine over the same records, with their decisions compared:

* baseline: the skeleton's JSON Lines path, ``Engine.process_line`` (orjson) per line;
* JSONL columnar: ``JsonlSource`` + ``feed`` (pyarrow parses blocks of lines, ``Engine.process_columns``);
* Parquet: ``TableSource`` + ``feed`` (``Engine.process_columns`` on batches of 128k rows; the file has
  row groups of 1M rows, pyarrow's default encodings and a native ``timestamp[us, UTC]`` column for ``ts``,
  as a Parquet writer stores times; the JSONL file has the same instants as RFC 3339 strings).

Each path first runs untimed over ``--warmup`` other records (another seed) with its own engine (imports,
pyarrow's memory pool, first-touch of pages), then timed over all records with a fresh engine and an empty
KS p-value cache: the figures are the steady state of a service, not the start-up of a process. Each path
also runs with the rules evaluated only once, at the end (the same detectors fed the same records): the
records/s of ingest alone, and the cost of an evaluation (its difference per evaluation), which depends on
the policy's ``interval_records``, not on the records' format.

``--long`` instead streams 10^7 records through the columnar path (tables of 128k rows made in memory, no
file) and prints the resident memory every 10^6 records.

    .venv/bin/python bench/throughput.py [--n 600000] [--interval 20000] [--warmup 60000] [--long]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rules
from detectors.twosample import _ks_p_value
from watchdog.engine.engine import Engine
from watchdog.ingest.sources import JsonlSource, TableSource
from watchdog.observe.metrics import Metrics
from watchdog.service.feed import feed

MODELS = ("m0", "m1", "m2")
FEATURES = tuple(f"f{i:02d}" for i in range(20))
KINDS = ("ks", "psi", "wasserstein", "jensen_shannon")
T0 = 1_795_000_000.0


def policy_yaml(interval: int) -> str:
    out = ["version: 1", "name: throughput-bench", "models:"]
    for m in MODELS:
        out += [f"  - id: {m}", f"    module: {m}", "    prediction: {type: numeric}", "    features:"]
        out += [f"      - {{name: {f}, type: numeric}}" for f in FEATURES]
        out += ["    reference: {first_n: 5000}", "    detectors:"]
        for f in FEATURES:
            out += [f"      - {{name: {k}_{f}, kind: {k}, feature: {f}, window: 2000}}" for k in KINDS]
        out += ["      - {name: ks_prediction, kind: ks, window: 2000}"]
    out += ["groups:", "  - name: drift", f"    interval_records: {interval}", "    rules:"]
    for m in MODELS:
        out += [f"      - name: Drift_{m}", f"        model: {m}",
                "        condition: {detector: ks_f00, statistic: p_value, op: '<', threshold: 1.0e-12}",
                "        for: 2", "        labels: {severity: routine}",
                "        annotations: {summary: drift, runbook_url: 'https://example.org/r'}",
                "        actions: [alert]"]
    return "\n".join(out) + "\n"


def columns(start: int, n: int, seed: int) -> dict[str, np.ndarray]:
    """Records start..start+n: models round-robin; f00 shifts for records 300,000..500,000 of every 500,000."""
    rng = np.random.default_rng(seed)
    idx = np.arange(start, start + n)
    cols: dict[str, np.ndarray] = {"i": idx}
    for j, f in enumerate(FEATURES):
        cols[f] = np.round(rng.normal(j * 0.1, 1.0, n), 5)
    cols["f00"] = cols["f00"] + np.where(idx % 500_000 > 300_000, 0.8, 0.0)
    cols["prediction"] = np.round(rng.random(n), 5)
    return cols


def table(start: int, n: int, seed: int) -> pa.Table:
    c = columns(start, n, seed)
    idx = c["i"]
    ts = pa.array((T0 + idx * 0.001) * 1e6, pa.float64()).cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return pa.table({
        "model": pa.array(np.array(MODELS, dtype=object)[idx % 3], pa.string()),
        "version": pa.array(["1"] * n, pa.string()),
        "ts": pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ"),  # %S carries the microseconds
        "id": pc.binary_join_element_wise("r-", pa.array(idx).cast(pa.string()), ""),
        "prediction": c["prediction"],
        **{f"features.{f}": c[f] for f in FEATURES},
    })


def write_inputs(where: Path, n: int, seed: int = 1) -> tuple[Path, Path]:
    t = table(0, n, seed=seed)
    pq_path = where / "records.parquet"
    native = t.set_column(t.column_names.index("ts"), "ts", pc.cast(t.column("ts"), pa.timestamp("us", tz="UTC")))
    pq.write_table(native, pq_path, row_group_size=1 << 20)
    jsonl = where / "records.jsonl"
    rows = t.to_pylist()
    with open(jsonl, "wb") as f:
        f.writelines(orjson.dumps({"model": r["model"], "version": r["version"], "ts": r["ts"], "id": r["id"],
                                  "features": {k: r[f"features.{k}"] for k in FEATURES},
                                  "prediction": r["prediction"]}) + b"\n" for r in rows)
    return jsonl, pq_path


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def engine(policy: Path) -> Engine:
    return Engine(rules.load_policy(policy), base_dir=policy.parent, metrics=Metrics())


def run(policy: Path, fn, files: dict[str, tuple[Path, Path]]) -> tuple[float, int, Engine]:
    """CPU seconds (``time.process_time``: the box is shared) of one timed run over the main files, the
    number of evaluations, the engine. ``fn(engine, (jsonl, parquet))`` runs first, untimed, over the
    warm-up files with its own engine."""
    fn(engine(policy), files["warmup"])
    _ks_p_value.cache_clear()  # each run starts with no KS p-value remembered
    eng = engine(policy)
    count = [0]
    evaluate = eng.evaluate

    def counted(*a, **kw):
        count[0] += 1
        return evaluate(*a, **kw)

    eng.evaluate = counted  # type: ignore[method-assign]
    cpu = time.process_time()
    fn(eng, files["main"])
    eng.finish()
    return time.process_time() - cpu, count[0], eng


def decisions(eng: Engine) -> list[tuple]:
    return [(d.kind, d.model, d.rule, d.record_index, round(d.value, 12)) for d in eng.decisions]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600_000)
    ap.add_argument("--interval", type=int, default=20_000)
    ap.add_argument("--warmup", type=int, default=60_000, help="records run through each path first, untimed")
    ap.add_argument("--long", action="store_true", help="only: 10^7 records through the columnar path, RSS")
    args = ap.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} vCPU, Python {platform.python_version()}, "
          f"pyarrow {pa.__version__}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as d:
        where = Path(d)
        policy = where / "policy.yaml"
        policy.write_text(policy_yaml(args.interval))
        if args.long:
            long_run(policy)
            return
        t = time.perf_counter()
        (where / "warmup").mkdir()
        files = {"main": write_inputs(where, args.n), "warmup": write_inputs(where / "warmup", args.warmup, seed=2)}
        jsonl, pq_path = files["main"]
        print(f"inputs: {args.n:,} records, JSONL {jsonl.stat().st_size / 1e6:.0f} MB, Parquet "
              f"{pq_path.stat().st_size / 1e6:.0f} MB (made in {time.perf_counter() - t:.1f} s); "
              f"{len(MODELS)} models x {len(FEATURES)} features, {len(MODELS) * (len(FEATURES) * len(KINDS) + 1)} "
              f"detectors, evaluation every {args.interval:,} predictions per model; warm-up {args.warmup:,} records")

        def baseline(e: Engine, f: tuple[Path, Path]) -> None:
            with open(f[0], "rb") as fh:
                for number, raw in enumerate(fh, 1):
                    line = raw.rstrip(b"\r\n")
                    if line.strip():
                        e.process_line(line, number, "bench")

        def jsonl_columnar(e: Engine, f: tuple[Path, Path]) -> None:
            for b in JsonlSource(f[0]).batches():
                feed(e, b)

        def parquet(e: Engine, f: tuple[Path, Path]) -> None:
            for b in TableSource(f[1]).batches():
                feed(e, b)

        quiet = where / "quiet.yaml"  # the same detectors fed the same records, rules evaluated once at the end
        quiet.write_text(policy_yaml(10**12))
        paths = (("baseline: Engine.process_line per line", baseline),
                 ("JSONL columnar (JsonlSource + feed)", jsonl_columnar), ("Parquet (TableSource + feed)", parquet))
        n = args.n
        print(f"CPU seconds of this process (one thread, time.process_time); load average {os.getloadavg()[0]:.1f}")
        print(f"{'path':<42}{'cpu s':>7}{'records/s':>12}{'vs base':>9}{'evals':>7}{'ms/eval':>9}"
              f"{'cpu s, no evals':>17}{'records/s':>12}{'vs base':>9}")
        rows, got = [], []
        for name, fn in paths:
            s_all, evals, eng = run(policy, fn, files)
            s_quiet, quiet_evals, _ = run(quiet, fn, files)
            got.append(decisions(eng))
            rows.append((name, s_all, evals, s_quiet, quiet_evals))
            base_all, base_quiet = rows[0][1], rows[0][3]
            print(f"{name:<42}{s_all:>7.2f}{n / s_all:>12,.0f}{base_all / s_all:>8.1f}x{evals:>7}"
                  f"{1e3 * (s_all - s_quiet) / max(1, evals - quiet_evals):>9.1f}{s_quiet:>17.2f}{n / s_quiet:>12,.0f}"
                  f"{base_quiet / s_quiet:>8.1f}x", flush=True)
        same = all(g == got[0] for g in got)
        print(f"decisions: {len(got[0])} on the baseline path; identical on all three paths: {same}; "
              "ms/eval = (cpu s - cpu s without evaluations) / the evaluations saved")
        if not same:
            raise SystemExit("the paths disagree")


def long_run(policy: Path) -> None:
    """10^7 records through the columnar path in tables of 128k rows (the Parquet source's batches) made in
    memory with native timestamps; RSS after every 10^6 records."""
    eng = engine(policy)
    chunk, total = 1 << 17, 10_000_000
    marks = [rss_mb()]
    spent = 0.0
    for k in range(0, total, chunk):
        tbl = table(k, min(chunk, total - k), seed=k)
        tbl = tbl.set_column(tbl.column_names.index("ts"), "ts",
                             pc.cast(tbl.column("ts"), pa.timestamp("us", tz="UTC")))
        t = time.process_time()
        eng.process_columns(tbl, first_line=k + 1, source="mem")
        spent += time.process_time() - t
        del tbl
        if (k + chunk) // 1_000_000 > k // 1_000_000:
            marks.append(rss_mb())
    eng.finish()
    print(f"long run: {total:,} records through Engine.process_columns in {spent:.1f} CPU s "
          f"({total / spent:,.0f} records/s, evaluation included; making the tables not counted); "
          f"{len(eng.decisions)} decisions")
    print("RSS MB at start and after each 10^6 records: " + ", ".join(f"{m:.0f}" for m in marks))


if __name__ == "__main__":
    main()
