"""Pre-whitening of sequential detectors: AR(1) residuals against autocorrelated streams (issue #14, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

import rules
from detectors import REGISTRY
from detectors.base import Detector
from detectors.evalue import EDetector
from detectors.sequential import ADWIN, CUSUM, KSWIN, PageHinkley, Whitening

CLASSES = [PageHinkley, CUSUM, KSWIN, ADWIN, EDetector]


def ar1(n: int, phi: float, seed: int, shift_at: int | None = None, shift: float = 0.0) -> np.ndarray:
    """An AR(1) stream of unit marginal variance, its mean moved by ``shift`` from ``shift_at`` on."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, np.sqrt(1 - phi * phi), n)
    x = np.empty(n)
    x[0] = rng.normal()
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    if shift_at is not None:
        x[shift_at:] += shift
    return x


def test_the_fit_recovers_the_coefficient_and_the_residuals_are_white():
    x = ar1(20_000, 0.7, seed=1)
    w = Whitening(2_000)
    out = w.residuals(x)
    assert out.size == x.size and w.phi == pytest.approx(0.7, abs=0.03)
    d = out - out.mean()
    assert abs(np.dot(d[1:], d[:-1]) / np.dot(d, d)) < 0.03  # lag-1 autocorrelation gone
    assert out.std() == pytest.approx(x.std(), rel=0.05)  # the marginal scale kept


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_update_many_equals_the_loop_and_a_snapshot_resumes_exactly(cls):
    x = ar1(3_000, 0.6, seed=2, shift_at=2_000, shift=2.0)
    loop, batch = cls(whiten=150), cls(whiten=150)
    for v in x:
        loop.update(v)
    batch.update_many(x)
    assert loop.alarms == batch.alarms and loop.alarms, "the shift must be found"
    for cut in (100, 150, 1_000):  # mid warm-up, at its end, after it
        whole, first = cls(whiten=150), cls(whiten=150)
        whole.update_many(x)
        first.update_many(x[:cut])
        resumed = Detector.restore(first.snapshot())
        resumed.update_many(x[cut:])
        assert resumed.alarms == whole.alarms and resumed.n_seen == whole.n_seen


@pytest.mark.parametrize("cls", [PageHinkley, CUSUM, EDetector, ADWIN], ids=lambda c: c.__name__)
def test_whitened_autocorrelated_stream_alarms_as_rarely_as_an_independent_one(cls):
    x = ar1(100_000, 0.5, seed=3)
    iid, plain, white = cls(), cls(), cls(whiten=500)
    iid.update_many(np.random.default_rng(5).normal(0.0, 1.0, x.size))
    plain.update_many(x)
    white.update_many(x)
    assert white.n_alarms < plain.n_alarms / 2, (plain.n_alarms, white.n_alarms)
    assert white.n_alarms <= 1.5 * iid.n_alarms + 2, (iid.n_alarms, white.n_alarms)


def test_positions_count_the_streams_values_one_for_one():
    x = np.concatenate([np.zeros(500) + np.random.default_rng(4).normal(0, 1, 500), np.full(300, 6.0)])
    d = CUSUM(whiten=200)
    d.update_many(x)
    after = [a for a in d.alarms if a >= 500]
    assert d.n_seen == x.size and after and after[0] < 520  # found right after the shift, counted in x's positions


def test_whiten_is_refused_when_it_cannot_fit_and_named_by_the_policy(tmp_path):
    with pytest.raises(ValueError, match="whiten must be 0"):
        PageHinkley(whiten=1)
    with pytest.raises(ValueError, match="whiten"):
        CUSUM(whiten=-3)
    assert all("whiten" in rules.kinds.KINDS[k].params for k in ("page_hinkley", "cusum", "kswin", "adwin",
                                                                  "e_detector"))
    assert REGISTRY["page_hinkley"] is PageHinkley
