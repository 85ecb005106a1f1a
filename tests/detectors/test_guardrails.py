"""Output guardrails: the first breach is found, where it is, whatever the batching."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import (
    ChangeFrequencyGuard,
    CumulativeChangeGuard,
    Detector,
    HardBoundsGuard,
    StepChangeGuard,
)

GUARDS: dict[str, Callable[[], Detector]] = {
    "bounds": lambda: HardBoundsGuard(low=0.5, high=1.5),
    "step": lambda: StepChangeGuard(max_step=0.15),
    "step_abs": lambda: StepChangeGuard(max_step=0.2, relative=False),
    "frequency": lambda: ChangeFrequencyGuard(max_changes=4, period=50.0, tolerance=0.01, window=8),
    "cumulative": lambda: CumulativeChangeGuard(max_change=0.3, period=40.0, window=12),
}


def _loop_breach(make: Callable[[], Detector], values: np.ndarray, ts: np.ndarray) -> int | None:
    """Reference semantics: feed one by one, note when drift_detected first turns True."""
    det = make()
    for i, (x, t) in enumerate(zip(values, ts, strict=True)):
        det.update(x, ts=t)
        if det.drift_detected:
            return i
    return None


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), name=st.sampled_from(sorted(GUARDS)))
def test_update_many_finds_the_same_first_breach_as_the_loop(seed: int, name: str) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 120))
    values = 1.0 + np.cumsum(rng.normal(0.0, 0.04, size)) * (rng.random(size) < 0.6)
    values[rng.random(size) < 0.05] = np.nan  # a missing output: skipped, but counted in the index
    ts = np.cumsum(rng.exponential(3.0, size))
    make = GUARDS[name]
    looped, batched = make(), make()
    for x, t in zip(values, ts, strict=True):
        looped.update(x, ts=t)
    lo = 0
    while lo < size:
        hi = min(size, lo + int(rng.integers(0, 30)))
        batched.update_many(values[lo:hi], ts=ts[lo:hi])
        lo = hi
    assert batched.breach_index == looped.breach_index == _loop_breach(make, values, ts)
    assert batched.snapshot() == looped.snapshot()
    restored = Detector.restore(json.loads(json.dumps(looped.snapshot())))
    for det in (batched, restored):
        for stat in looped.statistics:
            a, b = looped.read(stat), det.read(stat)
            assert (math.isnan(a) and math.isnan(b)) or a == b
    if looped.breach_index is not None:
        assert looped.breach_value == values[looped.breach_index]
        assert looped.breach_ts == ts[looped.breach_index]


def test_hard_bounds_latch_on_the_first_breach_and_rearm() -> None:
    guard = HardBoundsGuard(low=0.0, high=10.0)
    guard.update_many([1.0, None, 11.0, -2.0, 5.0])
    assert guard.breach_index == 2 and guard.breach_value == 11.0 and guard.breach_ts is None
    assert guard.statistic == 0.0  # the latest output is inside, the latch holds
    assert guard.drift_detected and guard.read("breaches") == 2.0
    guard.rearm()
    assert not guard.drift_detected
    guard.update(-2.0)
    assert guard.breach_index == 5


def test_step_change_is_relative_to_the_previous_output() -> None:
    step = StepChangeGuard(max_step=0.10)
    step.update_many([100.0, 109.0, 99.0, 0.0])
    assert step.breach_index == 3  # -100% (109 -> 99 is -9.2%)
    zero = StepChangeGuard(max_step=0.5)
    zero.update_many([0.0, 0.0, 0.1])
    assert zero.breach_index == 2 and math.isinf(zero.statistic)


def test_change_frequency_counts_changes_per_period() -> None:
    freq = ChangeFrequencyGuard(max_changes=2, period=3600.0)
    freq.update_many([5.0, 5.0, 5.5, 5.5, 6.0], ts=[0, 600, 1200, 1800, 2400])
    assert not freq.drift_detected and freq.statistic == 2.0
    freq.update(6.0, ts=3000.0)  # no change
    freq.update(5.0, ts=4900.0)  # the change at 1200 has left the hour: 2400 and 4900 remain
    assert not freq.drift_detected and freq.statistic == 2.0
    freq.update(4.0, ts=5000.0)
    assert freq.breach_index == 7 and freq.breach_ts == 5000.0


def test_cumulative_change_against_the_value_a_period_ago() -> None:
    day = CumulativeChangeGuard(max_change=0.2, period=86400.0)
    hours = np.arange(30) * 3600.0
    day.update_many(np.full(30, 10.0), ts=hours)
    day.update(11.5, ts=30 * 3600.0)
    assert not day.drift_detected and day.statistic == pytest.approx(0.15)
    day.update(12.5, ts=31 * 3600.0)
    assert day.breach_index == 31 and day.statistic == pytest.approx(0.25)


def test_time_is_required_where_time_is_counted() -> None:
    with pytest.raises(ValueError, match="ts is required"):
        ChangeFrequencyGuard(max_changes=1).update(1.0)
    with pytest.raises(ValueError, match="ts must not"):
        CumulativeChangeGuard(max_change=0.1).update_many([1.0, 2.0], ts=[5.0, 4.0])
    with pytest.raises(ValueError, match="one timestamp per value"):
        StepChangeGuard(max_step=0.1).update_many([1.0, 2.0], ts=[5.0])


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: HardBoundsGuard(low=2.0, high=1.0), "low"),
        (lambda: StepChangeGuard(max_step=-0.1), "max_step"),
        (lambda: StepChangeGuard(max_step=0.1, relative="yes"), "relative"),
        (lambda: ChangeFrequencyGuard(max_changes=-1), "max_changes"),
        (lambda: ChangeFrequencyGuard(max_changes=5, window=5), "window"),
        (lambda: ChangeFrequencyGuard(max_changes=1, period=0), "period"),
        (lambda: CumulativeChangeGuard(max_change=math.nan), "max_change"),
    ],
)
def test_bad_arguments_name_the_parameter(make: Callable[[], Detector], name: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        make()
