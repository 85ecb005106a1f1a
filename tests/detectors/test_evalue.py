"""The e-detector's guarantee (average run length >= 1/alpha under the null), checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors import EDetector


@pytest.mark.parametrize(
    ("noise", "alpha"),
    [
        ("normal", 1 / 200),
        ("normal", 1 / 2000),
        ("rademacher", 1 / 200),  # +-1: 1-sub-Gaussian, far from normal
        ("uniform", 1 / 200),  # on [-sqrt(3), sqrt(3)]: variance 1, sub-Gaussian with scale 1
    ],
)
def test_average_run_length_is_at_least_one_over_alpha(noise: str, alpha: float) -> None:
    rng = np.random.default_rng(int(1 / alpha) + len(noise))
    size = 400_000
    if noise == "normal":
        x = rng.normal(size=size)
    elif noise == "rademacher":
        x = rng.choice([-1.0, 1.0], size=size)
    else:
        x = rng.uniform(-math.sqrt(3), math.sqrt(3), size=size)
    det = EDetector(alpha=alpha, mean=0.0, sigma=1.0)
    det.update_many(x)
    # Alarms restart the detector, so the run lengths are the gaps between alarms.
    runs = np.diff([-1, *det.alarms])
    completed = len(runs)
    arl = size / max(completed, 1)  # censored runs only make the estimate smaller
    assert arl >= 1 / alpha


def test_guarantee_is_not_vacuous() -> None:
    """At a generous alpha the detector does raise false alarms, and their rate is near the bound."""
    rng = np.random.default_rng(1)
    det = EDetector(alpha=0.1, mean=0.0, sigma=1.0, shifts=(1.0,), mode="up")
    det.update_many(rng.normal(size=200_000))
    rate = det.n_alarms / 200_000
    assert 0.1 / 20 < rate <= 0.1  # ARL between 1/alpha and 20/alpha


def test_a_wrong_null_breaks_it() -> None:
    """The guarantee needs the null's scale: with sigma understated, false alarms exceed the budget."""
    rng = np.random.default_rng(2)
    det = EDetector(alpha=1 / 200, mean=0.0, sigma=0.5)
    det.update_many(rng.normal(size=100_000))
    assert det.n_alarms / 100_000 > 1 / 200


@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0])
def test_detects_a_mean_shift_at_a_one_in_a_million_budget(shift: float) -> None:
    delays, misses = [], 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        det = EDetector(alpha=1e-6, mean=0.0, sigma=1.0)
        det.update_many(np.concatenate([rng.normal(0, 1, 3000), rng.normal(-shift, 1, 2000)]))
        assert not [a for a in det.alarms if a < 3000]
        after = [a - 3000 for a in det.alarms if a >= 3000]
        if after:
            delays.append(after[0])
        else:
            misses += 1
    assert misses == 0
    # 2 log(K / alpha) / shift^2 values is the order of the delay; allow a factor 2.
    assert np.mean(delays) < 2 * 2 * math.log(8 / 1e-6) / shift**2


def test_one_sided_ignores_the_other_side() -> None:
    rng = np.random.default_rng(3)
    stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(-2, 1, 1000)])
    up = EDetector(alpha=1e-4, mean=0.0, sigma=1.0, mode="up")
    up.update_many(stream)
    down = EDetector(alpha=1e-4, mean=0.0, sigma=1.0, mode="down")
    down.update_many(stream)
    assert up.n_alarms == 0 and down.n_alarms > 0


def test_warmup_estimates_the_null() -> None:
    rng = np.random.default_rng(4)
    det = EDetector(alpha=1e-6, warmup=500)
    det.update_many(rng.normal(100.0, 5.0, 3000))
    assert det.n_alarms == 0 and det.statistic < det.threshold
    det.update_many(rng.normal(104.0, 5.0, 500))
    assert det.n_alarms == 1 and det.alarms[0] >= 3000
