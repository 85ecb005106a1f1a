"""Data-quality detectors: missing, out-of-range, type errors, volume and staleness."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from detectors import Detector, MissingRate, OutOfRangeRate, Staleness, TypeErrorRate, VolumeDrift


def test_missing_rate_counts_none_and_nan() -> None:
    missing = MissingRate(window=4, threshold=0.4)
    missing.update_many(np.array([1.0, None, "x", float("nan"), 2.0], dtype=object))
    assert missing.n == 4 and missing.n_seen == 5  # missing values are fed too
    assert missing.statistic == 0.5 and missing.drift_detected
    missing.update(3.0)
    assert missing.statistic == 0.25 and not missing.drift_detected


def test_out_of_range_against_reference_bounds() -> None:
    oor = OutOfRangeRate(np.arange(101.0), window=10, threshold=0.2, min_samples=5)
    assert oor.bounds == (0.0, 100.0)
    oor.update_many([-1.0, 50.0, 100.0, 100.5, np.nan, 7.0])
    assert oor.n == 5
    assert oor.read("below") == 0.2 and oor.read("above") == 0.2
    assert oor.statistic == pytest.approx(0.4) and oor.drift_detected
    inner = OutOfRangeRate(np.arange(101.0), lower=0.05, upper=0.95)
    assert inner.bounds == (5.0, 95.0)


def test_type_errors_from_quarantine_counts() -> None:
    errors = TypeErrorRate(window=100, threshold=0.05)
    errors.add_counts(ok=90, errors=2)
    assert errors.statistic == pytest.approx(2 / 92) and not errors.drift_detected
    errors.add_counts(ok=0, errors=10)
    assert errors.statistic == pytest.approx(12 / 100) and errors.drift_detected
    with pytest.raises(ValueError, match="errors"):
        errors.add_counts(ok=1, errors=-1)


def test_volume_drop_and_surge_with_time_passed_in() -> None:
    volume = VolumeDrift(rate=1.0, interval=100.0)
    assert math.isnan(volume.statistic)
    volume.update_many(np.arange(0.0, 50.0))
    assert not volume.drift_detected  # less than one interval observed: no verdict yet
    volume.update_many(np.arange(50.0, 200.0))
    assert volume.statistic == pytest.approx(1.0) and not volume.drift_detected
    volume.observe_time(260.0)  # the feed went quiet: only ts 161..199 are in (160, 260]
    assert volume.read("count") == 39 and volume.drift_detected
    volume.observe_time(400.0)
    assert volume.statistic == 0.0
    volume.update_many(np.linspace(400.0, 401.0, 500))
    assert volume.read("ratio") == pytest.approx(5.0)  # a surge, for a rule on "ratio" > 3
    with pytest.raises(ValueError, match="now"):
        volume.observe_time(10.0)
    with pytest.raises(ValueError, match="ts must not decrease"):
        volume.update(5.0)
    volume.observe_time(500.0)
    volume.update(450.0)  # a late record (older than now) is fine
    assert volume.now == 500.0


def test_volume_of_a_feed_that_never_starts() -> None:
    volume = VolumeDrift.from_reference(np.arange(0.0, 1000.0, 2.0), interval=60.0)
    assert volume.rate == pytest.approx(0.5)
    volume.observe_time(1_000.0)
    assert not volume.drift_detected
    volume.observe_time(1_060.0)
    assert volume.statistic == 0.0 and volume.drift_detected
    with pytest.raises(ValueError, match="ts"):
        VolumeDrift.from_reference([1.0])


def test_staleness_needs_now_passed_in() -> None:
    stale = Staleness(max_age=60.0)
    stale.observe_time(100.0)
    assert math.isnan(stale.statistic) and not stale.drift_detected
    stale.update(130.0)
    assert stale.statistic == 0.0
    stale.observe_time(185.0)
    assert stale.statistic == 55.0 and not stale.drift_detected
    stale.observe_time(191.0)
    assert stale.statistic == 61.0 and stale.drift_detected
    with pytest.raises(ValueError, match="max_age"):
        Staleness(max_age=0)


@pytest.mark.parametrize("seed", range(3))
def test_clocked_detectors_batch_equals_loop_and_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.exponential(1.0, 400))
    for make in (lambda: VolumeDrift(rate=1.0, interval=30.0, window=50), lambda: Staleness(max_age=3.0)):
        looped, batched = make(), make()
        lo = 0
        while lo < ts.shape[0]:
            hi = min(ts.shape[0], lo + int(rng.integers(0, 40)))
            for t in ts[lo:hi]:
                looped.update(t)
            batched.update_many(ts[lo:hi])
            now = max(batched.now, ts[hi - 1] + float(rng.exponential(2.0)) if hi > lo else batched.now)
            looped.observe_time(now)
            batched.observe_time(now)
            assert looped.snapshot() == batched.snapshot()
            restored = Detector.restore(json.loads(json.dumps(batched.snapshot())))
            for name in looped.statistics:
                a, b, c = looped.read(name), batched.read(name), restored.read(name)
                assert (math.isnan(a) and math.isnan(b) and math.isnan(c)) or a == b == c
            assert looped.drift_detected == batched.drift_detected == restored.drift_detected
            lo = hi


def test_bad_arguments_name_the_parameter() -> None:
    for make, name in (
        (lambda: VolumeDrift(rate=0), "rate"),
        (lambda: VolumeDrift(rate=1.0, interval=-1.0), "interval"),
        (lambda: VolumeDrift(rate=1.0, window=1), "window"),
        (lambda: OutOfRangeRate([1.0, 2.0], lower=0.9, upper=0.1), "lower"),
        (lambda: MissingRate(threshold=2.0), "threshold"),
    ):
        with pytest.raises(ValueError, match=name):
            make()
