"""Error-stream detectors on label (concept) drift from river's synthetic generators. Prints markdown tables.

    .venv/bin/python bench/detectors_labeldrift.py            # full run (about 2 minutes on 2 vCPU)
    .venv/bin/python bench/detectors_labeldrift.py --quick    # fewer seeds, shorter streams

Streams: river.datasets.synth.ConceptDriftStream joining two concepts of one generator (SEA variant
0 -> 3 with 10% label noise; Agrawal classification function 0 -> 2), seeded per trial, with a known
``position`` and ``width``. A river HoeffdingTreeClassifier is run prequentially (predict, then learn)
and its 0/1 error stream is what every detector sees; the classifier is never reset on an alarm, so
all detectors see the same errors. Our DDM / EDDM / HDDM_A / HDDM_W (fed ``(prediction, label)``
pairs) run beside river's DDM / EDDM / HDDMA / HDDMW, and our ADWIN, Page-Hinkley and e-detector run
on the same 0/1 stream. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import river
from river import drift, tree
from river.datasets import synth

from detectors import ADWIN, DDM, EDDM, HDDM_A, HDDM_W, EDetector, PageHinkley

# ConceptDriftStream computes exp(4 (position - t) / width) and overflows (OverflowError) once that
# exponent passes ~709, so width=1 is impossible at position 5000: "abrupt" is width 50 (the share of
# the new concept goes from 12% to 88% over 50 records), "gradual" width 2000.
POSITION = 5000
WIDTHS = {"abrupt (width 50)": 50, "gradual (width 2000)": 2000}


def _generators(seed: int) -> dict[str, tuple[Any, Any]]:
    """Generator name -> (concept before, concept after), seeded."""
    return {
        "SEA 0->3, noise 0.1": (
            synth.SEA(variant=0, noise=0.1, seed=seed),
            synth.SEA(variant=3, noise=0.1, seed=seed + 50_000),
        ),
        "Agrawal f0->f2": (
            synth.Agrawal(classification_function=0, seed=seed),
            synth.Agrawal(classification_function=2, seed=seed + 50_000),
        ),
    }


def _error_stream(dataset: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Prequential HoeffdingTree: (predictions, labels), both int 0/1, n records."""
    model = tree.HoeffdingTreeClassifier()
    preds = np.empty(n, dtype=np.int64)
    labels = np.empty(n, dtype=np.int64)
    for i, (x, y) in enumerate(itertools.islice(dataset, n)):
        p = model.predict_one(x)
        preds[i] = -1 if p is None else int(p)  # no prediction yet: an error
        labels[i] = int(y)
        model.learn_one(x, y)
    return preds, labels


# -- detectors ----------------------------------------------------------------------------------------

# name -> (factory, kind): "river" is fed the 0/1 errors one at a time; "pairs" is ours fed
# (prediction, label) arrays; "values" is ours fed the 0/1 error array.
DETECTORS: dict[str, tuple[Callable[[], Any], str]] = {
    "river DDM": (lambda: drift.binary.DDM(), "river"),
    "DDM": (lambda: DDM(), "pairs"),
    "river EDDM": (lambda: drift.binary.EDDM(), "river"),
    "EDDM": (lambda: EDDM(), "pairs"),
    "river HDDMA": (lambda: drift.binary.HDDMA(), "river"),
    "HDDM_A": (lambda: HDDM_A(), "pairs"),
    "river HDDMW": (lambda: drift.binary.HDDMW(), "river"),
    "HDDM_W": (lambda: HDDM_W(), "pairs"),
    "river ADWIN": (lambda: drift.ADWIN(), "river"),
    "ADWIN": (lambda: ADWIN(), "values"),
    "river PageHinkley mode=up": (lambda: drift.PageHinkley(mode="up"), "river"),
    "PageHinkley mode=up": (lambda: PageHinkley(mode="up"), "values"),
    "PageHinkley mode=up, threshold=10": (lambda: PageHinkley(mode="up", threshold=10.0), "values"),
    "e-detector mode=up, alpha=1e-6, warm-up 500": (
        lambda: EDetector(alpha=1e-6, mode="up", warmup=500),
        "values",
    ),
}
# our detector -> river's, whose alarm indices it should reproduce
TWINS = {
    "DDM": "river DDM",
    "EDDM": "river EDDM",
    "HDDM_A": "river HDDMA",
    "HDDM_W": "river HDDMW",
    "ADWIN": "river ADWIN",
    "PageHinkley mode=up": "river PageHinkley mode=up",
}


def _run(
    make: Callable[[], Any], kind: str, preds: np.ndarray, labels: np.ndarray, errors: np.ndarray
) -> tuple[float, list[int]]:
    """(CPU seconds, alarm indices) of one fresh detector over one stream."""
    if kind == "river":
        as_list = errors.tolist()
        t0 = time.process_time()
        det = make()
        update = det.update
        alarms = []
        for i, e in enumerate(as_list):
            update(e)
            if det.drift_detected:
                alarms.append(i)
        return time.process_time() - t0, alarms
    t0 = time.process_time()
    det = make()
    if kind == "pairs":
        det.update_many(preds, labels)
    else:
        det.update_many(errors.astype(np.float64))
    dt = time.process_time() - t0
    if det.n_alarms > 1000:  # only the last 1000 positions are kept
        raise RuntimeError(f"{det.n_alarms} alarms on one stream: raise the limit of this bench")
    return dt, list(det.alarms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer seeds and shorter streams, for a smoke run"
    )
    args = parser.parse_args()
    trials, clean_n, post = (4, 5_000, 3_000) if args.quick else (20, 20_000, 5_000)
    drift_n = POSITION + post
    t_start = time.process_time()
    print(
        f"## Detectors: error stream on river concept drift — machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU, Python {platform.python_version()}, river {river.__version__}, numpy {np.__version__}"
    )

    # name -> generator -> column -> stats
    cpu = dict.fromkeys(DETECTORS, 0.0)
    n_values = 0
    identical = {name: [0, 0] for name in TWINS}  # streams with identical alarms, streams
    rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in DETECTORS}
    err_rates: dict[str, dict[str, list[float]]] = {}

    def feed(
        gen: str, column: str, preds: np.ndarray, labels: np.ndarray, change: int | None, window: int
    ) -> None:
        nonlocal n_values
        errors = (preds != labels).astype(np.int64)
        n_values += errors.shape[0]
        found: dict[str, list[int]] = {}
        for name, (make, kind) in DETECTORS.items():
            dt, alarms = _run(make, kind, preds, labels, errors)
            cpu[name] += dt
            found[name] = alarms
            cell = (
                rows[name]
                .setdefault(gen, {})
                .setdefault(column, {"alarms": 0, "n": 0, "delays": [], "missed": 0, "early": 0})
            )
            if change is None:
                cell["alarms"] += len(alarms)
                cell["n"] += errors.shape[0]
            else:
                start = change - window
                cell["early"] += sum(a < start for a in alarms)
                after = [a for a in alarms if a >= start]
                if after:
                    cell["delays"].append(after[0] - change)
                else:
                    cell["missed"] += 1
        for ours, theirs in TWINS.items():
            identical[ours][0] += found[ours] == found[theirs]
            identical[ours][1] += 1

    for seed in range(trials):
        for gen, (before, _) in _generators(seed).items():
            preds, labels = _error_stream(before, clean_n)
            err_rates.setdefault(gen, {}).setdefault("drift-free", []).append(float(np.mean(preds != labels)))
            feed(gen, "clean", preds, labels, None, 0)
        for column, width in WIDTHS.items():
            for gen, (before, after) in _generators(seed).items():
                ds = synth.ConceptDriftStream(
                    stream=before, drift_stream=after, position=POSITION, width=width, seed=seed + 100_000
                )
                preds, labels = _error_stream(ds, drift_n)
                e = preds != labels
                err_rates[gen].setdefault(column, []).append(
                    (
                        float(np.mean(e[POSITION - width // 2 - 1000 : POSITION - width // 2])),
                        float(np.mean(e[POSITION + width // 2 : POSITION + width // 2 + 1000])),
                    )
                )
                # ConceptDriftStream's sample_idx starts at 1: the new concept's share is 1/2 at 0-based index
                # POSITION - 1.
                feed(gen, column, preds, labels, POSITION - 1, width // 2)

    gens = list(_generators(0))
    print(
        f"\n{trials} seeds per generator and drift kind (seeds 0..{trials - 1}). Drift streams: {drift_n:,} records, "
        f"change at position={POSITION} (0-based index {POSITION - 1}, where the new concept's share is 1/2). "
        f"Drift-free streams: the first concept alone, {clean_n:,} records per seed "
        f"({trials * clean_n:,} per generator); false alarms per 10^6 records are extrapolated from those "
        f"{trials * clean_n:,} records. Classifier: river HoeffdingTreeClassifier (defaults), prequential, "
        "never reset.\n"
    )
    print(
        "Error rate of the classifier (mean over seeds): drift-free stream; the 1000 records before the transition "
        "(position - width/2) -> the 1000 after it (position + width/2).\n"
    )
    print("| generator | drift-free | " + " | ".join(WIDTHS) + " |")
    print("|---|---:|" + "---|" * len(WIDTHS))
    for gen in gens:
        cells = [
            f"{np.mean([b for b, _ in err_rates[gen][c]]):.3f} -> {np.mean([a for _, a in err_rates[gen][c]]):.3f}"
            for c in WIDTHS
        ]
        print(f"| {gen} | {np.mean(err_rates[gen]['drift-free']):.3f} | " + " | ".join(cells) + " |")

    print(
        "\nCells: false alarms per 10^6 drift-free records; for drift: mean delay of the first alarm at or after "
        "the start of the transition (position - width/2), counted from the change index (negative = before the "
        "midpoint of a gradual drift), then (missed changes of the trials; alarms before the transition, summed "
        "over the trials).\n"
    )
    head = []
    for gen in gens:
        head += [f"{gen}: FA/1e6", *(f"{gen}: {c}" for c in WIDTHS)]
    print("| detector | " + " | ".join(head) + " |")
    print("|---|" + "---:|" * len(head))
    for name in DETECTORS:
        cells = []
        for gen in gens:
            r = rows[name][gen]
            cells.append(f"{r['clean']['alarms'] * 1e6 / r['clean']['n']:,.0f}")
            for c in WIDTHS:
                d = r[c]
                mean_delay = f"{np.mean(d['delays']):.0f}" if d["delays"] else "-"
                cells.append(f"{mean_delay} ({d['missed']}; {d['early']})")
        print(f"| {name} | " + " | ".join(cells) + " |")

    print(
        f"\nThroughput over all {n_values:,} error values of this run (each stream a fresh detector; CPU seconds by "
        "time.process_time; river's fed value by value from a list, ours by one update_many per stream), and "
        "whether ours gave the same alarm indices as river's on every stream.\n"
    )
    print("| detector | river values/CPU s | ours values/CPU s | ratio | identical alarm indices |")
    print("|---|---:|---:|---:|---|")
    for ours, theirs in TWINS.items():
        same, total = identical[ours]
        print(
            f"| {ours} vs {theirs} | {n_values / cpu[theirs]:,.0f} | {n_values / cpu[ours]:,.0f} | "
            f"{cpu[theirs] / cpu[ours]:.2f}x | {'yes' if same == total else 'NO'}, {same}/{total} streams |"
        )
    for name in DETECTORS:
        if name not in TWINS and not name.startswith("river"):
            print(f"| {name} (no river twin) | - | {n_values / cpu[name]:,.0f} | - | - |")
    print(f"\nTotal CPU time of the run: {time.process_time() - t_start:.0f} s.")


if __name__ == "__main__":
    main()
