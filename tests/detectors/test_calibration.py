"""Multiple-testing corrections and threshold calibration to a false-alarm budget."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from detectors import KSDrift, WassersteinDrift
from detectors.calibration import benjamini_hochberg, bh_adjusted, bonferroni, calibrate_threshold


def _bh_brute_force(p: np.ndarray, alpha: float) -> np.ndarray:
    """Reject the k smallest for the largest k with p_(k) <= k alpha / m."""
    order = np.argsort(p, kind="stable")
    m = p.shape[0]
    k = max((i + 1 for i in range(m) if p[order[i]] <= (i + 1) * alpha / m), default=0)
    out = np.zeros(m, dtype=bool)
    out[order[:k]] = True
    return out


@pytest.mark.parametrize("seed", range(20))
def test_benjamini_hochberg_matches_its_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.random(int(rng.integers(0, 15))), rng.random(int(rng.integers(0, 6))) * 1e-3])
    for alpha in (0.01, 0.05, 0.2):
        assert benjamini_hochberg(p, alpha).tolist() == _bh_brute_force(p, alpha).tolist()
    assert (bh_adjusted(p) >= p).all()


def test_bonferroni_and_bh_on_known_values() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    assert bonferroni(p, 0.05).tolist() == [True] + [False] * 9
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True] + [False] * 8
    assert bonferroni([], 0.05).shape == (0,)
    with pytest.raises(ValueError, match="p_values"):
        bonferroni([0.5, 1.5])
    with pytest.raises(ValueError, match="alpha"):
        benjamini_hochberg([0.5], alpha=0)


def test_family_wise_error_of_bonferroni_on_null_p_values() -> None:
    rng = np.random.default_rng(7)
    trials = rng.random((4000, 20))  # 20 features, no drift anywhere
    any_bonf = np.mean([bonferroni(row, 0.05).any() for row in trials])
    any_raw = np.mean((trials <= 0.05).any(axis=1))
    assert any_bonf < 0.07 and any_raw > 0.6


def test_calibrated_threshold_meets_the_budget_on_held_out_data() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=30_000)
    cal = calibrate_threshold(
        lambda ref, t: KSDrift(ref, window=100, threshold=t),
        reference,
        budget=1e-4,
        path_length=500,
        check_every=25,
        paths=300,
        seed=4,
    )
    assert not cal.resolution_limited
    assert 0.1 < cal.threshold < KSDrift.critical_value(1e-5, 100, 10_000)
    # The budget is 5% of paths; allow for the sampling error of 300 paths on both sides.
    assert cal.held_out_rate <= 2.2e-4
    assert cal.held_out_upper >= cal.held_out_rate
    tighter = calibrate_threshold(
        lambda ref, t: KSDrift(ref, window=100, threshold=t),
        reference,
        budget=2e-5,
        path_length=500,
        check_every=25,
        paths=300,
        seed=4,
    )
    assert tighter.threshold > cal.threshold
    # The repeated testing over time is what the calibration prices in: one test at the same
    # per-path rate would need a far lower threshold.
    assert cal.threshold > KSDrift.critical_value(0.05, 100, 10_000)


def test_calibration_is_seeded_and_reports_resolution_limits() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(size=3000)

    def run(seed: int):
        return calibrate_threshold(
            lambda ref, t: WassersteinDrift(ref, window=50, threshold=t),
            reference,
            budget=1e-5,
            path_length=200,
            check_every=50,
            paths=20,
            seed=seed,
        )

    first, again = run(1), run(1)
    assert first == again and first.resolution_limited  # 20 paths cannot resolve 1 in 500
    with pytest.raises(ValueError, match="budget"):
        calibrate_threshold(lambda ref, t: KSDrift(ref, threshold=t), reference, budget=0.01, path_length=500)
    with pytest.raises(ValueError, match="reference"):
        calibrate_threshold(lambda ref, t: KSDrift(ref, threshold=t), reference[:5], budget=1e-6)


def test_pairs_of_corrections_agree_on_easy_cases() -> None:
    for p in itertools.product([1e-9, 0.9], repeat=4):
        assert bonferroni(p).tolist() == benjamini_hochberg(p).tolist() == [x < 0.5 for x in p]


def _ar1(seed: int, n: int, phi: float) -> np.ndarray:
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    return lfilter([1.0], [1.0, -phi], rng.normal(0.0, np.sqrt(1 - phi * phi), n))


def test_moving_blocks_are_runs_of_consecutive_indices_from_uniform_starts():
    """Against a reference written by hand: the same generator draws the same starts."""
    from detectors.calibration import moving_blocks

    idx = moving_blocks(100, 23, 5, np.random.default_rng(7))
    starts = np.random.default_rng(7).integers(0, 96, 5)  # ceil(23 / 5) runs, starts in [0, 100 - 5]
    expected = [s + j for s in starts.tolist() for j in range(5)][:23]
    assert idx.tolist() == expected
    assert moving_blocks(10, 4, 50, np.random.default_rng(0)).tolist() == [0, 1, 2, 3]  # block cut to the pool
    with pytest.raises(ValueError, match="block"):
        moving_blocks(10, 4, 0, np.random.default_rng(0))


def test_block_bootstrap_keeps_the_budget_on_an_autocorrelated_stream_where_independent_draws_do_not():
    """AR(1), phi = 0.7: a threshold calibrated by resampling values independently lets through 7.5 times the
    budget on fresh streams of the same process; one calibrated on runs of 50 consecutive values, 1.35 times."""
    ref = _ar1(3, 6000, 0.7)

    def make(r, t):
        return KSDrift(r, window=200, threshold=t)

    budget, length, every = 2e-4, 500, 25
    rates = {}
    for block in (None, 50):
        cal = calibrate_threshold(make, ref, budget=budget, path_length=length, check_every=every, paths=200,
                                  seed=1, block=block)
        fired = 0
        for k in range(200):  # fresh streams of the same process, the detector built on the whole reference
            stream, det = _ar1(100 + k, length, 0.7), make(ref, cal.threshold)
            hit = False
            for lo in range(0, length, every):
                det.update_many(stream[lo:lo + every])
                hit = hit or (det.n >= det.min_samples and det.statistic > cal.threshold)
            fired += hit
        rates[block] = fired / (200 * length)
    assert rates[None] > 4 * budget, rates
    assert rates[50] < 2 * budget, rates
