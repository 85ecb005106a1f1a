"""Anderson-Darling, Wasserstein, Jensen-Shannon and quantile KS; tumbling and time windows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from detectors import (
    AndersonDarlingDrift,
    Detector,
    JensenShannonDrift,
    KSDrift,
    QuantileKSDrift,
    WassersteinDrift,
    WindowedPSIDrift,
)
from detectors.numeric import ad_asymptotic_sf, ad_critical_value

try:
    from scipy.stats._morestats import _anderson_ksamp_midrank
except ImportError:  # pragma: no cover - depends on the scipy version
    _anderson_ksamp_midrank = None


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(5, 800)), int(rng.integers(5, 300))
    if seed % 3 == 0:  # ties within and across the samples
        return rng.integers(0, 10, m).astype(float), rng.integers(0, 12, n).astype(float)
    return rng.normal(size=m), rng.normal(0.2 * (seed % 2), 1.0 + 0.3 * (seed % 4 == 1), size=n)


@pytest.mark.skipif(_anderson_ksamp_midrank is None, reason="scipy moved its private AD helper")
@pytest.mark.parametrize("seed", range(12))
def test_anderson_darling_matches_scipy(seed: int) -> None:
    ref, win = _samples(seed)
    ad = AndersonDarlingDrift(ref, window=win.shape[0])
    ad.update_many(win)
    pooled = np.sort(np.concatenate([ref, win]))
    expected = _anderson_ksamp_midrank(
        [ref, win], pooled, np.unique(pooled), 2, np.array([ref.shape[0], win.shape[0]]), pooled.shape[0]
    )
    assert ad.statistic == pytest.approx(expected, rel=1e-10)


def test_anderson_darling_tail_and_critical_value() -> None:
    # Known quantiles of the limiting AD distribution: 2.492 at 5%, 3.857 at 1%.
    assert ad_asymptotic_sf(2.492) == pytest.approx(0.05, abs=2e-4)
    assert ad_asymptotic_sf(3.857) == pytest.approx(0.01, abs=5e-4)
    assert ad_asymptotic_sf(ad_critical_value(1e-5)) == pytest.approx(1e-5, rel=1e-6)
    assert ad_critical_value(1e-6) > ad_critical_value(1e-5) > 3.857


@pytest.mark.parametrize("seed", range(8))
def test_wasserstein_matches_scipy(seed: int) -> None:
    ref, win = _samples(seed)
    if np.std(ref) == 0:
        pytest.skip("degenerate reference")
    wd = WassersteinDrift(ref, window=win.shape[0])
    wd.update_many(win)
    expected = stats.wasserstein_distance(ref, win)
    assert wd.read("distance") == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert wd.statistic == pytest.approx(expected / np.std(ref), rel=1e-10, abs=1e-12)


def test_wasserstein_scale_is_in_reference_spreads() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(50.0, 5.0, 20_000)
    for scale, spread in (("std", np.std(ref)), ("iqr", np.subtract(*np.quantile(ref, [0.75, 0.25])))):
        wd = WassersteinDrift(ref, window=20_000, scale=scale)
        wd.update_many(ref + 2.5)  # a shift of half a standard deviation
        assert wd.statistic == pytest.approx(2.5 / spread, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_jensen_shannon_matches_scipy(seed: int) -> None:
    ref, win = _samples(seed)
    js = JensenShannonDrift(ref, window=win.shape[0], bins=8)
    js.update_many(win)
    edges = js._edges
    p = np.bincount(np.searchsorted(edges, ref, "right"), minlength=edges.shape[0] + 1)
    q = np.bincount(np.searchsorted(edges, win, "right"), minlength=edges.shape[0] + 1)
    assert js.statistic == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_quantile_ks_bounds_the_exact_distance(seed: int) -> None:
    ref, win = _samples(seed)
    exact = KSDrift(ref, window=win.shape[0])
    exact.update_many(win)
    full = QuantileKSDrift(ref, window=win.shape[0], quantiles=ref.shape[0])
    coarse = QuantileKSDrift(ref, window=win.shape[0], quantiles=16)
    full.update_many(win)
    coarse.update_many(win)
    assert full.statistic == pytest.approx(exact.statistic, abs=1e-12)  # every reference point kept
    assert coarse.statistic <= exact.statistic + 1e-12
    assert coarse.statistic >= exact.statistic - 2.0 / 16 - 1e-12


def test_quantile_ks_has_power_at_a_tenth_of_a_sigma_on_100k() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(size=100_000)
    shifted, same = QuantileKSDrift(ref, window=100_000), QuantileKSDrift(ref, window=100_000)
    shifted.update_many(rng.normal(0.1, 1.0, 100_000))
    same.update_many(rng.normal(0.0, 1.0, 100_000))
    assert shifted.read("p_value") < 1e-5 / 20 and shifted.drift_detected
    assert same.read("p_value") > 1e-3 and not same.drift_detected


def test_reference_is_summarised_once_and_frozen() -> None:
    ref = np.array([3.0, np.nan, 1.0, 2.0])
    ad = AndersonDarlingDrift(ref, window=2)
    assert ad.reference.tolist() == [1.0, 2.0, 3.0] and not ad.reference.flags.writeable
    before = ad.reference
    ad.update_many([0.5, 4.0, 2.5])
    _ = ad.statistic
    assert ad.reference is before  # reused as is, never re-sorted or copied


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        (AndersonDarlingDrift, {}),
        (QuantileKSDrift, {}),
        # Distances, not tests: their defaults (Evidently's 0.1) are too tight for a sliding
        # window of 500 read every 50 values (see their docstrings); a policy would calibrate.
        (WassersteinDrift, {"threshold": 0.2}),
        (JensenShannonDrift, {"threshold": 0.15}),
    ],
)
def test_null_stream_stays_quiet_and_shift_fires(kind: type[Detector], kwargs: dict[str, float]) -> None:
    rng = np.random.default_rng(11)
    ref = rng.normal(size=5000)
    quiet = kind(ref, window=500, **kwargs)
    null = rng.normal(size=10_000)
    for lo in range(0, null.shape[0], 50):
        quiet.update_many(null[lo : lo + 50])
        assert not quiet.drift_detected, lo
    loud = kind(ref, window=500, **kwargs)
    loud.update_many(rng.normal(0.6, 1.0, 500))
    assert loud.drift_detected


def test_prediction_drift_is_the_same_test_on_the_predictions() -> None:
    # A model's output distribution moves when its input does: the two-sample detectors watch it
    # unchanged, fed predictions instead of a feature.
    rng = np.random.default_rng(3)

    def model(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(0.8 * x - 0.2)))

    reference_predictions = model(rng.normal(size=5000))
    detector = WassersteinDrift(reference_predictions, window=500)
    detector.update_many(model(rng.normal(size=500)))
    assert not detector.drift_detected
    detector.update_many(model(rng.normal(0.5, 1.0, size=500)))
    assert detector.drift_detected and detector.statistic > 0.2


# -- windows -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    window=st.integers(2, 12),
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_tumbling_window_holds_the_current_block(window: int, sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    stream = np.round(rng.normal(size=sum(sizes)), 1)
    looped = WassersteinDrift(np.arange(10.0), window=window, tumbling=True)
    batched = WassersteinDrift(np.arange(10.0), window=window, tumbling=True)
    lo = 0
    for size in sizes:
        for x in stream[lo : lo + size]:
            looped.update(x)
        batched.update_many(stream[lo : lo + size])
        lo += size
        seen = lo
        block = seen % window or (window if seen else 0)  # values of the block being filled
        if block < window and seen > block:  # read the last complete block until this one fills
            expected = stream[seen - block - window : seen - block]
        else:
            expected = stream[seen - block : seen]
        assert batched.n == looped.n == expected.shape[0]
        assert sorted(batched._values().tolist()) == sorted(expected.tolist())
        assert batched.snapshot() == looped.snapshot()
        assert batched.drift_detected == looped.drift_detected
        if seen:
            assert batched.statistic == looped.statistic


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=80),
    horizon=st.floats(0.5, 20.0),
    window=st.integers(2, 30),
    seed=st.integers(0, 2**16),
)
def test_time_window_keeps_what_is_inside_the_horizon(
    gaps: list[float], horizon: float, window: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(gaps)
    values = np.round(rng.normal(size=ts.shape[0]), 2)
    values[rng.random(ts.shape[0]) < 0.1] = np.nan
    looped = JensenShannonDrift(rng.normal(size=200), window=window, horizon=horizon, bins=4)
    batched = Detector.restore(looped.snapshot())
    for x, t in zip(values, ts, strict=True):
        looped.update(x, ts=t)
    cut = int(rng.integers(0, ts.shape[0] + 1))
    batched.update_many(values[:cut], ts=ts[:cut])
    batched.update_many(values[cut:], ts=ts[cut:])
    assert batched.snapshot() == looped.snapshot()
    kept = ~np.isnan(values)
    kv, kt = values[kept][-window:], ts[kept][-window:]
    expected = kv[kt > kt[-1] - horizon] if kt.shape[0] else kv
    assert batched.n == looped.n == expected.shape[0]
    assert sorted(looped._values().tolist()) == sorted(looped._bin(expected).tolist())  # stored as bins
    restored = Detector.restore(json.loads(json.dumps(looped.snapshot())))
    if kt.shape[0]:
        assert restored.statistic == looped.statistic == batched.statistic


def test_time_window_statistics_and_errors() -> None:
    ad = AndersonDarlingDrift(np.arange(100.0), window=1000, horizon=60.0)
    assert ad.min_samples == 1
    ad.update_many(np.arange(100.0), ts=np.arange(100.0))
    assert ad.n == 60  # ts 40..99 lie in (99 - 60, 99]
    ad.update(200.0, ts=130.0)
    assert ad.n == 30 and ad._values()[-1] == 200.0
    with pytest.raises(ValueError, match="ts is required"):
        ad.update(1.0)
    with pytest.raises(ValueError, match="ts must not decrease"):
        ad.update(1.0, ts=10.0)
    with pytest.raises(ValueError, match="ts must not decrease"):
        ad.update_many([1.0, 2.0], ts=[140.0, 139.0])
    with pytest.raises(ValueError, match="one timestamp per value"):
        ad.update_many([1.0, 2.0], ts=[140.0])
    count = AndersonDarlingDrift(np.arange(100.0), window=10)
    with pytest.raises(ValueError, match="horizon=None"):
        count.update(1.0, ts=1.0)
    with pytest.raises(ValueError, match="horizon"):
        AndersonDarlingDrift(np.arange(10.0), window=10, horizon=5.0, tumbling=True)
    assert math.isnan(AndersonDarlingDrift(np.arange(10.0), window=10, horizon=5.0).statistic)


@pytest.mark.parametrize(
    "kind", [AndersonDarlingDrift, WassersteinDrift, JensenShannonDrift, QuantileKSDrift]
)
@pytest.mark.parametrize("mode", [{"tumbling": True}, {"horizon": 7.5}])
def test_every_windowed_detector_batches_like_the_loop(kind: type[Detector], mode: dict[str, object]) -> None:
    rng = np.random.default_rng(8)
    values = np.round(rng.normal(np.where(np.arange(600) < 300, 0.0, 2.0)), 1)
    values[rng.random(600) < 0.05] = np.nan
    ts = np.cumsum(rng.exponential(0.5, 600))
    timed = "horizon" in mode
    looped = kind(rng.normal(size=300), window=40, **mode)
    batched = Detector.restore(json.loads(json.dumps(looped.snapshot())))
    lo, fired = 0, False
    while lo < 600:
        hi = min(600, lo + int(rng.integers(0, 90)))
        for i in range(lo, hi):
            looped.update(values[i], ts=ts[i]) if timed else looped.update(values[i])
        if timed:
            batched.update_many(values[lo:hi], ts=ts[lo:hi])
        else:
            batched.update_many(values[lo:hi])
        assert looped.snapshot() == batched.snapshot()
        for name in looped.statistics:
            a, b = looped.read(name), batched.read(name)
            assert (math.isnan(a) and math.isnan(b)) or a == b
        assert looped.drift_detected == batched.drift_detected and looped.n == batched.n
        fired = fired or looped.drift_detected
        lo = hi
    assert fired  # the shift is found in either mode


def test_windowed_psi_matches_psi_on_a_sliding_window_and_reports_whole_blocks_when_tumbling():
    from detectors import PSIDrift, WindowedPSIDrift

    rng = np.random.default_rng(21)
    ref = rng.normal(size=3000)
    stream = rng.normal(0.3, 1.2, size=1700)
    sliding, plain = WindowedPSIDrift(ref, window=400), PSIDrift(ref, window=400)
    sliding.update_many(stream)
    plain.update_many(stream)
    assert sliding.statistic == pytest.approx(plain.statistic, rel=1e-12)

    tumbling = WindowedPSIDrift(ref, window=400, tumbling=True)
    tumbling.update_many(stream)  # 4 whole blocks of 400 and 100 values of the fifth
    last_block = PSIDrift(ref, window=400)
    last_block.update_many(stream[1200:1600])
    assert tumbling.statistic == pytest.approx(last_block.statistic, rel=1e-12)


@pytest.mark.parametrize(
    "kind", [AndersonDarlingDrift, WassersteinDrift, JensenShannonDrift, QuantileKSDrift, WindowedPSIDrift]
)
@pytest.mark.parametrize("mode", [{}, {"tumbling": True}, {"horizon": 7.5}])
def test_checkpoint_without_the_reference_keeps_the_window_state(
    kind: type[Detector], mode: dict[str, object]
) -> None:
    # The service checkpoints with snapshot(omit=("reference",)); the tumbling block and the timestamps of a
    # time window must survive it (snapshot() took no `omit` here once, and raised TypeError).
    rng = np.random.default_rng(9)
    reference = rng.normal(size=300)
    values = np.round(rng.normal(np.where(np.arange(400) < 200, 0.0, 2.0)), 1)
    ts = np.cumsum(rng.exponential(0.5, 400))
    timed = {"ts": ts[:130]} if "horizon" in mode else {}
    original = kind(reference, window=40, **mode)
    original.update_many(values[:130], **timed)
    snap = json.loads(json.dumps(original.snapshot(omit=("reference",))))
    assert "reference" not in snap["params"] and snap["state"] == original.snapshot()["state"]
    restored = Detector.restore({**snap, "params": {**snap["params"], "reference": reference}})
    later = {"ts": ts[130:]} if "horizon" in mode else {}
    original.update_many(values[130:], **later)
    restored.update_many(values[130:], **later)
    assert restored.snapshot() == original.snapshot()
    assert [restored.read(s) for s in kind.statistics] == [original.read(s) for s in kind.statistics]
