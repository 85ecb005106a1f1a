"""Data quality as detectors: missing values, values out of the reference's range, type errors,
volume and staleness.

Their statistics are thresholded by rules like any drift statistic. Missing, out-of-range and
type-error rates are shares of the last ``window`` records (the first two are fed the feature's
values, missing ones included; the third one flag per record, or counts from the service's
quarantine). Unseen categories are :class:`detectors.UnseenCategoryRate`.

Volume and staleness are about time, which is passed in, never read from the clock: they are fed
record timestamps (``update(ts)``, ``update_many(ts)``) and told the current time with
``observe_time(now)``, so that a feed that stops sending still raises them. Timestamps are seconds
as floats (a Unix time, say); record timestamps must not decrease, nor the times observed, but a
record may be older than the time last observed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from detectors._window import RingBuffer
from detectors.base import (
    Detector,
    UnivariateDetector,
    _missing_mask,
    _one_dimensional,
    check_int,
    check_min_samples,
    check_real,
    check_window,
    is_missing,
)
from detectors.protocol import Feed, ReferenceSample
from detectors.twosample import _numeric_reference

__all__ = ["MissingRate", "OutOfRangeRate", "Staleness", "TypeErrorRate", "VolumeDrift"]


class _FlagRate(UnivariateDetector):
    """Share of the records in the window flagged 1 (the other code being 0)."""

    input_kind = "numeric"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}
    _dtype = np.int64
    _n_codes = 2

    def _compute(self, name: str) -> float:
        assert self._counts is not None
        return float(self._counts[1] / self._buffer._count)


class MissingRate(_FlagRate):
    """Share of missing values (None or NaN) among the last ``window`` records of a feature.

    Unlike the other detectors it is fed the missing values too (they are what it counts), so
    ``n_seen`` counts every record.

    Parameters
    ----------
    window
        Number of most recent records.
    threshold
        Drift when ``statistic > threshold``; 0.05 by default.
    min_samples
        No drift is signalled with fewer records in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import MissingRate

    >>> rng = np.random.default_rng(1)
    >>> values = rng.normal(size=2000)
    >>> values[(np.arange(2000) >= 1000) & (rng.random(2000) < 0.2)] = np.nan
    >>> missing = MissingRate(window=200, threshold=0.1)
    >>> for i, x in enumerate(values):
    ...     missing.update(x)
    ...     if missing.drift_detected:
    ...         print(f"Change detected at index {i}, missing {missing.statistic:.1%}")
    ...         break
    Change detected at index 1101, missing 10.5%

    """

    kind = "missing_rate"
    reads_missing = True
    _slides = True

    def __init__(self, *, window: int = 500, threshold: float = 0.05, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    def _encode_one(self, x: Any) -> Any:
        return int(is_missing(x))

    def _kept(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return values, np.ones(values.shape[0], dtype=bool)  # missing values are what it counts

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        return _missing_mask(values).astype(np.int64)


class OutOfRangeRate(UnivariateDetector):
    """Share of the last ``window`` values outside the range the reference spans.

    The bounds are the reference's ``lower`` and ``upper`` quantiles (by default its minimum and
    maximum), computed once; ``bounds`` holds them. Missing values are skipped.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped).
    window
        Number of most recent values.
    lower, upper
        Quantile levels of the bounds, ``0 <= lower < upper <= 1``.
    threshold
        Drift when ``statistic > threshold``; 0.01 by default.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window``.

    Notes
    -----
    Statistics: ``statistic`` (share outside), ``below`` and ``above`` (the shares on each side).

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import OutOfRangeRate

    >>> rng = np.random.default_rng(2)
    >>> oor = OutOfRangeRate(rng.uniform(0, 100, size=5000), window=200, threshold=0.02)
    >>> oor.bounds
    (0.0..., 99.9...)
    >>> stream = np.concatenate([rng.uniform(0, 100, 1000), rng.uniform(0, 110, 1000)])
    >>> for i, x in enumerate(stream):
    ...     oor.update(x)
    ...     if oor.drift_detected:
    ...         print(f"Change detected at index {i}, above {oor.read('above'):.1%}")
    ...         break
    Change detected at index 1033, above 2.5%

    """

    kind = "out_of_range"
    input_kind = "numeric"
    statistics = ("statistic", "below", "above")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "below": ">", "above": ">"}
    _dtype = np.int64
    _slides = True

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        lower: float = 0.0,
        upper: float = 1.0,
        threshold: float = 0.01,
        min_samples: int | None = None,
    ) -> None:
        self.window = check_window(window)
        self.reference = _numeric_reference(reference)
        self.lower = check_real("lower", lower, 0.0, 1.0)
        self.upper = check_real("upper", upper, 0.0, 1.0)
        if not self.lower < self.upper:
            raise ValueError(f"lower must be below upper, got lower={lower!r} and upper={upper!r}")
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)
        self.min_samples = check_min_samples(min_samples, self.window)
        low, high = np.quantile(self.reference, [self.lower, self.upper])
        self._low, self._high = float(low), float(high)
        self._n_codes = 3  # 0 inside, 1 below, 2 above
        self._reset()

    @property
    def bounds(self) -> tuple[float, float]:
        """The lowest and highest value counted as in range."""
        return self._low, self._high

    def _encode_one(self, x: Any) -> Any:
        if x is None:
            return None
        value = float(x)
        if math.isnan(value):
            return None
        return 1 if value < self._low else 2 if value > self._high else 0

    def _kept(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        array = np.asarray(values, dtype=np.float64)
        return array, ~np.isnan(array)

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        array, keep = self._kept(values)
        array = array[keep]
        return np.where(array < self._low, 1, np.where(array > self._high, 2, 0)).astype(np.int64)

    def _compute(self, name: str) -> float:
        assert self._counts is not None
        n = self._buffer._count
        if name == "below":
            return float(self._counts[1] / n)
        if name == "above":
            return float(self._counts[2] / n)
        return float((self._counts[1] + self._counts[2]) / n)


class TypeErrorRate(_FlagRate):
    """Share of the last ``window`` records that failed validation (wrong type, unparsable...).

    Fed one flag per record (true for a record the service quarantined), or counts with
    :meth:`add_counts` when the service only knows how many records of a batch it accepted
    and quarantined.

    Parameters
    ----------
    window
        Number of most recent records.
    threshold
        Drift when ``statistic > threshold``; 0.01 by default.
    min_samples
        No drift is signalled with fewer records in the window; None means ``window``.

    Examples
    --------
    >>> from detectors import TypeErrorRate
    >>> errors = TypeErrorRate(window=1000, threshold=0.01)
    >>> errors.add_counts(ok=990, errors=5)
    >>> print(f"{errors.statistic:.4f}", errors.drift_detected)
    0.0050 False
    >>> errors.add_counts(ok=480, errors=20)
    >>> print(f"{errors.statistic:.4f}", errors.drift_detected)
    0.0250 True

    """

    kind = "type_error_rate"
    feeds: ClassVar[Feed] = "counts"  # by the service; update_many(flags) takes one flag per record too
    _slides = True

    def __init__(self, *, window: int = 500, threshold: float = 0.01, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    def add_counts(self, ok: int, errors: int) -> None:
        """Add ``ok`` good records, then ``errors`` bad ones (order within a batch is not known)."""
        ok = check_int("ok", ok, 0)
        errors = check_int("errors", errors, 0)
        self.update_many(np.concatenate([np.zeros(ok, np.int64), np.ones(errors, np.int64)]))

    def _encode_one(self, x: Any) -> Any:
        return None if is_missing(x) else int(bool(x))

    def _kept(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return values, ~_missing_mask(values)  # _encode_one skips exactly these, as tolist() gives them

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        if values.dtype.kind in "biu":
            flags: np.ndarray = (values != 0).astype(np.int64)
            return flags
        codes = [self._encode_one(v) for v in values.tolist()]
        return np.array([c for c in codes if c is not None], dtype=np.int64)


# -- time-based detectors -------------------------------------------------------------------------


class _ClockedDetector(Detector):
    """A detector fed record timestamps and the current time (``observe_time``), not values.

    Its statistics are defined once time is known, even with no record at all (a feed that never
    sends is the case it exists for), so it overrides the window-based reading of ``Detector``.
    """

    input_kind = "numeric"
    feeds: ClassVar[Feed] = "time"

    def _reset(self) -> None:
        self._stamps = RingBuffer(self.window, np.float64)
        self._n_seen = 0
        self._now = -math.inf
        self._cache: dict[str, float] = {}

    def update(self, ts: Any) -> None:
        """Record one arrival at time ``ts`` (None and NaN are skipped)."""
        if is_missing(ts):
            return
        self.update_many(np.array([float(ts)]))

    def update_many(self, ts: ArrayLike) -> None:
        """Record arrivals at the times ``ts``: non-decreasing from record to record, though they
        may be earlier than a time given to :meth:`observe_time` (records arrive late)."""
        stamps = np.asarray(_one_dimensional(ts, "ts"), dtype=np.float64)
        stamps = stamps[~np.isnan(stamps)]
        if not stamps.shape[0]:
            return
        last = self.last_record
        if stamps[0] < last or (np.diff(stamps) < 0).any():
            raise ValueError(f"ts must not decrease: got {stamps[0]} after a record at {last}")
        self._stamps.extend(stamps)
        self._now = max(self._now, float(stamps[-1]))
        self._n_seen += int(stamps.shape[0])
        self._cache.clear()

    @property
    def last_record(self) -> float:
        """The timestamp of the latest record; -inf before any."""
        if not self._stamps._count:
            return -math.inf
        return float(self._stamps._data[(self._stamps._pos - 1) % self._stamps.capacity])

    def _last_record(self) -> float:
        # The service's name until it reads last_record.
        return self.last_record

    def observe_time(self, now: float) -> None:
        """Tell the detector the current time (not before any time already seen)."""
        now = float(now)
        if math.isnan(now) or now < self._now:
            raise ValueError(f"now must not be before the last time seen ({self._now}), got {now}")
        self._now = now
        self._cache.clear()

    @property
    def now(self) -> float:
        """The latest time seen (a record's or :meth:`observe_time`'s); -inf before any."""
        return self._now

    def _read(self, name: str) -> float:
        return float(self._compute(name)) if self._now > -math.inf else math.nan

    @property
    def n(self) -> int:
        """Number of timestamps kept."""
        return self._stamps._count

    @property
    def drift_detected(self) -> bool:
        """Whether ``statistic`` is beyond ``threshold``, once the detector is :attr:`ready`."""
        value = self.statistic
        if math.isnan(value) or not self.ready:
            return False
        return value > self.threshold if self.fires_when["statistic"] == ">" else value < self.threshold

    def _ready(self) -> bool:
        # The service's name until it reads ready.
        return self.ready

    def _snapshot_state(self) -> dict[str, Any]:
        return {
            "n_seen": self._n_seen,
            "ts": self._stamps.state(),
            "now": None if self._now == -math.inf else self._now,
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._reset()
        self._stamps = RingBuffer.from_state(self.window, state["ts"], np.float64)
        self._n_seen = int(state["n_seen"])
        self._now = -math.inf if state["now"] is None else float(state["now"])


class VolumeDrift(_ClockedDetector):
    """Records per ``interval`` seconds against the reference rate.

    ``statistic`` is the number of records with a timestamp in ``(now - interval, now]``
    divided by ``rate * interval``, the number expected: 1 at the usual rate, 0 when the feed
    has stopped. It fires below ``threshold`` (a drop); ``ratio`` is the same number for rules
    that catch surges (``ratio > 3``), ``count`` the raw count. Nothing fires before one whole
    ``interval`` has been observed since the first record or time seen.

    Parameters
    ----------
    rate
        Reference rate in records per second; :meth:`from_reference` estimates it from the
        reference's timestamps.
    interval
        Length of the counting interval in seconds.
    threshold
        Drift when ``statistic < threshold``; 0.5 (half the usual volume) by default.
    window
        Most timestamps kept; the count saturates at it, so keep it above the busiest interval.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import VolumeDrift

    >>> volume = VolumeDrift(rate=2.0, interval=60.0)
    >>> volume.update_many(np.arange(0.0, 300.0, 0.5))      # 2 records a second for 5 minutes
    >>> print(f"{volume.statistic:.2f}", volume.drift_detected)
    1.00 False
    >>> volume.update_many(np.arange(300.0, 330.0, 2.0))    # then one every 2 seconds
    >>> volume.observe_time(360.0)
    >>> print(f"{volume.statistic:.2f}", volume.drift_detected, int(volume.read("count")))
    0.12 True 14

    """

    kind = "volume"
    statistics = ("statistic", "ratio", "count")
    fires_when: ClassVar[dict[str, str]] = {"statistic": "<", "ratio": ">", "count": "<"}

    def __init__(
        self, *, rate: float, interval: float = 3600.0, threshold: float = 0.5, window: int = 100_000
    ) -> None:
        self.rate = check_real("rate", rate, 0.0, math.inf, low_open=True)
        self.interval = check_real("interval", interval, 0.0, math.inf, low_open=True)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf)
        self.window = check_window(window)
        self.min_samples = 1
        self._start = math.nan
        self._reset()

    @classmethod
    def build(
        cls, params: Mapping[str, Any], reference: ReferenceSample | None, *, column: str | None = None
    ) -> Self:
        """Built with :meth:`from_reference` on the reference's timestamps, unless ``params`` give a ``rate``.

        ``column`` is not read: the rate is that of the records, whatever their columns.
        """
        if "rate" in params:
            return cls(**params)
        if reference is None:
            raise ValueError(
                f"{cls.__name__} takes its usual rate from the reference's timestamps, and no reference "
                "was given; give one, or a rate."
            )
        stamps = np.asarray(reference.timestamps(), dtype=np.float64).reshape(-1)
        distinct = np.unique(stamps[~np.isnan(stamps)]).shape[0]
        if distinct < 2:
            raise ValueError(
                f"{cls.__name__} takes its usual rate from the reference's timestamps, which must hold at "
                f"least 2 distinct times; the reference has {distinct}."
            )
        return cls.from_reference(stamps, **params)

    @classmethod
    def from_reference(cls, ts: ArrayLike, **kwargs: Any) -> Self:
        """A detector whose ``rate`` is the reference's: records per second between its first and last."""
        stamps = np.asarray(ts, dtype=np.float64).reshape(-1)
        stamps = stamps[~np.isnan(stamps)]
        if stamps.shape[0] < 2 or not stamps.max() > stamps.min():
            raise ValueError("ts must hold at least two distinct reference timestamps to estimate a rate")
        return cls(rate=(stamps.shape[0] - 1) / float(stamps.max() - stamps.min()), **kwargs)

    def _reset(self) -> None:
        super()._reset()
        self._start = math.nan

    def update_many(self, ts: ArrayLike) -> None:
        super().update_many(ts)
        if math.isnan(self._start) and self._stamps._count:
            self._start = float(self._stamps.values()[0])

    def observe_time(self, now: float) -> None:
        super().observe_time(now)
        if math.isnan(self._start):
            self._start = self._now

    @property
    def ready(self) -> bool:
        """True once one whole ``interval`` has been observed since the first record or time seen."""
        return self._now - self._start >= self.interval

    def _compute(self, name: str) -> float:
        stamps = self._stamps.values()
        count = float(stamps.shape[0] - np.searchsorted(stamps, self._now - self.interval, side="right"))
        if name == "count":
            return count
        return count / (self.rate * self.interval)

    def _snapshot_state(self) -> dict[str, Any]:
        return {**super()._snapshot_state(), "start": None if math.isnan(self._start) else self._start}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        self._start = math.nan if state["start"] is None else float(state["start"])


class Staleness(_ClockedDetector):
    """Seconds since the last record: ``now - last timestamp``.

    Parameters
    ----------
    max_age
        Drift when ``statistic > max_age`` seconds (``threshold`` is the same number).

    Notes
    -----
    NaN (never fires) until a first record is seen: a feed that never started is a volume
    problem (:class:`VolumeDrift` counts 0 records).

    Examples
    --------
    >>> from detectors import Staleness
    >>> stale = Staleness(max_age=300.0)
    >>> stale.update_many([0.0, 10.0, 20.0])
    >>> stale.observe_time(200.0)
    >>> stale.statistic, stale.drift_detected
    (180.0, False)
    >>> stale.observe_time(400.0)
    >>> stale.statistic, stale.drift_detected
    (380.0, True)

    """

    kind = "staleness"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

    def __init__(self, *, max_age: float) -> None:
        self.max_age = check_real("max_age", max_age, 0.0, math.inf, low_open=True)
        self.threshold = self.max_age
        self.window = 2
        self.min_samples = 1
        self._reset()

    def _compute(self, name: str) -> float:
        if not self._stamps._count:
            return math.nan
        return self._now - self.last_record
