"""Two-sample drift on the Evidently workload: our detectors against Evidently, in the same run.

Workload: 100 000 reference rows and 100 000 current rows of 20 numeric features (standard normal,
seeded); features f03, f07, f11, f15 and f19 of the current rows are shifted by 0.1 standard
deviation. Wanted: all five flagged, none of the other fifteen, at least 50x faster than Evidently.

Ours: one :class:`detectors.QuantileKSDrift` per feature (reference summarised once in 1 024
quantiles, window of the 100 000 current rows), its KS p-value, Bonferroni across the 20 features
at a family-wise 1e-3. Timed end to end: building the detectors (sorting each reference column),
feeding the current rows, reading the p-values and correcting them. Also shown: the exact
:class:`detectors.KSDrift` and :class:`detectors.WassersteinDrift` (Evidently's statistic and
threshold), for comparison.

Evidently (0.7, ``Report([DataDriftPreset()])``, its defaults: normalised Wasserstein distance with
threshold 0.1 for samples above 1 000) runs in a virtual environment of its own, because it depends
on the filesystem library also named ``watchdog`` that would shadow ours. The script creates it
(``python3 -m venv bench/.venv-evidently`` and ``pip install evidently 'pandas<3'``) if missing,
saves the data to a ``.npz`` and runs Evidently on it in a subprocess, timing ``report.run`` there.

Run: ``.venv/bin/python bench/detectors_drift.py [--repeat 3]``. Prints a table; not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detectors import KSDrift, QuantileKSDrift, WassersteinDrift
from detectors.calibration import bonferroni

ROWS, FEATURES, SHIFT = 100_000, 20, 0.1
SHIFTED = (3, 7, 11, 15, 19)
FAMILY_ALPHA = 1e-3
VENV = ROOT / "bench" / ".venv-evidently"

EVIDENTLY_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

data = np.load(sys.argv[1])
names = [str(n) for n in data["names"]]
ref = pd.DataFrame(data["reference"].T, columns=names)
cur = pd.DataFrame(data["current"].T, columns=names)
times, flagged = [], None
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    result = snapshot.dict()
    times.append(time.perf_counter() - start)
    flagged, methods = [], set()
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            methods.add(config["method"])
            if metric["value"] >= config["threshold"]:
                flagged.append(config["column"])
import evidently
print(json.dumps({"times": times, "flagged": sorted(flagged), "methods": sorted(methods),
                  "version": evidently.__version__}))
"""


def make_data(seed: int = 2026) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Columns as rows (features x records): how a column store such as a DataFrame holds them."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(FEATURES, ROWS))
    current = rng.normal(size=(FEATURES, ROWS))
    current[list(SHIFTED)] += SHIFT
    return reference, current, [f"f{j:02d}" for j in range(FEATURES)]


def ours_quantile_ks(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    p = np.empty(FEATURES)
    for j in range(FEATURES):
        det = QuantileKSDrift(reference[j], window=ROWS)
        det.update_many(current[j])
        p[j] = det.read("p_value")
    return bonferroni(p, alpha=FAMILY_ALPHA)


def ours_exact_ks(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    # The exact distance against the Bonferroni critical distance (KSDrift's own p-value is
    # scipy's kstwo, ~50 ms each at these sizes: the critical value is the same test).
    flags = np.empty(FEATURES, dtype=bool)
    for j in range(FEATURES):
        det = KSDrift(reference[j], window=ROWS)
        det.update_many(current[j])
        flags[j] = det.statistic > KSDrift.critical_value(FAMILY_ALPHA / FEATURES, ROWS, ROWS)
    return flags


def ours_wasserstein(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    flags = np.empty(FEATURES, dtype=bool)
    for j in range(FEATURES):
        det = WassersteinDrift(reference[j], window=ROWS, threshold=0.1)
        det.update_many(current[j])
        flags[j] = det.statistic >= 0.1
    return flags


def timed(
    fn, reference: np.ndarray, current: np.ndarray, repeat: int
) -> tuple[float, list[float], np.ndarray]:
    times, flags = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        flags = fn(reference, current)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, flags


def ensure_evidently() -> str | None:
    """Path of the Evidently venv's python, creating the venv if needed; None if that fails."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python)
    print(f"creating {VENV} and installing evidently (once)...", flush=True)
    steps = [
        ["python3", "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "-q", "evidently", "pandas<3"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"could not set up Evidently: {' '.join(step)} failed:\n{done.stderr[-2000:]}")
            return None
    return str(python) if subprocess.run(probe, capture_output=True, check=False).returncode == 0 else None


def names_of(flags: np.ndarray, names: list[str]) -> list[str]:
    return [n for n, f in zip(names, flags, strict=False) if f]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (median reported)")
    args = parser.parse_args()

    reference, current, names = make_data()
    expected = [names[j] for j in SHIFTED]
    print(
        f"workload: {ROWS} reference vs {ROWS} current rows x {FEATURES} numeric features; "
        f"shifted by {SHIFT} sigma: {', '.join(expected)}"
    )

    evidently = None
    python = ensure_evidently()
    if python is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "workload.npz"
            np.savez(path, reference=reference, current=current, names=np.array(names))
            script = Path(tmp) / "run_evidently.py"
            script.write_text(EVIDENTLY_SCRIPT)
            done = subprocess.run(
                [python, str(script), str(path), str(args.repeat)],
                capture_output=True,
                text=True,
                cwd=tmp,
                check=False,
            )
            if done.returncode == 0:
                evidently = json.loads(done.stdout.strip().splitlines()[-1])
            else:
                print(f"Evidently failed:\n{done.stderr[-3000:]}")

    rows = []
    for label, fn in (
        ("ours: QuantileKSDrift + Bonferroni (1e-3)", ours_quantile_ks),
        ("ours: KSDrift (exact) + Bonferroni (1e-3)", ours_exact_ks),
        ("ours: WassersteinDrift >= 0.1 (Evidently's test)", ours_wasserstein),
    ):
        median, times, flags = timed(fn, reference, current, args.repeat)
        rows.append((label, median, times, names_of(flags, names)))

    print()
    print(f"| {'method':<52} | {'median s':>9} | {'runs s':<24} | {'vs Evidently':>12} | correct | flagged")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 26}|{'-' * 14}|---------|--------")
    ev_median = statistics.median(evidently["times"]) if evidently else None
    if evidently:
        ok = evidently["flagged"] == expected
        runs = ", ".join(f"{t:.2f}" for t in evidently["times"])
        label = f"Evidently {evidently['version']} DataDriftPreset"
        print(
            f"| {label:<52} | {ev_median:9.3f} | {runs:<24} | {'1.0x':>12} | {ok!s:<7} | "
            f"{', '.join(evidently['flagged']) or '-'}  ({'; '.join(evidently['methods'])})"
        )
    for label, median, times, flagged in rows:
        ratio = f"{ev_median / median:.0f}x faster" if ev_median else "n/a"
        runs = ", ".join(f"{t:.3f}" for t in times)
        ok = flagged == expected
        print(
            f"| {label:<52} | {median:9.4f} | {runs:<24} | {ratio:>12} | {ok!s:<7} | {', '.join(flagged) or '-'}"
        )
    if not evidently:
        print("\nEvidently could not be run: no baseline in this run (see above).")


if __name__ == "__main__":
    main()
