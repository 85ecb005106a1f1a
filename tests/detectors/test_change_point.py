"""``change_point``: where a detector estimates the change began when it fires (``protocol.Locating``).

Each detector sees seeded streams of 1,000 values of N(0, 1) and then N(1.5, 1) (categorical detectors:
1,000 draws from the reference's proportions, then from shifted ones with a new category); the change
point of its first alarm must lie within the tolerance stated per detector of the true one (1,000).
The tolerances are what 30 seeds gave, rounded up (the test runs 10); the detectors are configured not to
raise a false alarm before the change on these seeds (a false alarm has no true change point to be near;
KSWIN raised one on seed 25, not run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from detectors import (
    ADWIN,
    BOCPD,
    CUSUM,
    DDM,
    KSWIN,
    AndersonDarlingDrift,
    CategoricalPSIDrift,
    ChiSquareDrift,
    Detector,
    EDetector,
    GTestDrift,
    JensenShannonDrift,
    KSDrift,
    PageHinkley,
    PSIDrift,
    QuantileKSDrift,
    RollingAccuracy,
    UnseenCategoryRate,
    WassersteinDrift,
    WindowedPSIDrift,
)
from detectors.protocol import Locating

TRUTH = 1000
SEEDS = range(10)

REF = np.random.default_rng(99).normal(0, 1, 3000)
CATS = ["a", "b", "c", "d"]
CREF = np.random.default_rng(98).choice(CATS, 3000, p=[0.4, 0.3, 0.2, 0.1])


def numeric_stream(seed: int, n_after: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, TRUTH), rng.normal(1.5, 1, n_after)])


def categorical_stream(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    before = rng.choice(CATS, TRUTH, p=[0.4, 0.3, 0.2, 0.1])
    after = rng.choice([*CATS, "z"], 1000, p=[0.2, 0.3, 0.2, 0.2, 0.1])
    return np.concatenate([before, after])


# name: (factory, stream, lowest and highest change point accepted relative to TRUTH)
SEQUENTIAL: dict[str, tuple[Callable[[], Detector], tuple[int, int]]] = {
    # The default delta (0.005) is far below the shift: the sum then last touched its minimum long before
    # the change (30 seeds: up to 969 early); delta at half the shift makes the estimate sharp.
    "page_hinkley": (lambda: PageHinkley(delta=0.75), (-10, 10)),
    "cusum": (lambda: CUSUM(mean=0.0, sigma=1.0, threshold=10.0), (-12, 10)),
    "e_detector": (lambda: EDetector(mean=0.0, sigma=1.0), (-10, 10)),
    # ADWIN's cut is at a bucket edge and it stops dropping as soon as no cut is significant: early, by
    # 24 to 616 values on 30 seeds (median 72), never late.
    "adwin": (lambda: ADWIN(), (-650, 0)),
    "kswin": (lambda: KSWIN(alpha=1e-4, seed=1), (-15, 10)),
    "bocpd": (lambda: BOCPD(), (-10, 10)),
}

WINDOWED: dict[str, tuple[Callable[[], Detector], tuple[int, int]]] = {
    "ks": (lambda: KSDrift(REF, window=200), (-10, 10)),
    "psi": (lambda: PSIDrift(REF, window=200), (-10, 10)),
    # One seed of 30 (not among those run) put it 66 early: a pre-change excursion of the scores.
    "anderson_darling": (lambda: AndersonDarlingDrift(REF, window=200), (-70, 10)),
    "wasserstein": (lambda: WassersteinDrift(REF, window=200, threshold=0.3), (-10, 10)),
    "jensen_shannon": (lambda: JensenShannonDrift(REF, window=200, threshold=0.2), (-10, 10)),
    "jensen_shannon_tumbling": (
        lambda: JensenShannonDrift(REF, window=200, tumbling=True, threshold=0.2),
        (-10, 10),
    ),
    "ks_quantile": (lambda: QuantileKSDrift(REF, window=200), (-10, 10)),
    "psi_window": (lambda: WindowedPSIDrift(REF, window=200), (-10, 10)),
}

CATEGORICAL: dict[str, tuple[Callable[[], Detector], tuple[int, int]]] = {
    "chi_square": (lambda: ChiSquareDrift(CREF, window=200), (-40, 30)),
    "g_test": (lambda: GTestDrift(CREF, window=200), (-40, 30)),
    "psi_categorical": (lambda: CategoricalPSIDrift(CREF, window=200), (-40, 30)),
    "unseen_share": (lambda: UnseenCategoryRate(CREF, window=200, threshold=0.03), (-40, 30)),
}

ALL = {**SEQUENTIAL, **WINDOWED, **CATEGORICAL}


def stream_for(name: str, seed: int) -> np.ndarray:
    return categorical_stream(seed) if name in CATEGORICAL else numeric_stream(seed)


def first_alarm(det: Any, stream: np.ndarray) -> int:
    for i, x in enumerate(stream.tolist()):
        det.update(x)
        if det.drift_detected:
            return i
    raise AssertionError("no alarm")


def roundtrip(det: Detector) -> Detector:
    return Detector.restore(json.loads(json.dumps(det.snapshot())))


@pytest.mark.parametrize("name", list(ALL))
def test_change_point_of_the_first_alarm_is_near_the_truth(name: str) -> None:
    make, (low, high) = ALL[name]
    for seed in SEEDS:
        det = make()
        alarm = first_alarm(det, stream_for(name, seed))
        assert alarm >= TRUTH, f"seed {seed}: a false alarm at {alarm}"
        cp = det.change_point  # type: ignore[attr-defined]
        assert cp is not None and TRUTH + low <= cp <= TRUTH + high, (seed, alarm, cp)
        assert cp <= alarm
        if name in SEQUENTIAL:
            assert det.change_point == cp  # type: ignore[attr-defined]
        else:  # inside the window the statistic was computed on
            window = det.window  # type: ignore[attr-defined]
            assert alarm - 2 * window < cp


@pytest.mark.parametrize("name", list(ALL))
def test_none_before_an_alarm(name: str) -> None:
    make, _ = ALL[name]
    det = make()
    assert isinstance(det, Locating)
    assert det.change_point is None
    pre = stream_for(name, 0)[: TRUTH - 100]
    det.update_many(pre)
    assert not det.drift_detected and det.change_point is None


@pytest.mark.parametrize("name", list(ALL))
def test_survives_snapshot_and_restore(name: str) -> None:
    make, _ = ALL[name]
    stream = stream_for(name, 3)
    det = make()
    alarm = first_alarm(det, stream)
    restored = roundtrip(det)
    assert isinstance(restored, Locating) and isinstance(det, Locating)
    assert restored.change_point == det.change_point is not None
    rest = stream[alarm + 1 : alarm + 400]
    for later in (det, restored):
        later.update_many(rest)  # type: ignore[attr-defined]
    assert restored.change_point == det.change_point


@pytest.mark.parametrize("name", list(ALL))
def test_update_many_equals_the_loop(name: str) -> None:
    make, _ = ALL[name]
    rng = np.random.default_rng(11)
    stream = stream_for(name, 5)
    loop, batched = make(), make()
    assert isinstance(loop, Locating) and isinstance(batched, Locating)
    cuts = np.sort(rng.choice(np.arange(1, stream.shape[0]), size=40, replace=False))
    start = 0
    for end in [*cuts.tolist(), stream.shape[0]]:
        batched.update_many(stream[start:end])  # type: ignore[attr-defined]
        for x in stream[start:end].tolist():
            loop.update(x)  # type: ignore[attr-defined]
        assert batched.change_point == loop.change_point, (start, end)
        start = end


@pytest.mark.parametrize(
    "make",
    [
        lambda: PageHinkley(),
        lambda: PageHinkley(mode="down", delta=0.1, threshold=20.0),
        lambda: CUSUM(threshold=4.0),
        lambda: EDetector(alpha=1e-2, mode="up"),
        lambda: KSWIN(alpha=0.01, seed=3),
        lambda: ADWIN(delta=0.1),
    ],
)
def test_every_alarm_on_noise_batch_equals_loop(make: Callable[[], Detector]) -> None:
    """Many alarms (false ones too): after each, the batch path gives the loop's change point."""
    rng = np.random.default_rng(21)
    stream = rng.normal(np.repeat(rng.normal(0, 1.5, 20), 500), 1.0)
    loop = make()
    found = []
    for x in stream.tolist():
        loop.update(x)  # type: ignore[attr-defined]
        if loop.drift_detected:
            found.append((loop.n_seen - 1, loop.change_point))  # type: ignore[attr-defined]
    assert len(found) >= 3
    assert all(cp is not None and cp <= at for at, cp in found)
    batched = make()
    points = []
    for chunk in np.array_split(stream, 37):
        before = batched.n_alarms  # type: ignore[attr-defined]
        batched.update_many(chunk)  # type: ignore[attr-defined]
        if batched.n_alarms > before:  # type: ignore[attr-defined]
            points.append(batched.change_point)  # type: ignore[attr-defined]
    last_per_chunk = []
    bounds = np.cumsum([c.shape[0] for c in np.array_split(stream, 37)])
    lo = 0
    for hi in bounds.tolist():
        inside = [cp for at, cp in found if lo <= at < hi]
        if inside:
            last_per_chunk.append(inside[-1])
        lo = hi
    assert points == last_per_chunk
    # every alarm's change point, not only the last one's, in the order of the alarms, through a checkpoint
    assert batched.change_points == [cp for _, cp in found]  # type: ignore[attr-defined]
    assert len(batched.change_points) == len(batched.alarms) == len(found)  # type: ignore[attr-defined]
    restored = Detector.restore(json.loads(json.dumps(batched.snapshot())))
    assert restored.change_points == batched.change_points  # type: ignore[attr-defined]


def test_snapshots_without_change_point_still_restore() -> None:
    """A snapshot taken before change_point existed restores; its change point is unknown (None) until the
    next alarm, and the alarms are the same."""
    stream = numeric_stream(4)
    for make in (
        lambda: PageHinkley(delta=0.75),
        lambda: CUSUM(mean=0.0, sigma=1.0, threshold=10.0),
        lambda: EDetector(mean=0.0, sigma=1.0),
        lambda: ADWIN(),
        lambda: KSWIN(alpha=1e-4, seed=1),
    ):
        det = make()
        alarm = first_alarm(det, stream)
        snap = det.snapshot()
        old = json.loads(json.dumps(snap))
        del old["state"]["change_point"]
        for key in ("inc_from", "dec_from", "up_from", "low_from", "from"):
            old["state"]["run"].pop(key, None)
        restored = Detector.restore(old)
        assert isinstance(restored, Locating) and restored.change_point is None
        rest = np.concatenate([stream[alarm + 1 :], numeric_stream(7)[TRUTH:] * -1.0])
        det.update_many(rest)  # type: ignore[attr-defined]
        restored.update_many(rest)  # type: ignore[attr-defined]
        assert restored.alarms == det.alarms  # type: ignore[attr-defined]
        assert restored.n_alarms > 1  # type: ignore[attr-defined]
        assert restored.change_point == det.change_point is not None  # known again after a restart


def test_window_change_point_is_cached_until_the_next_update() -> None:
    det = KSDrift(REF, window=200)
    stream = numeric_stream(2)
    first_alarm(det, stream)
    cp = det.change_point
    assert cp is not None and det.change_point == cp
    det.update(1.5)  # still drifting: computed again on the window that moved
    assert det.drift_detected and det.change_point is not None
    det.update_many(np.random.default_rng(0).normal(0, 1, 400))
    assert not det.drift_detected and det.change_point is None


def test_time_window_reports_positions_among_the_values_seen() -> None:
    det = WindowedPSIDrift(REF, horizon=100.0, min_samples=100)
    ts = np.arange(2000) * 0.5  # two values a second: 200 inside the horizon
    values = numeric_stream(6)
    for i in range(0, 2000, 10):
        det.update_many(values[i : i + 10], ts=ts[i : i + 10])
        if det.drift_detected:
            break
    assert det.drift_detected and det.change_point is not None
    assert abs(det.change_point - TRUTH) <= 10


def test_not_every_detector_locates() -> None:
    assert not isinstance(DDM(), Locating)
    assert not isinstance(RollingAccuracy(window=10), Locating)
    assert isinstance(BOCPD(), Locating)
