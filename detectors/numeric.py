r"""More two-sample drift tests of numbers, with windows by count (sliding or tumbling) or by time.

Anderson-Darling (k-sample, k = 2), Wasserstein distance normalised by the reference's spread,
Jensen-Shannon distance over reference-quantile bins, and Kolmogorov-Smirnov on a quantile
summary of the reference (memory and time independent of the reference's size). Each summarises
the reference once at construction (a sorted, read-only array, or its bins) and never sorts it
again; a read sorts the window only.

Windows
-------
Every detector here takes the same three window parameters:

``window``
    The most values kept (memory is bounded by it whatever the stream).
``tumbling``
    False (default): a sliding window, the last ``window`` values. True: consecutive blocks of
    ``window`` values. Statistics describe the last complete block and keep describing it while
    the next block fills (so a reading after any batch sees every block's verdict, and
    ``drift_detected`` holds for one block's worth of values); before the first block completes
    they describe the partial block, on which the default ``min_samples`` never fires.
``horizon``
    None (default): a window by count. A number of seconds: a window by time, the values whose
    timestamp lies in ``(t_last - horizon, t_last]`` for the latest timestamp seen (at most
    ``window`` of them). A time window must be fed timestamps, ``update(x, ts=...)`` and
    ``update_many(values, ts=...)``, in non-decreasing order (seconds as floats, e.g. a Unix
    time); ``n`` is then the number of values inside the horizon and ``min_samples`` (default 1
    for a time window) applies to it. Count windows refuse timestamps, so a mistake is loud.

While a detector here fires, ``change_point`` estimates where in its window (the last complete block
when tumbling, the values inside the horizon for a time window) the change began; how, in
:mod:`detectors.twosample`.

Prediction drift is the same test on the model's output: feed the predictions instead of a
feature (``WassersteinDrift(reference_predictions)``); nothing else changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from detectors._window import RingBuffer
from detectors.base import (
    DEFAULT_ALPHA,
    _one_dimensional,
    check_int,
    check_min_samples,
    check_real,
    check_window,
)
from detectors.twosample import _numeric_reference, _NumericDetector, _QuantileBinned, psi

__all__ = ["AndersonDarlingDrift", "JensenShannonDrift", "QuantileKSDrift", "WassersteinDrift"]

# Above this effective sample size the KS p-value uses the limiting distribution.
_KSTWO_MAX_N = 10_000


class _WindowedNumeric(_NumericDetector):
    """Numeric detector whose window is sliding, tumbling or by time (see the module docstring)."""

    tumbling: bool
    horizon: float | None
    _slides = True  # when the window is neither tumbling nor by time

    def _init_window(self, window: Any, tumbling: Any, horizon: Any, min_samples: Any) -> None:
        self.window = check_window(window)
        if not isinstance(tumbling, bool):
            # ValueError, not TypeError, as check_window
            raise ValueError(f"tumbling must be True or False, got {tumbling!r}")
        self.tumbling = tumbling
        if horizon is not None:
            horizon = check_real("horizon", horizon, 0.0, math.inf, low_open=True)
            if tumbling:
                raise ValueError("horizon (a time window) cannot be combined with tumbling=True")
        self.horizon = horizon
        if min_samples is None and horizon is not None:
            min_samples = 1
        self.min_samples = check_min_samples(min_samples, self.window)

    def _reset(self) -> None:
        super()._reset()
        self._ts = RingBuffer(self.window, np.float64) if self.horizon is not None else None
        self._last_block: np.ndarray | None = None  # tumbling: the last complete block, oldest first

    # -- feeding ---------------------------------------------------------------------------------

    def update(self, x: Any, ts: float | None = None) -> None:
        """Add one value (missing values are skipped); ``ts`` is required by a time window only."""
        stamp = self._check_ts_one(ts)
        code = self._encode_one(x)
        if code is None:
            return
        if self._ts is not None:
            self._ts.append(stamp)
        elif self.tumbling and self._buffer.full:
            self._close_block(self._buffer.values())
        self._push_one(code)

    def update_many(self, values: ArrayLike, ts: ArrayLike | None = None) -> None:
        """Add a batch of values in order; same final state as calling :meth:`update` on each."""
        array = _one_dimensional(values, "values")
        stamps = self._check_ts_many(ts, array.shape[0])
        if stamps is not None:
            array, keep = self._kept(array)
            codes = self._encode_many(array[keep])
            assert self._ts is not None
            self._ts.extend(stamps[keep])
            self._push_many(codes)
            return
        skipped = 0
        if self._slides and not self.tumbling:  # a pure sliding window
            array, skipped = self._trim(array)
        codes = self._encode_many(array)
        k = codes.shape[0]
        if self.tumbling and k:
            if self._buffer.full:
                self._close_block(self._buffer.values())
            filled = self._buffer._count
            if filled + k > self.window:
                # The batch closes one or more blocks: keep the last complete one and the values
                # after it (blocks start at multiples of `window` from the current block's start).
                seq = np.concatenate([self._buffer.values(), codes])
                rest = seq.shape[0] % self.window or self.window
                self._close_block(seq[seq.shape[0] - rest - self.window : seq.shape[0] - rest])
                self._n_seen += k - rest
                codes = codes[k - rest :]
        self._push_many(codes, skipped)

    def _close_block(self, block: np.ndarray) -> None:
        self._last_block = np.array(block, dtype=self._dtype)
        self._last_block.flags.writeable = False
        self._buffer = RingBuffer(self.window, self._dtype)
        if self._counts is not None:
            self._counts[:] = 0
        self._cache.clear()

    def _check_ts_one(self, ts: Any) -> float:
        if self._ts is None:
            if ts is not None:
                raise ValueError("ts is only taken by a time window; this detector has horizon=None")
            return math.nan
        if ts is None:
            raise ValueError("ts is required: this detector has a time window (horizon is set)")
        stamp = float(ts)
        if math.isnan(stamp) or (self._ts._count and stamp < self._last_ts()):
            raise ValueError(f"ts must not decrease and not be NaN: got {stamp} after {self._last_ts()}")
        return stamp

    def _check_ts_many(self, ts: Any, size: int) -> np.ndarray | None:
        if self._ts is None:
            if ts is not None:
                raise ValueError("ts is only taken by a time window; this detector has horizon=None")
            return None
        if ts is None:
            raise ValueError("ts is required: this detector has a time window (horizon is set)")
        stamps = np.asarray(ts, dtype=np.float64).reshape(-1)
        if stamps.shape[0] != size:
            raise ValueError(f"ts must have one timestamp per value: {stamps.shape[0]} for {size} values")
        previous = self._last_ts() if self._ts._count else -math.inf
        if size and (np.isnan(stamps).any() or stamps[0] < previous or (np.diff(stamps) < 0).any()):
            raise ValueError("ts must not decrease and not be NaN")
        return stamps

    def _last_ts(self) -> float:
        assert self._ts is not None
        return float(self._ts._data[(self._ts._pos - 1) % self._ts.capacity])

    # -- the window ------------------------------------------------------------------------------

    def _reading_last_block(self) -> bool:
        return self._last_block is not None and not self._buffer.full

    def _active(self) -> int:
        """How many values the statistics are computed on."""
        if self._reading_last_block():
            assert self._last_block is not None
            return int(self._last_block.shape[0])
        if self._ts is None or not self._ts._count:
            return self._buffer._count
        stamps = self._ts.values()
        return int(stamps.shape[0] - np.searchsorted(stamps, stamps[-1] - self.horizon, side="right"))

    def _values(self) -> np.ndarray:
        """The window's values (storage order for a count window, oldest first for a time one)."""
        if self._reading_last_block():
            assert self._last_block is not None
            return self._last_block
        if self._ts is None:
            return self._buffer.unordered()
        return self._buffer.values()[self._buffer._count - self._active() :]

    def _window_counts(self) -> np.ndarray:
        if self._ts is None and not self._reading_last_block():
            assert self._counts is not None
            return self._counts
        return np.bincount(self._values(), minlength=self._n_codes)

    @property
    def n(self) -> int:
        """Number of values in the window (inside the horizon for a time window)."""
        return self._active()

    def _window_in_order(self) -> tuple[np.ndarray, int]:
        if self._reading_last_block():
            assert self._last_block is not None
            return self._last_block, self._n_seen - self._buffer._count - self.window
        active = self._active()
        return self._buffer.values()[self._buffer._count - active :], self._n_seen - active

    # -- persistence -----------------------------------------------------------------------------

    def _snapshot_state(self) -> dict[str, Any]:
        state = super()._snapshot_state()
        if self._ts is not None:
            state["ts"] = self._ts.state()
        if self.tumbling:
            state["last_block"] = None if self._last_block is None else self._last_block.tolist()
        return state

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        if self.horizon is not None:
            self._ts = RingBuffer.from_state(self.window, state["ts"], np.float64)
            if self._ts._count != self._buffer._count:
                raise ValueError("snapshot holds a different number of timestamps and values")
        if self.tumbling and state.get("last_block") is not None:
            block = np.asarray(state["last_block"], dtype=self._dtype)
            if block.shape != (self.window,):
                raise ValueError(
                    f"snapshot's last block holds {block.shape[0]} values, not window={self.window}"
                )
            self._last_block = block
            self._last_block.flags.writeable = False


# -- Anderson-Darling ----------------------------------------------------------------------------


def ad_asymptotic_sf(a2: float) -> float:
    """Upper tail of the limiting Anderson-Darling distribution at ``a2``.

    Marsaglia and Marsaglia (2004), "Evaluating the Anderson-Darling distribution", whose ``adinf``
    is accurate to about 1e-6 absolute; the two-sample ``A2`` has this limit as both samples grow.
    """
    z = float(a2)
    if z <= 0:
        return 1.0
    if z < 2:
        cdf = (
            math.exp(-1.2337141 / z)
            / math.sqrt(z)
            * (2.00012 + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z)
        )
        return float(min(1.0, max(0.0, 1.0 - cdf)))
    inner = 1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z) * z) * z) * z
    return float(-math.expm1(-math.exp(inner)))


def ad_critical_value(alpha: float) -> float:
    """``A2`` above which two samples differ at significance ``alpha`` (asymptotic)."""
    alpha = check_real("alpha", alpha, 0.0, 1.0, low_open=True)
    if alpha >= ad_asymptotic_sf(1e-3):
        return 1e-3
    # The asymptotic polynomial is only meaningful up to A2 ~ 40 (sf ~ 1e-17).
    return float(optimize.brentq(lambda z: ad_asymptotic_sf(z) - alpha, 1e-3, 40.0, xtol=1e-10))


class AndersonDarlingDrift(_WindowedNumeric):
    r"""Anderson-Darling k-sample test (k = 2) of the window against a reference.

    ``statistic`` is Scholz and Stephens' (1987) :math:`A^2_{akN}`, the midrank version that
    ``scipy.stats.anderson_ksamp`` uses by default (it adjusts for ties), for the two samples
    window and reference. Unlike KS, which looks at the largest gap between the two CDFs, it
    sums the squared gaps weighted towards the tails, so it sees a change in the tails or in the
    spread earlier. ``p_value`` is the upper tail of the statistic's limiting distribution
    (Marsaglia's ``adinf``): scipy's own p-value stops at 0.001, far above the significance a
    stream needs. The reference is sorted once; a read costs :math:`O((w + m) \log(w + m))`.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped). Kept as a sorted, read-only float array.
    window, tumbling, horizon
        The window: see the module docstring.
    threshold
        Drift when ``statistic > threshold``. None (default) takes :func:`ad_critical_value` at
        ``DEFAULT_ALPHA`` (1e-5).
    min_samples
        No drift is signalled with fewer values in the window; None means ``window`` (1 for a
        time window).

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import AndersonDarlingDrift

    >>> rng = np.random.default_rng(42)
    >>> ad = AndersonDarlingDrift(rng.normal(size=2000), window=200)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(0, 2, 1000)])
    >>> for i, x in enumerate(stream):
    ...     ad.update(x)
    ...     if ad.drift_detected:
    ...         print(f"Change detected at index {i}, A2 = {ad.statistic:.1f}")
    ...         break
    Change detected at index 1094, A2 = 10.3

    """

    kind = "anderson_darling"
    statistics = ("statistic", "p_value")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "p_value": "<"}

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        tumbling: bool = False,
        horizon: float | None = None,
        threshold: float | None = None,
        min_samples: int | None = None,
    ) -> None:
        self._init_window(window, tumbling, horizon, min_samples)
        self.reference = _numeric_reference(reference)
        if threshold is None:
            threshold = ad_critical_value(DEFAULT_ALPHA)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self._reset()

    def _compute(self, name: str) -> float:
        if name == "p_value":
            return ad_asymptotic_sf(self.read("statistic"))
        ref = self.reference
        win = np.sort(self._values())
        m, n = ref.shape[0], win.shape[0]
        big_n = m + n
        pooled = np.sort(np.concatenate([ref, win]), kind="stable")
        zstar = pooled[np.r_[True, pooled[1:] != pooled[:-1]]]
        left = np.searchsorted(pooled, zstar, "left")
        lj = np.searchsorted(pooled, zstar, "right") - left
        bj = left + lj / 2.0
        denom = bj * (big_n - bj) - big_n * lj / 4.0
        total = 0.0
        for sample, size in ((ref, m), (win, n)):
            right = np.searchsorted(sample, zstar, "right")
            mij = right - (right - np.searchsorted(sample, zstar, "left")) / 2.0
            with np.errstate(divide="ignore", invalid="ignore"):
                inner = lj / big_n * (big_n * mij - bj * size) ** 2 / denom
            total += float(np.sum(inner[denom > 0])) / size
        return float(total * (big_n - 1.0) / big_n)


# -- Wasserstein ---------------------------------------------------------------------------------


class WassersteinDrift(_WindowedNumeric):
    r"""Wasserstein-1 distance between the window and a reference, in units of the reference's spread.

    :math:`W_1 = \int |F_{ref}(x) - F_{win}(x)|\,dx` (what ``scipy.stats.wasserstein_distance``
    computes), divided by the reference's standard deviation (or by its interquartile range when
    ``scale="iqr"``, robust to outliers), so a shift of the whole distribution by ``d`` standard
    deviations scores ``d``. The reference is sorted once.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped), with a non-zero spread.
    window, tumbling, horizon
        The window: see the module docstring.
    threshold
        Drift when ``statistic > threshold``. The default 0.1 (a tenth of a standard deviation)
        is Evidently's. On a window of ``w`` values the statistic of a stationary stream is
        about ``1.1 / sqrt(w)`` for a normal feature (0.05 at 500), and a sliding window read
        again and again sees excursions of twice that, so small windows need a higher threshold;
        :func:`detectors.calibration.calibrate_threshold` picks one for a false-alarm budget.
    scale
        ``"std"`` (default) or ``"iqr"``: the spread the distance is divided by.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window`` (1 for a
        time window).

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import WassersteinDrift

    >>> rng = np.random.default_rng(7)
    >>> wd = WassersteinDrift(rng.normal(10, 2, size=5000), window=500)
    >>> stream = np.concatenate([rng.normal(10, 2, 1000), rng.normal(10.5, 2, 1000)])
    >>> for i, x in enumerate(stream):
    ...     wd.update(x)
    ...     if wd.drift_detected:
    ...         print(f"Change detected at index {i}, W1/std = {wd.statistic:.3f}")
    ...         break
    Change detected at index 1074, W1/std = 0.102

    """

    kind = "wasserstein"
    statistics = ("statistic", "distance")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "distance": ">"}

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        tumbling: bool = False,
        horizon: float | None = None,
        threshold: float = 0.1,
        scale: str = "std",
        min_samples: int | None = None,
    ) -> None:
        self._init_window(window, tumbling, horizon, min_samples)
        self.reference = _numeric_reference(reference)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        if scale not in ("std", "iqr"):
            raise ValueError(f"scale must be 'std' or 'iqr', got {scale!r}")
        self.scale = scale
        if scale == "std":
            spread = float(np.std(self.reference))
        else:
            q1, q3 = np.quantile(self.reference, [0.25, 0.75])
            spread = float(q3 - q1)
        if not spread > 0:
            raise ValueError(f"reference must have a non-zero spread ({scale}), got {spread}")
        self._spread = spread
        self._reset()

    def _compute(self, name: str) -> float:
        if name == "statistic":
            return self.read("distance") / self._spread
        ref = self.reference
        win = np.sort(self._values())
        points = np.sort(np.concatenate([ref, win]))
        deltas = np.diff(points)
        ref_cdf = np.searchsorted(ref, points[:-1], "right") / ref.shape[0]
        win_cdf = np.searchsorted(win, points[:-1], "right") / win.shape[0]
        return float(np.sum(np.abs(ref_cdf - win_cdf) * deltas))


# -- Jensen-Shannon ------------------------------------------------------------------------------


class JensenShannonDrift(_QuantileBinned, _WindowedNumeric):
    r"""Jensen-Shannon distance between the window's and the reference's histograms.

    Bins are the reference's quantiles, as for :class:`detectors.PSIDrift` (computed once,
    duplicates merged, outer bins open-ended). ``statistic`` is the Jensen-Shannon distance in
    base 2 (the square root of the divergence; ``scipy.spatial.distance.jensenshannon(p, q,
    base=2)``), between 0 (same histogram) and 1 (disjoint). Unlike PSI it is symmetric and
    bounded, and needs no floor for empty bins.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped).
    window, tumbling, horizon
        The window: see the module docstring.
    bins
        Number of quantile bins asked for.
    threshold
        Drift when ``statistic > threshold``; 0.1 by default (Evidently's). The statistic of a
        stationary stream is about ``sqrt((bins - 1) / (8 ln 2 w))`` (0.08 for 10 bins and a
        window of 500), so keep ``window`` in the hundreds or raise the threshold.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window`` (1 for a
        time window).

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import JensenShannonDrift

    >>> rng = np.random.default_rng(3)
    >>> js = JensenShannonDrift(rng.normal(size=5000), window=1000, tumbling=True)
    >>> stream = np.concatenate([rng.normal(0, 1, 3000), rng.normal(0.5, 1, 3000)])
    >>> for i, x in enumerate(stream):
    ...     js.update(x)
    ...     if js.drift_detected:
    ...         print(f"Change detected at index {i}, JS = {js.statistic:.3f}")
    ...         break
    Change detected at index 3999, JS = 0.192

    """

    kind = "jensen_shannon"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}
    _dtype = np.int64

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        tumbling: bool = False,
        horizon: float | None = None,
        bins: int = 10,
        threshold: float = 0.1,
        min_samples: int | None = None,
    ) -> None:
        self._init_window(window, tumbling, horizon, min_samples)
        self.reference = _numeric_reference(reference)
        self.bins = check_int("bins", bins, 2)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0, low_open=True)
        self._ref_props = self._init_bins()
        self._reset()

    def _compute(self, name: str) -> float:
        counts = self._window_counts()
        q = counts / counts.sum()
        p = self._ref_props
        mid = (p + q) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.where(p > 0, p * np.log2(p / mid), 0.0)
            kl_q = np.where(q > 0, q * np.log2(q / mid), 0.0)
        return float(math.sqrt(max(0.0, (kl_p.sum() + kl_q.sum()) / 2.0)))


# -- KS on a quantile summary --------------------------------------------------------------------


class WindowedPSIDrift(_QuantileBinned, _WindowedNumeric):
    r"""Population Stability Index, as :class:`detectors.PSIDrift`, over a tumbling or a time window.

    The same statistic on the same reference-quantile bins (floored at ``eps``); the window is sliding
    (as ``PSIDrift``), tumbling (``tumbling=True``: consecutive blocks of ``window`` values, the last
    complete block is reported until the next one fills) or by time (``horizon`` seconds, fed
    ``update_many(values, ts=...)``). Use it where a policy thinks in periods ("the PSI of each day")
    rather than in the last N records.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped).
    window, tumbling, horizon
        The window: see the module docstring.
    bins
        Number of quantile bins asked for.
    threshold
        Drift when ``statistic > threshold``; 0.2 by default.
    eps
        Floor of the proportions.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window`` (1 for a
        time window).

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import WindowedPSIDrift

    >>> rng = np.random.default_rng(7)
    >>> daily = WindowedPSIDrift(rng.normal(size=5000), horizon=86400.0, min_samples=200)
    >>> hours = np.arange(0, 10 * 86400, 300.0)                 # one value every 5 minutes, 10 days
    >>> values = rng.normal(np.where(hours < 6 * 86400, 0.0, 1.0), 1.0)
    >>> for day in range(10):
    ...     sel = (hours >= day * 86400) & (hours < (day + 1) * 86400)
    ...     daily.update_many(values[sel], ts=hours[sel])
    ...     if daily.drift_detected:
    ...         print(f"Change detected on day {day}, PSI = {daily.statistic:.2f}")
    ...         break
    Change detected on day 6, PSI = 1.04

    """

    kind = "psi_window"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}
    _dtype = np.int64

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        tumbling: bool = False,
        horizon: float | None = None,
        bins: int = 10,
        threshold: float = 0.2,
        eps: float = 1e-4,
        min_samples: int | None = None,
    ) -> None:
        self._init_window(window, tumbling, horizon, min_samples)
        self.reference = _numeric_reference(reference)
        self.bins = check_int("bins", bins, 2)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self.eps = check_real("eps", eps, 0.0, 1.0, low_open=True)
        self._ref_props = np.maximum(self._init_bins(), self.eps)
        self._reset()

    def _compute(self, name: str) -> float:
        counts = self._window_counts()
        return psi(self._ref_props, counts / counts.sum(), self.eps)


class QuantileKSDrift(_WindowedNumeric):
    r"""Kolmogorov-Smirnov distance of the window to a reference kept as ``quantiles`` quantiles.

    The reference is reduced at construction to its values at ``quantiles`` evenly spaced
    levels and its exact ECDF there (the sorted sample is kept only for snapshots). ``statistic`` is
    the largest gap between the reference's and the window's ECDFs at those points, so it never exceeds the
    exact KS distance (:class:`detectors.KSDrift`) and falls short of it by at most about
    ``1 / quantiles``: the test is conservative, with the same critical values. A read sorts the
    window and looks up ``quantiles`` points in it: :math:`O(w \log w)` whatever the size of the
    reference, which makes this the detector for very large references and batch comparisons.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped).
    window, tumbling, horizon
        The window: see the module docstring.
    quantiles
        Number of reference quantiles kept.
    threshold
        Drift when ``statistic > threshold``. None (default) takes
        :meth:`detectors.KSDrift.critical_value` at ``DEFAULT_ALPHA`` for a full window.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window`` (1 for a
        time window).

    Notes
    -----
    ``p_value`` is the two-sided KS p-value of ``statistic`` for the effective sample size
    :math:`m w / (m + w)` (``scipy.stats.kstwo``; above 10 000 the limiting Kolmogorov
    distribution with Stephens' small-sample correction), an upper bound on the exact test's
    since the statistic is.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import QuantileKSDrift

    >>> rng = np.random.default_rng(42)
    >>> ks = QuantileKSDrift(rng.normal(size=100_000), window=1000)
    >>> stream = np.concatenate([rng.normal(0, 1, 3000), rng.normal(0.5, 1, 3000)])
    >>> ks.update_many(stream[:3000])
    >>> ks.drift_detected
    False
    >>> for i in range(3000, 6000, 50):
    ...     ks.update_many(stream[i : i + 50])
    ...     if ks.drift_detected:
    ...         print(f"Change detected by index {i + 49}, D = {ks.statistic:.3f}")
    ...         break
    Change detected by index 3449, D = 0.084

    """

    kind = "ks_quantile"
    statistics = ("statistic", "p_value")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "p_value": "<"}

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        tumbling: bool = False,
        horizon: float | None = None,
        quantiles: int = 1024,
        threshold: float | None = None,
        min_samples: int | None = None,
    ) -> None:
        self._init_window(window, tumbling, horizon, min_samples)
        self.quantiles = check_int("quantiles", quantiles, 2)
        ref = _numeric_reference(reference)
        m = ref.shape[0]
        points = np.unique(ref[np.linspace(0, m - 1, min(self.quantiles, m)).round().astype(np.int64)])
        self._points = points
        self._ref_cdf_right = np.searchsorted(ref, points, "right") / m
        self._ref_cdf_left = np.searchsorted(ref, points, "left") / m
        self._m = m
        self.reference = ref
        if threshold is None:
            from detectors.twosample import KSDrift

            threshold = min(1.0, KSDrift.critical_value(DEFAULT_ALPHA, self.window, m))
        self.threshold = check_real("threshold", threshold, 0.0, 1.0, low_open=True)
        self._reset()

    def _compute(self, name: str) -> float:
        if name == "p_value":
            m, n = self._m, self.n
            en = m * n / (m + n)
            d = self.read("statistic")
            if en <= _KSTWO_MAX_N:
                return float(np.clip(stats.kstwo.sf(d, max(1, round(en))), 0.0, 1.0))
            # scipy's kstwo costs ~50 ms at n = 50 000; Stephens' corrected limiting form is
            # within about 1% (relative) of it from n = 10 000 on, and closed-form.
            root = math.sqrt(en)
            return float(np.clip(stats.kstwobign.sf(d * (root + 0.12 + 0.11 / root)), 0.0, 1.0))
        win = np.sort(self._values())
        n = win.shape[0]
        # Gaps at each point (right limits) and just before it (left limits).
        right = np.abs(self._ref_cdf_right - np.searchsorted(win, self._points, "right") / n)
        left = np.abs(self._ref_cdf_left - np.searchsorted(win, self._points, "left") / n)
        return float(max(right.max(), left.max()))
