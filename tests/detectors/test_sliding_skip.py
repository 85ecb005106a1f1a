"""Pure sliding windows skip the values a batch evicts again: the state is the same as without skipping.

For every detector class that opts in (``_slides``), streams with runs of missing values are fed
in random batches, some many windows long, to three detectors: one value at a time, in batches,
and in the same batches with skipping turned off. Snapshots (as JSON bytes), window counts and
statistics must agree, and the skipping detector must really have encoded no more than a window
of each long batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detectors
from detectors import Detector, PairDetector
from detectors._window import RingBuffer
from detectors.base import _CLASSES

Columns = tuple[np.ndarray, ...]
Stream = Callable[[np.random.Generator, int], Columns]

_REF = np.random.default_rng(0).normal(size=400)
_CAT_REF = np.random.default_rng(1).choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2])
_ROWS_REF = np.random.default_rng(2).normal(size=(400, 3))
_ROWS_REF[:, 1] = _ROWS_REF[:, 0] * 0.9 + _ROWS_REF[:, 1] * 0.3


def _missing_runs(rng: np.random.Generator, size: int) -> np.ndarray:
    """A mask of missing values: scattered ones and a few runs, some longer than a window."""
    mask = rng.random(size) < 0.03
    for _ in range(int(rng.integers(0, 5))):
        start = int(rng.integers(0, max(1, size)))
        mask[start : start + int(rng.integers(1, 120))] = True
    return mask


def _numbers(rng: np.random.Generator, size: int) -> Columns:
    x = np.round(rng.normal(np.where(np.arange(size) < size // 2, 0.0, 1.5), 1.0), 1)  # ties on purpose
    missing = _missing_runs(rng, size)
    x[missing] = np.nan
    if rng.random() < 0.3:  # as an object column: None and NaN for the missing values
        x = x.astype(object)
        x[missing & (rng.random(size) < 0.5)] = None
    return (x,)


def _categories(rng: np.random.Generator, size: int) -> Columns:
    values = rng.choice(np.array(["a", "b", "c", "new"]), size, p=[0.5, 0.3, 0.15, 0.05])
    if rng.random() < 0.3:
        return (values,)  # a str array: nothing missing
    values = values.astype(object)
    missing = _missing_runs(rng, size)
    values[missing] = np.where(rng.random(int(missing.sum())) < 0.5, None, math.nan)
    return (values,)


def _classes(rng: np.random.Generator, size: int) -> Columns:
    classes = rng.integers(0, 3, size)
    predictions = np.where(rng.random(size) < 0.7, classes, rng.integers(0, 3, size))
    labels = classes.astype(float)
    missing = _missing_runs(rng, size)
    labels[missing] = np.nan  # labels not arrived
    if rng.random() < 0.3:  # classes as strings, a missing label as None
        names = np.array(["x", "y", "z"], dtype=object)
        predictions, labels = names[predictions], names[classes]
        labels[missing] = None
    return predictions, labels


def _flags(rng: np.random.Generator, size: int) -> Columns:
    flags = (rng.random(size) < 0.1).astype(np.int64)
    if rng.random() < 0.3:
        return (flags,)
    flags = flags.astype(object)
    flags[_missing_runs(rng, size)] = None
    return (flags,)


def _rows(rng: np.random.Generator, size: int) -> Columns:
    x = rng.normal(size=(size, 3))
    x[:, 1] = x[:, 0] * 0.9 + x[:, 1] * 0.3
    x[_missing_runs(rng, size), int(rng.integers(0, 3))] = np.nan
    return (x,)


def _numeric(cls: type[Detector], **kw: Any) -> Callable[[int], Detector]:
    return lambda window: cls(_REF, window=window, **kw)


def _categorical(cls: type[Detector]) -> Callable[[int], Detector]:
    return lambda window: cls(_CAT_REF, window=window)


# Every class that skips, with a stream it is fed (count windows for the numeric.py detectors).
SLIDING: dict[str, tuple[Callable[[int], Detector], Stream]] = {
    "KSDrift": (_numeric(detectors.KSDrift), _numbers),
    "PSIDrift": (_numeric(detectors.PSIDrift, bins=5), _numbers),
    "AndersonDarlingDrift": (_numeric(detectors.AndersonDarlingDrift), _numbers),
    "WassersteinDrift": (_numeric(detectors.WassersteinDrift), _numbers),
    "JensenShannonDrift": (_numeric(detectors.JensenShannonDrift, bins=5), _numbers),
    "WindowedPSIDrift": (_numeric(detectors.WindowedPSIDrift, bins=5), _numbers),
    "QuantileKSDrift": (_numeric(detectors.QuantileKSDrift, quantiles=64), _numbers),
    "ChiSquareDrift": (_categorical(detectors.ChiSquareDrift), _categories),
    "GTestDrift": (_categorical(detectors.GTestDrift), _categories),
    "CategoricalPSIDrift": (_categorical(detectors.CategoricalPSIDrift), _categories),
    "UnseenCategoryRate": (_categorical(detectors.UnseenCategoryRate), _categories),
    "MissingRate": (lambda window: detectors.MissingRate(window=window), _numbers),
    "OutOfRangeRate": (lambda window: detectors.OutOfRangeRate(_REF, window=window, upper=0.9), _numbers),
    "TypeErrorRate": (lambda window: detectors.TypeErrorRate(window=window), _flags),
    "RollingAccuracy": (lambda window: detectors.RollingAccuracy(window=window), _classes),
    "RollingPrecision": (lambda window: detectors.RollingPrecision(window=window, positive=1), _classes),
    "RollingRecall": (lambda window: detectors.RollingRecall(window=window, positive="y"), _classes),
    "PCAReconstructionDrift": (
        lambda window: detectors.PCAReconstructionDrift(_ROWS_REF, window=window),
        _rows,
    ),
}


def _batches(rng: np.random.Generator, total: int, window: int) -> list[tuple[int, int]]:
    """Random batch bounds: empty, shorter than a window, and up to twenty windows long."""
    bounds, lo = [], 0
    while lo < total:
        longest = [window, 3 * window, 20 * window][int(rng.integers(0, 3))]
        hi = min(total, lo + int(rng.integers(0, longest + 1)))
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _outputs(det: Detector) -> dict[str, Any]:
    out: dict[str, Any] = {name: det.read(name) for name in det.statistics}
    out.update(drift=det.drift_detected, n=det.n, n_seen=det.n_seen)
    return out


def _assert_same_state(a: Detector, b: Detector) -> None:
    assert json.dumps(a.snapshot()) == json.dumps(b.snapshot())
    assert (a._counts is None and b._counts is None) or a._counts.tolist() == b._counts.tolist()
    out_a, out_b = _outputs(a), _outputs(b)
    for key, value in out_a.items():
        other = out_b[key]
        if isinstance(value, float) and math.isnan(value):
            assert isinstance(other, float) and math.isnan(other), key
        else:
            assert value == other, key


def _check(name: str, window: int, seed: int, size: int) -> int:
    """Feed the three detectors; return how many values the skipping one did not encode."""
    make, stream = SLIDING[name]
    rng = np.random.default_rng(seed)
    columns = stream(rng, size)
    looped, skipping, plain = make(window), make(window), make(window)
    plain._slides = False  # today's update_many: every value encoded
    pushes: list[tuple[int, int]] = []
    push_many = skipping._push_many

    def recording_push(codes: np.ndarray, skipped: int = 0) -> None:
        pushes.append((codes.shape[0], skipped))
        push_many(codes, skipped)

    skipping._push_many = recording_push  # type: ignore[method-assign]
    pair = isinstance(looped, PairDetector)
    not_encoded = 0
    for lo, hi in _batches(rng, size, window):
        for i in range(lo, hi):
            looped.update(tuple(c[i] for c in columns) if pair else columns[0][i])
        before = plain.n_seen
        pushes.clear()
        skipping.update_many(*(c[lo:hi] for c in columns))
        plain.update_many(*(c[lo:hi] for c in columns))
        kept = plain.n_seen - before  # the batch's values that enter the window
        skipped = sum(s for _, s in pushes)
        assert skipped == max(0, kept - window)
        if skipped:
            assert pushes == [(window, skipped)]  # only the window's worth was encoded
        not_encoded += skipped
        _assert_same_state(skipping, plain)  # read after every batch: a stale cache would show
    _assert_same_state(skipping, looped)
    return not_encoded


def test_the_opted_in_classes_are_the_ones_tested() -> None:
    assert {name for name, cls in _CLASSES.items() if cls._slides} == set(SLIDING)


@pytest.mark.parametrize("name", sorted(SLIDING))
@pytest.mark.parametrize("seed", range(3))
def test_skipping_gives_the_state_of_the_loop(name: str, seed: int) -> None:
    assert _check(name, window=16, seed=seed, size=1500) > 0


@pytest.mark.parametrize("name", sorted(SLIDING))
@settings(max_examples=15, deadline=None)
@given(window=st.integers(2, 6), seed=st.integers(0, 2**32 - 1), size=st.integers(0, 300))
def test_skipping_on_small_windows(name: str, window: int, seed: int, size: int) -> None:
    _check(name, window=window, seed=seed, size=size)


@pytest.mark.parametrize(
    "make",
    [
        lambda: detectors.WassersteinDrift(_REF, window=16, tumbling=True),
        lambda: detectors.WindowedPSIDrift(_REF, window=16, bins=5, tumbling=True),
    ],
)
def test_tumbling_windows_do_not_skip(make: Callable[[], Detector]) -> None:
    det = make()
    seen: list[int] = []
    push_many = det._push_many

    def recording_push(codes: np.ndarray, skipped: int = 0) -> None:
        seen.append(skipped)
        push_many(codes, skipped)

    det._push_many = recording_push  # type: ignore[method-assign]
    det.update_many(np.random.default_rng(3).normal(size=1000))
    assert seen and not any(seen)
    assert det.n_seen == 1000


@pytest.mark.parametrize(
    "make",
    [
        lambda: detectors.RollingMAE(window=16, threshold=1.0),
        lambda: detectors.RollingROCAUC(window=16),
        lambda: detectors.ADWIN(),
        lambda: detectors.HardBoundsGuard(low=-1.0, high=1.0),
    ],
)
def test_other_detectors_do_not_opt_in(make: Callable[[], Detector]) -> None:
    assert not make()._slides


# -- the ring buffer's skipped values ---------------------------------------------------------------

operations = st.lists(
    st.tuples(st.lists(st.integers(-1000, 1000), max_size=30), st.integers(0, 40)), max_size=12
)


@given(capacity=st.integers(1, 12), ops=operations)
def test_extend_with_skipped_values_lays_out_the_storage_as_pushing_them(
    capacity: int, ops: list[tuple[list[int], int]]
) -> None:
    buf = RingBuffer(capacity, dtype=np.int64)
    pushed = RingBuffer(capacity, dtype=np.int64)
    for values, skipped in ops:
        if len(values) < capacity:
            skipped = 0  # values that would survive cannot be skipped
        before = pushed.values().tolist()
        evicted = buf.extend(values, skipped)
        pushed.extend([-1] * skipped + values)
        assert buf.state() == pushed.state()
        # The evicted values returned are the old contents and the batch's own first values.
        if skipped:
            assert evicted.tolist() == before + values[: len(values) - capacity]


def test_extend_refuses_skipped_values_that_would_survive() -> None:
    buf = RingBuffer(4, dtype=np.int64)
    with pytest.raises(ValueError, match="skipped"):
        buf.extend([1, 2, 3], skipped=2)
    with pytest.raises(ValueError, match="skipped"):
        buf.extend([1, 2, 3, 4], skipped=-1)
    buf.extend([1, 2, 3, 4], skipped=2)
    assert buf.values().tolist() == [1, 2, 3, 4] and buf.state()["pos"] == 2
