"""Change-point benchmark: online detectors and offline segmenters on seeded series with known change points.

    .venv/bin/python bench/changepoint.py            # full run (about 5 CPU minutes: 310 s measured)
    .venv/bin/python bench/changepoint.py --quick    # smaller sizes, under a minute (about 15 CPU seconds)

Needs ``ruptures`` (``pip install ruptures``) for the offline rows. Prints markdown tables; not a test.

**Series.** Synthetic families, seeded, 300 to 3,000 values, unit noise unless said: abrupt mean
shifts (1, 2 or 3 sigma), variance shifts (sigma in {0.5, 1, 2, 3}), gradual drift (a ramp of 100
to 200 values; the change point annotated is where the ramp begins), a linear trend plus mean shifts,
a sinusoid (period 100, amplitude 1) plus mean shifts, Student-t(3) noise (unit variance) plus mean
shifts, AR(1) noise (phi 0.5 and 0.9, unit marginal variance) with and without mean shifts, and
i.i.d. N(0, 1) with no change at all. One annotator per series (the generator). No real series:
the installed packages ship none with change-point annotations (river's bundled datasets, such as
Airline passengers, Water flow, ChickWeights or TrumpApproval, carry no change-point labels).

**Metrics.** F1 with a margin of 5 values and segmentation covering, as defined by van den Burg &
Williams 2020 (``bench/cpd_metrics.py``), averaged over all series. Online detectors are scored on
their alarms (each alarm a change point; detectors that reset after an alarm go on), BOCPD on the
change point it estimates at each alarm (and, in a row of its own, on its alarms). False alarms
per 10^6 values on long i.i.d. N(0, 1) and AR(1) streams (offline methods: run on consecutive
pieces of 2,000 values, each change point found a false alarm); detection delay after a +1 sigma
mean shift that follows 1,000 clean values (alarms before the shift restart the detector; a shift
not found within 500 values counts as missed).

**Settings.** One fixed setting per detector, the same on every series: the class defaults of
``detectors`` and of river, ruptures ``Pelt`` and ``Binseg`` with ``model="l2"`` (its defaults
``min_size=2, jump=5``) and penalty ``2 log(n) sigma^2``, sigma estimated robustly as the median
absolute deviation of first differences / (0.6745 sqrt 2) (the offline methods see the whole series).
Each sequential detector of ours is scored twice on the same run: on its alarms and on the change point each
alarm estimates (``change_points``); and once more with AR(1) pre-whitening (``whiten``) the other way round
from its default (the e-detector whitens by default, the others do not).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpd_metrics import covering, f_measure
from river import drift

from detectors.bocpd import BOCPD
from detectors.evalue import EDetector
from detectors.sequential import ADWIN, CUSUM, KSWIN, PageHinkley

try:
    import ruptures as rpt
except ImportError:  # pragma: no cover - the offline rows are left out
    rpt = None

MARGIN = 5

# -- series -----------------------------------------------------------------------------------------


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """AR(1) noise of unit marginal variance."""
    e = rng.normal(0.0, math.sqrt(1 - phi * phi), n)
    x = np.empty(n)
    x[0] = rng.normal()
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def _change_points(rng: np.random.Generator, n: int, most: int) -> list[int]:
    """Between 1 and ``most`` change points, segments at least max(60, n / 10) long."""
    shortest = max(60, n // 10)
    for _ in range(1000):
        k = int(rng.integers(1, most + 1))
        cps = sorted(int(c) for c in rng.integers(shortest, n - shortest, k))
        bounds = [0, *cps, n]
        if all(b - a >= shortest for a, b in itertools.pairwise(bounds)):
            return cps
    return [n // 2]


def _levels(rng: np.random.Generator, n: int, cps: list[int]) -> np.ndarray:
    """Piecewise-constant means, each jump of 1, 2 or 3 in either direction."""
    means = np.zeros(n)
    level = 0.0
    for c in cps:
        level += rng.choice([-1.0, 1.0]) * rng.choice([1.0, 2.0, 3.0])
        means[c:] = level
    return means


def _family(name: str, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    n = int(rng.choice([300, 600, 1000, 2000, 3000]))
    if name == "no change":
        return rng.normal(size=n), []
    if name.startswith("AR(1)") and name.endswith("no change"):
        return _ar1(rng, n, 0.5 if "0.5" in name else 0.9), []
    cps = _change_points(rng, n, 4)
    if name == "mean shift":
        return _levels(rng, n, cps) + rng.normal(size=n), cps
    if name == "variance shift":
        sigma = np.ones(n)
        current = 1.0
        for c in cps:
            current = float(rng.choice([s for s in (0.5, 1.0, 2.0, 3.0) if s != current]))
            sigma[c:] = current
        return rng.normal(0.0, sigma), cps
    if name == "gradual drift":
        means = np.zeros(n)
        level = 0.0
        bounds = [*cps, n]
        for c, nxt in itertools.pairwise(bounds):
            ramp = min(int(rng.integers(100, 201)), nxt - c)
            step = rng.choice([-1.0, 1.0]) * rng.choice([2.0, 3.0])
            means[c : c + ramp] = level + step * np.arange(1, ramp + 1) / ramp
            level += step
            means[c + ramp :] = level
        return means + rng.normal(size=n), cps
    if name == "trend + shifts":
        trend = 2.0 * np.arange(n) / n
        return trend + _levels(rng, n, cps) + rng.normal(size=n), cps
    if name == "seasonality + shifts":
        season = np.sin(2 * np.pi * np.arange(n) / 100)
        return season + _levels(rng, n, cps) + rng.normal(size=n), cps
    if name == "Student-t(3) + shifts":
        return _levels(rng, n, cps) + rng.standard_t(3, n) / math.sqrt(3), cps
    if name in ("AR(1) 0.5 + shifts", "AR(1) 0.9 + shifts"):
        return _levels(rng, n, cps) + _ar1(rng, n, 0.5 if "0.5" in name else 0.9), cps
    raise ValueError(name)


FAMILIES = [
    "mean shift",
    "variance shift",
    "gradual drift",
    "trend + shifts",
    "seasonality + shifts",
    "Student-t(3) + shifts",
    "AR(1) 0.5 + shifts",
    "AR(1) 0.9 + shifts",
    "AR(1) 0.5 no change",
    "AR(1) 0.9 no change",
    "no change",
]


def series(per_family: int) -> list[tuple[str, np.ndarray, list[int]]]:
    out = []
    for f, name in enumerate(FAMILIES):
        for i in range(per_family):
            values, cps = _family(name, np.random.default_rng(1000 * f + i))
            out.append((name, values, cps))
    return out


# -- detectors -------------------------------------------------------------------------------------


@dataclass
class Method:
    name: str
    run: Callable[[np.ndarray], list[int]]
    online: bool = True
    cpu: float = 0.0
    # Alarm positions, for false alarms and delays, when ``run`` gives estimated change points.
    alarms: Callable[[np.ndarray], list[int]] | None = None


def _ours(
    make: Callable[[], Any], use_change_points: bool = False, shared: dict[bytes, Any] | None = None
) -> Callable[[np.ndarray], list[int]]:
    """Alarms (or estimated change points) of a detector of ours; rows built on the same ``shared``
    dict run each series once (the second row's CPU time is then only the look-up)."""

    def run(values: np.ndarray) -> list[int]:
        key = hashlib.sha1(values.tobytes()).digest()
        if shared is not None and key in shared:
            det = shared[key]
        else:
            det = make()
            for lo in range(0, values.shape[0], 100_000):
                det.update_many(values[lo : lo + 100_000])
            if shared is not None:
                shared[key] = det
        if det.n_alarms > len(det.alarms):  # only the count is kept past 1000: the count is what is used
            return list(range(det.n_alarms))
        return det.change_points if use_change_points else det.alarms

    return run


def _river(make: Callable[[], Any]) -> Callable[[np.ndarray], list[int]]:
    def run(values: np.ndarray) -> list[int]:
        det = make()
        alarms = []
        update = det.update
        for i, x in enumerate(values.tolist()):
            update(x)
            if det.drift_detected:
                alarms.append(i)
        return alarms

    return run


def _noise_sigma(values: np.ndarray) -> float:
    d = np.diff(values)
    sigma = float(np.median(np.abs(d - np.median(d)))) / 0.6745 / math.sqrt(2)
    return sigma if sigma > 0 else float(np.std(values)) or 1.0


def _ruptures(algo: str) -> Callable[[np.ndarray], list[int]]:
    def run(values: np.ndarray) -> list[int]:
        n = values.shape[0]
        pen = 2 * math.log(n) * _noise_sigma(values) ** 2
        cls = rpt.Pelt if algo == "pelt" else rpt.Binseg
        return [b for b in cls(model="l2").fit(values).predict(pen=pen) if b < n]

    return run


_WHITE_WARMUP = 100
_WHITEN = 200  # values the generic AR(1) pre-whitening of the sequential detectors is fitted on


def _whitened() -> BOCPD:
    return BOCPD(prewhiten=True, warmup=_WHITE_WARMUP)


_SEQUENTIAL = (ADWIN, PageHinkley, CUSUM, KSWIN, EDetector)


def _other_whiten(cls: type) -> int:
    """``whiten`` the other way round from the class's default: ``_WHITEN`` where it is off, 0 where it is on."""
    return 0 if cls().whiten else _WHITEN


def methods() -> list[Method]:
    plain: dict[bytes, Any] = {}
    white: dict[bytes, Any] = {}
    runs: dict[str, dict[bytes, Any]] = {n: {} for c in _SEQUENTIAL for n in (c.__name__, f"w{c.__name__}")}
    out = [
        Method("BOCPD (change points)", _ours(BOCPD, True, plain), alarms=_ours(BOCPD, False, plain)),
        Method("BOCPD (alarms)", _ours(BOCPD, False, plain)),
        Method(
            f"BOCPD prewhiten=True, warmup={_WHITE_WARMUP} (change points)",
            _ours(_whitened, True, white),
            alarms=_ours(_whitened, False, white),
        ),
        *(Method(cls.__name__, _ours(cls, False, runs[cls.__name__])) for cls in _SEQUENTIAL),
        # the same runs scored on where each alarm's change began (``change_points``), not on the alarm
        *(Method(f"{cls.__name__} (change points)", _ours(cls, True, runs[cls.__name__]),
                 alarms=_ours(cls, False, runs[cls.__name__])) for cls in _SEQUENTIAL),
        # and with pre-whitening the other way round from the class default (on where it is off, off where on)
        *(Method(f"{cls.__name__} whiten={_other_whiten(cls)} (change points)",
                 _ours(lambda cls=cls: cls(whiten=_other_whiten(cls)), True, runs[f"w{cls.__name__}"]),
                 alarms=_ours(lambda cls=cls: cls(whiten=_other_whiten(cls)), False, runs[f"w{cls.__name__}"]))
          for cls in _SEQUENTIAL),
        Method("river ADWIN", _river(drift.ADWIN)),
        Method("river PageHinkley", _river(drift.PageHinkley)),
    ]
    if rpt is not None:
        out += [
            Method("ruptures Pelt l2", _ruptures("pelt"), online=False),
            Method("ruptures Binseg l2", _ruptures("binseg"), online=False),
        ]
    out.append(Method("never alarm", lambda values: [], online=True))
    return out


# -- measurements ------------------------------------------------------------------------------------


def _timed(method: Method, values: np.ndarray, alarms: bool = False) -> list[int]:
    t0 = time.process_time()
    found = (method.alarms or method.run)(values) if alarms else method.run(values)
    method.cpu += time.process_time() - t0
    return found


def false_alarms(method: Method, stream: np.ndarray, offline_values: int) -> float:
    if method.online:
        return len(_timed(method, stream, alarms=True)) * 1e6 / stream.shape[0]
    piece, found = 2000, 0
    used = min(offline_values, stream.shape[0])
    for lo in range(0, used - piece + 1, piece):
        found += len(_timed(method, stream[lo : lo + piece]))
    return found * 1e6 / (used // piece * piece)


def delay(method: Method, trials: int) -> str:
    if not method.online:
        return "n/a (offline)"
    delays, missed = [], 0
    for t in range(trials):
        rng = np.random.default_rng(50_000 + t)
        values = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 500)])
        after = [a - 1000 for a in _timed(method, values, alarms=True) if a >= 1000]
        if after:
            delays.append(after[0])
        else:
            missed += 1
    mean = f"{np.mean(delays):.1f}" if delays else "-"
    return f"{mean} ({missed} missed)" if missed else mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--per-family", type=int, help="series per family (default 8, quick 2)")
    parser.add_argument("--long", type=int, help="values of each false-alarm stream (default 10^6, quick 2*10^4)")
    args = parser.parse_args()
    per_family = args.per_family or (2 if args.quick else 8)
    long_n = args.long or (20_000 if args.quick else 1_000_000)
    offline_n = min(long_n, 10_000 if args.quick else 100_000)
    trials = 5 if args.quick else 40
    wall0, cpu0 = time.perf_counter(), time.process_time()
    print(
        f"## Change points — {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}, "
        f"numpy {np.__version__}{', ruptures ' + rpt.__version__ if rpt else ', no ruptures'}; "
        f"{'quick' if args.quick else 'full'} run: {per_family} series per family ({len(FAMILIES)} families), "
        f"false-alarm streams of {long_n:,} values ({offline_n:,} for offline methods), {trials} delay trials\n"
    )
    data = series(per_family)
    streams = {
        "iid": np.random.default_rng(7).normal(size=long_n),
        "AR 0.5": _ar1(np.random.default_rng(8), long_n, 0.5),
        "AR 0.9": _ar1(np.random.default_rng(9), long_n, 0.9),
    }
    rows, by_family = [], {}
    for method in methods():
        f1s, covers = [], []
        family_f1: dict[str, list[float]] = {}
        for name, values, cps in data:
            found = _timed(method, values)
            f1 = f_measure([cps], found, MARGIN)[0]
            f1s.append(f1)
            covers.append(covering([cps], found, values.shape[0]))
            family_f1.setdefault(name, []).append(f1)
        fa = [false_alarms(method, s, offline_n) for s in streams.values()]
        rows.append((method, float(np.mean(covers)), float(np.mean(f1s)), fa, delay(method, trials)))
        by_family[method.name] = {k: float(np.mean(v)) for k, v in family_f1.items()}
        print(f"<!-- {method.name}: {method.cpu:.1f} s CPU -->", flush=True)
    print()
    print(
        "| detector | covering | F1 (margin 5) | false alarms / 10^6 iid | AR(1) 0.5 | AR(1) 0.9 | "
        "delay after +1 sigma | CPU s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for method, cover, f1, fa, dl in rows:
        cells = " | ".join(f"{v:,.0f}" if v >= 10 else f"{v:.1f}" for v in fa)
        print(f"| {method.name} | {cover:.3f} | {f1:.3f} | {cells} | {dl} | {method.cpu:.1f} |")
    print("\nF1 by family (margin 5):\n")
    print("| detector | " + " | ".join(FAMILIES) + " |")
    print("|---|" + "---:|" * len(FAMILIES))
    for name, scores in by_family.items():
        print(f"| {name} | " + " | ".join(f"{scores[f]:.2f}" for f in FAMILIES) + " |")
    print(
        f"\nTotal: {time.process_time() - cpu0:.1f} s CPU (time.process_time), "
        f"{time.perf_counter() - wall0:.1f} s wall."
    )


if __name__ == "__main__":
    main()
