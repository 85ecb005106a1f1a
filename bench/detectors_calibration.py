"""False alarms of a sliding-window KS test: naive thresholds against one calibrated to a budget.

A KSDrift (window 500, read every 100 records, as a service evaluating every 100 predictions would)
on a stationary stream: how many false alarms per 10^6 records does it raise with the threshold of
one test at p < 0.05, with the default (p < 1e-5), and with the threshold
:func:`detectors.calibration.calibrate_threshold` picks for a budget of 1 false alarm per 10^6
records? The calibration simulates the whole monitoring path on streams resampled from a 30 000
value reference (a skewed, heavy-tailed feature: lognormal), and the false-alarm rates are measured on
streams drawn from held-out reference data (and, for the naive thresholds, on the same streams).

Run: ``.venv/bin/python bench/detectors_calibration.py``. Prints a table; not a test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors import KSDrift
from detectors.base import DEFAULT_ALPHA
from detectors.calibration import _path_extremes, calibrate_threshold

WINDOW, EVERY, PATH, PATHS, BUDGET = 500, 100, 20_000, 300, 1e-6


def make(ref: np.ndarray, threshold: float) -> KSDrift:
    return KSDrift(ref, window=WINDOW, threshold=threshold)


def main() -> None:
    rng = np.random.default_rng(2026)
    reference = rng.lognormal(0.0, 1.0, 30_000)
    start = time.perf_counter()
    cal = calibrate_threshold(
        make, reference, budget=BUDGET, path_length=PATH, check_every=EVERY, paths=PATHS, seed=7
    )
    took = time.perf_counter() - start
    m = 10_000  # each simulated detector is built on a third of the reference
    print(
        f"KSDrift window {WINDOW}, read every {EVERY} records, reference 30 000 lognormal values; "
        f"{PATHS} paths of {PATH} records to calibrate, {PATHS} held-out paths"
    )
    print(f"calibration took {took:.1f} s; resolution limited: {cal.resolution_limited}\n")

    # The held-out paths' extremes, once, to count alarms under each threshold.
    split = np.random.default_rng(7).permutation(reference.shape[0])
    calib, held = reference[split[:20_000]], reference[split[20_000:]]
    extremes, _ = _path_extremes(make, calib, held, np.random.default_rng(99), PATHS, PATH, EVERY, 1.0)
    records = PATHS * PATH
    print("| threshold on D | value | held-out paths with an alarm | first alarms per 10^6 records |")
    print("|---|---|---|---|")
    for label, threshold in (
        ("one test at p < 0.05", KSDrift.critical_value(0.05, WINDOW, m)),
        (f"default, p < {DEFAULT_ALPHA:g}", KSDrift.critical_value(DEFAULT_ALPHA, WINDOW, m)),
        (f"calibrated to {BUDGET:g} per record", cal.threshold),
    ):
        alarms = int(np.sum(extremes > threshold))
        print(f"| {label} | {threshold:.4f} | {alarms} / {PATHS} | {alarms / records * 1e6:.2f} |")
    print(
        f"\ncalibrate_threshold's own held-out check: {cal.held_out_alarms} alarms in "
        f"{cal.held_out_records} records = {cal.held_out_rate * 1e6:.2f} per 10^6 "
        f"(95% upper bound {cal.held_out_upper * 1e6:.2f}); budget {BUDGET * 1e6:.2f}"
    )


if __name__ == "__main__":
    main()
