"""Output guardrails: limits on what the model sets, from the policy the product serves.

A model steering a protocol parameter (an interest rate, a fee, a collateral factor) must not move
it too far in one step, too often, or too far in a day, and never outside hard bounds. Each limit
is a detector fed the model's successive outputs (``update(x, ts=...)``, ``update_many(values,
ts=...)``; timestamps in seconds, non-decreasing, required by the limits that count time) and
**latches on the first breach**: ``drift_detected`` turns True on the first output that breaks
the limit and stays True (until :meth:`rearm`), and ``breach_index`` / ``breach_value`` /
``breach_ts`` say where it was. ``breach_index`` counts every value fed, missing ones included
(they are otherwise skipped), so it is the position in the caller's own stream. ``statistic`` is
the measured quantity at the latest output, and ``breaches`` counts every breaching output.

Vectorised ``update_many`` evaluates each output of the batch in order, exactly as the loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from detectors._window import RingBuffer
from detectors.base import (
    Detector,
    _one_dimensional,
    _WholeBatch,
    check_real,
    check_window,
)
from detectors.protocol import Feed

__all__ = ["ChangeFrequencyGuard", "CumulativeChangeGuard", "HardBoundsGuard", "StepChangeGuard"]


class _Guardrail(_WholeBatch, Detector):
    input_kind = "numeric"
    # The model's successive outputs (with their times, for the guards that count time).
    feeds: ClassVar[Feed] = "values"
    statistics = ("statistic", "breaches")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "breaches": ">"}
    _needs_ts = False

    def _reset(self) -> None:
        self._n_fed = 0
        self._n_seen = 0
        self._prev = math.nan
        self._last_ts = -math.inf
        self._last_stat = math.nan
        self._breaches = 0
        self._breach: dict[str, Any] | None = None
        self._cache: dict[str, float] = {}
        self._reset_history()

    def _reset_history(self) -> None:
        """Build what a guard keeps beyond the previous value."""

    # -- feeding ---------------------------------------------------------------------------------

    def update(self, x: Any, ts: float | None = None) -> None:
        """Take the next output (and its time)."""
        self.update_many([math.nan if x is None else x], None if ts is None else [ts])

    def update_many(self, values: ArrayLike, ts: ArrayLike | None = None) -> None:
        """Take outputs in order; the same final state, and the same first breach, as the loop."""
        raw = _one_dimensional(values, "values")
        try:
            x = np.asarray([math.nan if v is None else v for v in raw.tolist()], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("values must be numbers (None or NaN for a missing output)") from None
        if ts is None:
            if self._needs_ts:
                raise ValueError(f"ts is required: {type(self).__name__} counts time")
            stamps = np.full(x.shape[0], math.nan)
        else:
            stamps = np.asarray(ts, dtype=np.float64).reshape(-1)
            if stamps.shape[0] != x.shape[0]:
                raise ValueError(f"ts must have one timestamp per value: {stamps.shape[0]} for {x.shape[0]}")
            kept = stamps[~np.isnan(x)]
            if np.isnan(kept).any() or (
                kept.shape[0] and (kept[0] < self._last_ts or (np.diff(kept) < 0).any())
            ):
                raise ValueError("ts must not be NaN and must not decrease")
        positions = self._n_fed + np.flatnonzero(~np.isnan(x))
        self._n_fed += x.shape[0]
        keep = ~np.isnan(x)
        x, stamps = x[keep], stamps[keep]
        if not x.shape[0]:
            return
        stat = self._measure(x, stamps)
        over = stat > self.threshold
        self._breaches += int(over.sum())
        if self._breach is None and over.any():
            i = int(np.argmax(over))
            self._breach = {
                "index": int(positions[i]),
                "value": float(x[i]),
                "ts": None if math.isnan(stamps[i]) else float(stamps[i]),
                "statistic": float(stat[i]),
            }
        self._prev = float(x[-1])
        if not math.isnan(stamps[-1]):
            self._last_ts = float(stamps[-1])
        self._last_stat = float(stat[-1])
        self._n_seen += int(x.shape[0])
        self._cache.clear()

    def _measure(self, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """The guarded quantity at each output of the batch, given the state before it."""
        raise NotImplementedError

    def rearm(self) -> None:
        """Forget the latched breach (after an operator has dealt with it); keep the history."""
        self._breach = None
        self._cache.clear()

    # -- reading ---------------------------------------------------------------------------------

    def _compute(self, name: str) -> float:
        return float(self._breaches) if name == "breaches" else self._last_stat

    def read(self, name: str) -> float:
        self._check_statistic(name)
        return self._compute(name) if self._n_seen else math.nan

    @property
    def drift_detected(self) -> bool:
        """True from the first breach on (until :meth:`rearm`)."""
        return self._breach is not None

    @property
    def breach_index(self) -> int | None:
        """Position, among all values fed, of the first output that broke the limit."""
        return None if self._breach is None else self._breach["index"]

    @property
    def breach_value(self) -> float | None:
        """The first breaching output."""
        return None if self._breach is None else self._breach["value"]

    @property
    def breach_ts(self) -> float | None:
        """Timestamp of the first breaching output (None if it came without one)."""
        return None if self._breach is None else self._breach["ts"]

    @property
    def n(self) -> int:
        return self._n_seen

    # -- persistence -----------------------------------------------------------------------------

    def _history_state(self) -> dict[str, Any]:
        return {}

    def _load_history(self, state: Mapping[str, Any]) -> None:
        pass

    def _snapshot_state(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if math.isnan(v) or math.isinf(v) else v

        return {
            "n_fed": self._n_fed,
            "n_seen": self._n_seen,
            "prev": num(self._prev),
            "last_ts": num(self._last_ts),
            "last_stat": None if math.isnan(self._last_stat) else self._last_stat,
            "breaches": self._breaches,
            "breach": self._breach,
            "history": self._history_state(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        def num(v: Any, default: float = math.nan) -> float:
            return default if v is None else float(v)

        self._reset()
        self._n_fed, self._n_seen = int(state["n_fed"]), int(state["n_seen"])
        self._prev = num(state["prev"])
        self._last_ts = num(state["last_ts"], -math.inf)
        self._last_stat = num(state["last_stat"])
        self._breaches = int(state["breaches"])
        self._breach = None if state["breach"] is None else dict(state["breach"])
        self._load_history(state["history"])

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._param_names())
        return f"{type(self).__name__}({shown}, n_seen={self.n_seen}, breach_index={self.breach_index})"


def _relative(change: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(change) / np.abs(base)
    return np.where(change == 0, 0.0, out)  # 0/0 is no change; x/0 is infinite


class HardBoundsGuard(_Guardrail):
    """Outputs must lie in ``[low, high]``.

    ``statistic`` is how far the latest output lies outside the bounds (0 inside); any positive
    value is a breach.

    Parameters
    ----------
    low, high
        The bounds (either may be infinite).

    Examples
    --------
    >>> from detectors import HardBoundsGuard
    >>> bounds = HardBoundsGuard(low=0.0, high=0.25)   # e.g. a borrow rate between 0% and 25%
    >>> bounds.update_many([0.05, 0.06, 0.31, 0.07, -0.01])
    >>> bounds.drift_detected, bounds.breach_index, bounds.breach_value, int(bounds.read("breaches"))
    (True, 2, 0.31, 2)

    """

    kind = "hard_bounds"

    def __init__(self, *, low: float = -math.inf, high: float = math.inf) -> None:
        self.low = check_real("low", low, -math.inf, math.inf)
        self.high = check_real("high", high, -math.inf, math.inf)
        if not self.low <= self.high:
            raise ValueError(f"low must not exceed high, got low={low!r} and high={high!r}")
        self.threshold = 0.0
        self.window = 2
        self.min_samples = 1
        self._reset()

    def _measure(self, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return np.maximum(np.maximum(self.low - x, x - self.high), 0.0)


class StepChangeGuard(_Guardrail):
    """At most ``max_step`` change from one output to the next.

    ``statistic`` is the latest step, ``|x - x_prev| / |x_prev|`` (a fraction: 0.05 is 5%), or
    ``|x - x_prev|`` with ``relative=False``. A step away from 0 is infinite in relative terms.

    Parameters
    ----------
    max_step
        The largest step allowed (``threshold`` is the same number).
    relative
        Whether steps are fractions of the previous output (default) or absolute.

    Examples
    --------
    >>> from detectors import StepChangeGuard
    >>> step = StepChangeGuard(max_step=0.10)   # at most 10% per update
    >>> step.update_many([4.0, 4.2, 4.4, 5.0, 5.1], ts=[0, 60, 120, 180, 240])
    >>> step.breach_index, step.breach_ts, round(step.statistic, 3)
    (3, 180.0, 0.02)

    """

    kind = "step_change"

    def __init__(self, *, max_step: float, relative: bool = True) -> None:
        self.max_step = check_real("max_step", max_step, 0.0, math.inf)
        if not isinstance(relative, bool):
            # ValueError, not TypeError: the policy loader reports ValueErrors
            raise ValueError(f"relative must be True or False, got {relative!r}")
        self.relative = relative
        self.threshold = self.max_step
        self.window = 2
        self.min_samples = 1
        self._reset()

    def _measure(self, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        prev = np.concatenate([[x[0] if math.isnan(self._prev) else self._prev], x[:-1]])
        change = x - prev
        return _relative(change, prev) if self.relative else np.abs(change)


class ChangeFrequencyGuard(_Guardrail):
    """At most ``max_changes`` changes of the output within any ``period`` seconds.

    An output is a change when it differs from the previous one by more than ``tolerance``.
    ``statistic`` is the number of changes in ``(ts - period, ts]`` at the latest output (it
    counts at most ``window`` changes).

    Parameters
    ----------
    max_changes
        Changes allowed per period (``threshold`` is the same number).
    period
        Seconds; 3600 (an hour) by default.
    tolerance
        Differences up to this are not changes.
    window
        Most change times kept; must exceed ``max_changes``.

    Examples
    --------
    >>> from detectors import ChangeFrequencyGuard
    >>> freq = ChangeFrequencyGuard(max_changes=3, period=3600.0)
    >>> outputs = [1.0, 1.1, 1.1, 1.2, 1.3, 1.3, 1.4]
    >>> times = [0, 600, 1200, 1800, 2400, 3000, 3300]
    >>> freq.update_many(outputs, ts=times)
    >>> freq.breach_index, freq.breach_ts, freq.statistic
    (6, 3300.0, 4.0)

    """

    kind = "change_frequency"
    _needs_ts = True

    def __init__(
        self, *, max_changes: int, period: float = 3600.0, tolerance: float = 0.0, window: int = 1000
    ) -> None:
        if isinstance(max_changes, bool) or not isinstance(max_changes, int) or max_changes < 0:
            raise ValueError(f"max_changes must be an integer of at least 0, got {max_changes!r}")
        self.max_changes = max_changes
        self.period = check_real("period", period, 0.0, math.inf, low_open=True)
        self.tolerance = check_real("tolerance", tolerance, 0.0, math.inf)
        self.window = check_window(window)
        if self.window <= max_changes:
            raise ValueError(f"window must exceed max_changes ({max_changes}), got {window!r}")
        self.threshold = float(max_changes)
        self.min_samples = 1
        self._reset()

    def _reset_history(self) -> None:
        self._changes = RingBuffer(self.window, np.float64)

    def _measure(self, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        prev = np.concatenate([[x[0] if math.isnan(self._prev) else self._prev], x[:-1]])
        changed = np.abs(x - prev) > self.tolerance
        old = self._changes.values()
        new = ts[changed]
        times = np.concatenate([old, new])
        # Changes so far at each output: those stored plus those of the batch up to it.
        upto = old.shape[0] + np.cumsum(changed)
        since = np.searchsorted(times, ts - self.period, side="right")
        self._changes.extend(new)
        changes: np.ndarray = np.minimum(upto - since, self.window).astype(np.float64)
        return changes

    def _history_state(self) -> dict[str, Any]:
        return {"changes": self._changes.state()}

    def _load_history(self, state: Mapping[str, Any]) -> None:
        self._changes = RingBuffer.from_state(self.window, state["changes"], np.float64)


class CumulativeChangeGuard(_Guardrail):
    """At most ``max_change`` net change over any ``period`` seconds.

    ``statistic`` is ``|x - base| / |base|`` (or ``|x - base|`` with ``relative=False``) where
    ``base`` is the output in force ``period`` seconds before the latest one (the first output
    seen while less than a period has passed). Many small steps in one direction add up here
    where :class:`StepChangeGuard` passes each of them; a back-and-forth is for
    :class:`ChangeFrequencyGuard`.

    Parameters
    ----------
    max_change
        The largest net change allowed over a period (``threshold`` is the same number).
    period
        Seconds; 86400 (a day) by default.
    relative
        Whether the change is a fraction of ``base`` (default) or absolute.
    window
        Most outputs kept; if more than ``window`` outputs fall within a period the oldest kept
        one stands in for ``base``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import CumulativeChangeGuard
    >>> day = CumulativeChangeGuard(max_change=0.20)      # at most 20% a day
    >>> hours = np.arange(0, 48) * 3600.0
    >>> rate = 5.0 * 1.01 ** np.arange(48)                  # +1% an hour: fine step by step
    >>> day.update_many(rate, ts=hours)
    >>> day.breach_index, round(day.breach_value, 3), round(day.read("statistic"), 3)
    (19, 6.041, 0.27)

    """

    kind = "cumulative_change"
    _needs_ts = True

    def __init__(
        self, *, max_change: float, period: float = 86400.0, relative: bool = True, window: int = 10_000
    ) -> None:
        self.max_change = check_real("max_change", max_change, 0.0, math.inf)
        self.period = check_real("period", period, 0.0, math.inf, low_open=True)
        if not isinstance(relative, bool):
            # ValueError, not TypeError: the policy loader reports ValueErrors
            raise ValueError(f"relative must be True or False, got {relative!r}")
        self.relative = relative
        self.window = check_window(window)
        self.threshold = self.max_change
        self.min_samples = 1
        self._reset()

    def _reset_history(self) -> None:
        self._hist_ts = RingBuffer(self.window, np.float64)
        self._hist_x = RingBuffer(self.window, np.float64)

    def _measure(self, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        old_ts = self._hist_ts.values()
        times = np.concatenate([old_ts, ts])
        values = np.concatenate([self._hist_x.values(), x])
        j = np.searchsorted(times, ts - self.period, side="right") - 1
        # The loop would only still hold the last `window` outputs before each one; the oldest of
        # them stands in for base when base has fallen out (it is the first output otherwise).
        oldest = np.maximum(0, old_ts.shape[0] + np.arange(x.shape[0]) - self.window)
        base = values[np.maximum(j, oldest)]
        self._hist_ts.extend(ts)
        self._hist_x.extend(x)
        change = x - base
        return _relative(change, base) if self.relative else np.abs(change)

    def _history_state(self) -> dict[str, Any]:
        return {"ts": self._hist_ts.state(), "x": self._hist_x.state()}

    def _load_history(self, state: Mapping[str, Any]) -> None:
        self._hist_ts = RingBuffer.from_state(self.window, state["ts"], np.float64)
        self._hist_x = RingBuffer.from_state(self.window, state["x"], np.float64)
