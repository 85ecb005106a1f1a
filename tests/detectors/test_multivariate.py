"""PCA reconstruction error: quiet on the reference's joint distribution, loud when it breaks."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import KSDrift, PCAReconstructionDrift

COV = np.array([[1.0, 0.8, 0.0, 0.0], [0.8, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.6], [0.0, 0.0, 0.6, 1.0]])


def _rows(rng: np.random.Generator, size: int, cov: np.ndarray = COV) -> np.ndarray:
    return rng.multivariate_normal(np.zeros(4), cov, size)


def test_null_stream_stays_quiet() -> None:
    rng = np.random.default_rng(0)
    pca = PCAReconstructionDrift(_rows(rng, 6000), window=400)
    stream = _rows(rng, 20_000)
    for lo in range(0, stream.shape[0], 100):
        pca.update_many(stream[lo : lo + 100])
        assert not pca.drift_detected, lo
    assert pca.read("error_ratio") == pytest.approx(1.0, abs=0.15)


def test_a_correlation_break_fires_where_marginal_tests_do_not() -> None:
    rng = np.random.default_rng(1)
    reference = _rows(rng, 6000)
    pca = PCAReconstructionDrift(reference, window=500)
    marginal = [KSDrift(reference[:, j], window=500) for j in range(4)]
    broken = COV.copy()
    broken[0, 1] = broken[1, 0] = -0.8  # same marginals, the relation turned around
    rows = _rows(rng, 500, broken)
    pca.update_many(rows)
    for j, ks in enumerate(marginal):
        ks.update_many(rows[:, j])
    assert pca.drift_detected and pca.read("error_ratio") > 2
    assert not any(ks.drift_detected for ks in marginal)


def test_components_and_bad_input() -> None:
    rng = np.random.default_rng(2)
    pca = PCAReconstructionDrift(_rows(rng, 2000), n_components=2)
    assert pca.n_components == 2 and pca.n_features == 4
    with pytest.raises(ValueError, match="values must have shape"):
        pca.update_many(np.zeros((3, 5)))
    pca.update([np.nan, 0.0, 0.0, 0.0])  # a row with a missing value is skipped
    assert pca.n_seen == 0
    with pytest.raises(ValueError, match="reference"):
        PCAReconstructionDrift(np.column_stack([np.ones(10), np.ones(10), np.arange(10.0)]))
