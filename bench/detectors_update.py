"""``update_many`` of the pure sliding windows: skipping the values a batch evicts again, against encoding them all.

The engine feeds each detector all the values of an evaluation interval at once (20,000 in
``bench/throughput.py``), but a window of 2,000 keeps only the last 2,000: a detector that opts in
(``_slides``) encodes those and only counts the others. Per opted-in class, this feeds batches of
20,000 values (NaN-free floats, as the engine feeds numeric features; object columns of strings
for categories and classes; rows of 3 features for PCA) to a detector with window 2,000, and to
the same detector with skipping turned off (``_slides = False``, today's path: the baseline, same
run), and prints values per second of each and their ratio. The two must end in the same
snapshot, which is checked.

Run: ``.venv/bin/python bench/detectors_update.py [--batches 20] [--repeat 3]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import detectors
from detectors import Detector
from detectors.base import _CLASSES

BATCH, WINDOW = 20_000, 2_000

rng = np.random.default_rng(0)
REF = rng.normal(size=5_000)
CAT_REF = rng.choice(["ETH", "USDC", "WBTC", "DAI"], 5_000, p=[0.4, 0.3, 0.2, 0.1])
ROWS_REF = rng.normal(size=(5_000, 3))


def numbers(n: int) -> tuple[np.ndarray, ...]:
    return (np.round(rng.normal(size=n), 5),)


def categories(n: int) -> tuple[np.ndarray, ...]:
    return (rng.choice(np.array(["ETH", "USDC", "WBTC", "DAI", "PEPE"], dtype=object), n),)


def classes(n: int) -> tuple[np.ndarray, ...]:
    labels = rng.integers(0, 3, n)
    predictions = np.where(rng.random(n) < 0.8, labels, rng.integers(0, 3, n))
    return predictions.astype(object), labels.astype(object)  # as the engine feeds a classifier's pairs


def flags(n: int) -> tuple[np.ndarray, ...]:
    return ((rng.random(n) < 0.01).astype(np.int64),)


def rows(n: int) -> tuple[np.ndarray, ...]:
    return (rng.normal(size=(n, 3)),)


CASES: dict[str, tuple[Callable[[], Detector], Callable[[int], tuple[np.ndarray, ...]]]] = {
    "KSDrift": (lambda: detectors.KSDrift(REF, window=WINDOW), numbers),
    "PSIDrift": (lambda: detectors.PSIDrift(REF, window=WINDOW), numbers),
    "WassersteinDrift": (lambda: detectors.WassersteinDrift(REF, window=WINDOW), numbers),
    "JensenShannonDrift": (lambda: detectors.JensenShannonDrift(REF, window=WINDOW), numbers),
    "WindowedPSIDrift": (lambda: detectors.WindowedPSIDrift(REF, window=WINDOW), numbers),
    "AndersonDarlingDrift": (lambda: detectors.AndersonDarlingDrift(REF, window=WINDOW), numbers),
    "QuantileKSDrift": (lambda: detectors.QuantileKSDrift(REF, window=WINDOW), numbers),
    "ChiSquareDrift": (lambda: detectors.ChiSquareDrift(CAT_REF, window=WINDOW), categories),
    "GTestDrift": (lambda: detectors.GTestDrift(CAT_REF, window=WINDOW), categories),
    "CategoricalPSIDrift": (lambda: detectors.CategoricalPSIDrift(CAT_REF, window=WINDOW), categories),
    "UnseenCategoryRate": (lambda: detectors.UnseenCategoryRate(CAT_REF, window=WINDOW), categories),
    "MissingRate": (lambda: detectors.MissingRate(window=WINDOW), numbers),
    "OutOfRangeRate": (lambda: detectors.OutOfRangeRate(REF, window=WINDOW), numbers),
    "TypeErrorRate": (lambda: detectors.TypeErrorRate(window=WINDOW), flags),
    "RollingAccuracy": (lambda: detectors.RollingAccuracy(window=WINDOW), classes),
    "RollingPrecision": (lambda: detectors.RollingPrecision(window=WINDOW), classes),
    "RollingRecall": (lambda: detectors.RollingRecall(window=WINDOW), classes),
    "PCAReconstructionDrift": (lambda: detectors.PCAReconstructionDrift(ROWS_REF, window=WINDOW), rows),
}


def feed(det: Detector, batches: list[tuple[np.ndarray, ...]]) -> float:
    """Seconds to feed every batch."""
    start = time.perf_counter()
    for batch in batches:
        det.update_many(*batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20, help="batches of 20,000 per timing")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timings per path (the best is shown: the machine is shared)"
    )
    args = parser.parse_args()
    opted = {name for name, cls in _CLASSES.items() if cls._slides}
    if opted != set(CASES):
        raise SystemExit(f"the opted-in classes changed: {sorted(opted ^ set(CASES))}")

    print(
        f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; "
        f"{args.batches} batches of {BATCH:,}, window {WINDOW:,}, best of {args.repeat}"
    )
    print(f"{'detector':<24}{'unskipped values/s':>20}{'skipped values/s':>20}{'ratio':>8}")
    for name in sorted(CASES):
        make, stream = CASES[name]
        batches = [stream(BATCH) for _ in range(args.batches)]
        plain_times, skip_times = [], []
        for _ in range(args.repeat):
            plain, skipping = make(), make()
            plain._slides = False  # the baseline: every value encoded, as before
            plain_times.append(feed(plain, batches))
            skip_times.append(feed(skipping, batches))
            if json.dumps(plain.snapshot()) != json.dumps(skipping.snapshot()):
                raise SystemExit(f"{name}: skipping changed the state")
        total = BATCH * args.batches
        plain_rate = total / min(plain_times)
        skip_rate = total / min(skip_times)
        print(f"{name:<24}{plain_rate:>20,.0f}{skip_rate:>20,.0f}{skip_rate / plain_rate:>7.1f}x")


if __name__ == "__main__":
    main()
