from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from detectors import KSDrift, PSIDrift


def _first_alarm(det, stream: np.ndarray, step: int = 10) -> int | None:
    """Index of the last value of the first batch after which the detector fired."""
    for lo in range(0, stream.shape[0], step):
        det.update_many(stream[lo : lo + step])
        if det.drift_detected:
            return min(lo + step, stream.shape[0]) - 1
    return None


@pytest.mark.parametrize("seed", range(40))
def test_ks_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, window = int(rng.integers(1, 3000)), int(rng.integers(2, 600))
    discrete = seed % 3 == 0  # ties within and across the samples
    draw = (
        (lambda size: rng.integers(0, 12, size).astype(float))
        if discrete
        else (lambda size: rng.normal(size=size))
    )
    reference = draw(m)
    stream = draw(int(rng.integers(1, 2 * window))) + (0.3 if seed % 2 else 0.0)

    ks = KSDrift(reference, window=window)
    ks.update_many(stream)
    expected = stats.ks_2samp(stream[-window:], reference)
    assert ks.statistic == expected.statistic
    assert ks.read("p_value") == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_ks_matches_scipy_in_asymptotic_mode() -> None:
    rng = np.random.default_rng(9)
    reference, stream = rng.normal(size=12_000), rng.normal(0.1, 1, size=800)
    ks = KSDrift(reference, window=800)
    ks.update_many(stream)
    expected = stats.ks_2samp(stream, reference)
    assert ks.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert ks.read("p_value") == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_reference_is_sorted_once_and_frozen() -> None:
    ks = KSDrift([3.0, np.nan, 1.0, 2.0], window=2)
    assert ks.reference.tolist() == [1.0, 2.0, 3.0]
    assert not ks.reference.flags.writeable


def test_ks_critical_value_is_the_default_threshold() -> None:
    ks = KSDrift(np.arange(5000.0), window=500)
    assert ks.threshold == KSDrift.critical_value(1e-5, 500, 5000)
    # About where the (asymptotic) p-value of a full window crosses the significance.
    assert stats.kstwo.sf(ks.threshold, round(500 * 5000 / 5500)) == pytest.approx(1e-5, rel=0.2)


@pytest.mark.parametrize("cls", [KSDrift, PSIDrift])
def test_mean_shift_of_one_sigma_is_detected_within_one_window(cls) -> None:
    rng = np.random.default_rng(2024)
    det = cls(rng.normal(size=5000), window=500)
    stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    alarm = _first_alarm(det, stream)
    assert alarm is not None and 1000 <= alarm < 1500


@pytest.mark.parametrize("cls", [KSDrift, PSIDrift])
@pytest.mark.parametrize("seed", [1, 2])
def test_null_stream_stays_quiet_for_twenty_windows(cls, seed: int) -> None:
    rng = np.random.default_rng(seed)
    det = cls(rng.normal(size=5000), window=500)
    assert _first_alarm(det, rng.normal(size=20 * 500)) is None


def test_psi_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(4)
    reference, stream = rng.exponential(size=3000), rng.exponential(1.3, size=900)
    psi = PSIDrift(reference, window=400, bins=8)
    psi.update_many(stream)
    edges = np.quantile(reference, np.linspace(0, 1, 9)[1:-1])
    p = np.bincount(np.searchsorted(edges, reference, "right"), minlength=8) / reference.size
    q = np.bincount(np.searchsorted(edges, stream[-400:], "right"), minlength=8) / 400
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    assert psi.statistic == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-12)


def test_psi_merges_duplicate_edges_of_a_tied_reference() -> None:
    rng = np.random.default_rng(5)
    reference = np.r_[np.zeros(800), np.arange(200.0)]
    psi = PSIDrift(reference, window=100, bins=10)
    assert psi.edges.tolist() == np.unique(psi.edges).tolist() and len(psi.edges) == 2
    psi.update_many(rng.choice(reference, 100))
    assert psi.statistic < 0.1
    psi.update_many(np.full(100, 150.0))
    assert psi.drift_detected


def test_ks_default_threshold_never_exceeds_one() -> None:
    assert KSDrift([0.0, 1.0], window=3).threshold == 1.0
