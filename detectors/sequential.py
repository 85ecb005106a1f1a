"""Sequential change detection on a stream, without a reference: ADWIN, Page-Hinkley, CUSUM, KSWIN.

These detectors watch one stream for the moment its distribution changes, the way river's
``drift`` module does, and keep river's semantics: ``drift_detected`` says whether the last value
fed raised an alarm, and the value after an alarm starts the detector afresh (its running state is
reset lazily, on the next update, so the statistics of the alarm can still be read).

What we add to river's shape:

- ``update_many(values)`` runs a batch through numpy and ends in exactly the state of the
  ``update`` loop (the same floats, bit for bit; a test proves it). Page-Hinkley, CUSUM and
  KSWIN are vectorised; ADWIN drives river's compiled (Rust) ``AdaptiveWindowing`` directly.
- ``alarms``: the 0-based stream positions of the alarms since construction (the last 1000), so a
  caller that fed a whole batch can still say where each change was found. Positions count the
  values that entered the detector (missing values are skipped and not counted, as ``n_seen``).
- ``change_point`` (Page-Hinkley, CUSUM, ADWIN, KSWIN, the e-detector and BOCPD): where the change
  of the last alarm began, a 0-based stream position as ``alarms`` (None before any alarm, or when
  it is not known, after a snapshot taken before this existed). Each class's docstring says how it
  is estimated; the batch path gives the same as the loop.
- Statistics every sequential detector publishes besides its own: ``n_alarms`` (alarms since
  construction) and ``since_alarm`` (values fed since the last alarm, 0 when the last value raised
  it, NaN before the first). A policy rule ``since_alarm < 500`` catches every alarm of the last
  500 values, however the stream was cut into batches.

The Page-Hinkley and KSWIN classes fire at the same stream positions as river's
``PageHinkley`` and ``KSWIN`` on the same stream (KSWIN with ``sampling="river"``); CUSUM at the
same positions as the textbook two-sided recursion. ``tests/detectors/test_sequential.py``
checks each of these.
"""

from __future__ import annotations

import abc
import base64
import collections
import functools
import hashlib
import math
import operator
import random
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import signal, stats

from detectors.base import Detector, _one_dimensional, _WholeBatch, check_int, check_real
from detectors.protocol import Feed

__all__ = ["ADWIN", "CUSUM", "KSWIN", "PageHinkley", "SequentialDetector", "Whitening"]

# Alarm positions remembered (the oldest are dropped first).
MAX_ALARMS = 1000

# A batch is processed in blocks: small right after an alarm (work past an alarm is redone from
# a fresh state, so a large block would waste it), doubling while no alarm comes, and capped so
# that temporary arrays stay bounded whatever the batch size.
_FIRST_BLOCK = 1024
_MIN_BLOCK = 64
_MAX_BLOCK = 8192

_COMMON_STATISTICS = ("n_alarms", "since_alarm")
_COMMON_FIRES_WHEN = {"n_alarms": ">", "since_alarm": "<"}


def _float_or_none(value: float) -> float | None:
    """JSON has no infinity: the initial extremes of a running min/max are stored as None."""
    return None if math.isinf(value) else float(value)


def check_whiten(whiten: Any) -> int:
    """``whiten`` as a detector parameter: 0 (off) or the number of warm-up values, at least 2."""
    value = check_int("whiten", whiten, 0)
    if value == 1:
        raise ValueError("whiten must be 0 (off) or at least 2 values to fit the AR(1) model on, got 1")
    return value


class Whitening:
    r"""One-step residuals of an AR(1) model fitted on a stream's first ``warmup`` values.

    Sequential detectors assume independent values; on an autocorrelated stream (utilisation, prices, rates)
    their false alarms rise 10 to 300 times at a lag-1 autocorrelation of 0.5. Fitted on the first ``warmup``
    values (mean :math:`\mu`, lag-1 autocorrelation :math:`\phi`, clipped to [-0.99, 0.99]), each value
    :math:`x_t` is replaced by

    .. math:: \tilde x_t = \mu + \frac{(x_t - \mu) - \phi (x_{t-1} - \mu)}{\sqrt{1 - \phi^2}}

    which has the stream's mean and marginal variance and, for an AR(1) stream, no autocorrelation; the first
    value is passed as it is. The warm-up values are held until the fit, then fed as residuals too, so stream
    positions (``alarms``, ``change_point``) still count the stream's values one for one. The cost: a mean
    shift :math:`\Delta` shows in the residuals as :math:`\Delta\sqrt{(1-\phi)/(1+\phi)}` (0.58
    :math:`\Delta` at :math:`\phi` = 0.5), so a detection takes longer, the honest price of a false-alarm
    rate that holds. The model is fitted once and kept across alarms.

    >>> w = Whitening(4)
    >>> w.residuals(np.array([1.0, 2.0, 3.0])).size, w.phi is None   # held until 4 values are in
    (0, True)
    >>> out = w.residuals(np.array([4.0, 5.0]))
    >>> out.size, round(w.mu, 2), round(w.phi, 2)
    (5, 2.5, 0.25)
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = check_int("whiten", warmup, 2)
        self.mu = 0.0
        self.phi: float | None = None
        self._scale = 1.0
        self._prev: float | None = None
        self._held: list[float] = []

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The residuals of ``x`` (held values first once the model is fitted); empty while warming up."""
        if self.phi is None:
            self._held.extend(x.tolist())
            if len(self._held) < self.warmup:
                return x[:0]
            x = np.asarray(self._held, dtype=np.float64)
            self._held = []
            self._fit(x[:self.warmup])
        if not x.size:
            return x
        prev = np.empty_like(x)
        prev[1:] = x[:-1]
        prev[0] = x[0] if self._prev is None else self._prev
        out = self.mu + ((x - self.mu) - self.phi * (prev - self.mu)) * self._scale  # type: ignore[operator]
        if self._prev is None:
            out[0] = x[0]
        self._prev = float(x[-1])
        return out

    def _fit(self, x: np.ndarray) -> None:
        self.mu = float(np.mean(x))
        d = x - self.mu
        c0 = float(np.dot(d, d))
        phi = float(np.dot(d[1:], d[:-1]) / c0) if c0 > 0 else 0.0
        self.phi = min(0.99, max(-0.99, phi))
        self._scale = 1.0 / math.sqrt(1.0 - self.phi * self.phi)

    def state(self) -> dict[str, Any]:
        return {"mu": self.mu, "phi": self.phi, "prev": self._prev, "held": list(self._held)}

    def load(self, state: Mapping[str, Any]) -> None:
        self.mu = float(state["mu"])
        self.phi = None if state["phi"] is None else float(state["phi"])
        self._scale = 1.0 if self.phi is None else 1.0 / math.sqrt(1.0 - self.phi * self.phi)
        self._prev = None if state["prev"] is None else float(state["prev"])
        self._held = [float(v) for v in state["held"]]


class SequentialDetector(_WholeBatch, Detector):
    """Base of the detectors that look for a change point in one stream, with no reference.

    Subclasses implement ``_restart()`` (the running state at the start and after an alarm),
    ``_run(x)`` (process a non-empty float array from the current state; return the offset of
    the first alarm, with the state committed up to and including that value, or None with the
    state committed for all of ``x``), ``_state()`` / ``_set_state(state)`` for snapshots,
    ``_compute(name)`` for their own statistics and the ``n`` property.
    """

    input_kind = "numeric"
    feeds: ClassVar[Feed] = "values"
    needs_reference = False
    # Block sizing of the batch path (speed only; a subclass may tune it to its cost per call).
    _first_block: ClassVar[int] = _FIRST_BLOCK
    _min_block: ClassVar[int] = _MIN_BLOCK
    _max_block: ClassVar[int] = _MAX_BLOCK
    _hint_share: ClassVar[float] = 1.25  # first block after an alarm, as a share of the last gap
    _growth: ClassVar[float] = 2.0  # block growth after a block without an alarm
    # True for a class that estimates where the change of an alarm began (``_locate``).
    _locates: ClassVar[bool] = False
    whiten: int = 0
    """Values an AR(1) model is fitted on before the detector sees one-step residuals (0: the values as they
    are); see :class:`Whitening`. A subclass that takes the parameter sets it in ``__init__``."""

    def _reset(self) -> None:
        self._whitening = Whitening(self.whiten) if self.whiten else None
        self._n_seen = 0
        self._change_point: int | None = None
        self._n_alarms = 0
        self._alarms: collections.deque[int] = collections.deque(maxlen=MAX_ALARMS)
        if self._locates:
            self._change_points: collections.deque[int] = collections.deque(maxlen=MAX_ALARMS)
        self._drift = False
        self._cache: dict[str, float] = {}
        # Speed hints only (the size of the first block after an alarm); never in a snapshot.
        self._block_hint = self._first_block
        self._run_start = 0
        self._restart()

    @abc.abstractmethod
    def _restart(self) -> None:
        """Start the running state afresh (at construction and on the value after an alarm)."""

    @abc.abstractmethod
    def _run(self, x: np.ndarray) -> int | None:
        """Process ``x`` from the current state; the offset of the first alarm, or None."""

    @abc.abstractmethod
    def _state(self) -> dict[str, Any]:
        """The running state as JSON-serialisable values."""

    @abc.abstractmethod
    def _set_state(self, state: Mapping[str, Any]) -> None:
        """Load what :meth:`_state` returned."""

    def _locate(self) -> int | None:
        """Where the change of the alarm just raised began (``_locates`` classes); state as ``_run`` left it."""
        return None

    # -- feeding -------------------------------------------------------------------------------

    def update(self, x: Any) -> None:
        """Feed one value (None and NaN are skipped)."""
        if x is None:
            return
        try:
            value = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__} takes numbers, got {x!r}") from None
        if not math.isnan(value):
            self._feed(np.array([value]))

    def update_many(self, values: ArrayLike) -> None:
        """Feed a batch of values in order; same final state as calling :meth:`update` on each."""
        array = _one_dimensional(values, "values")
        try:
            array = np.asarray(array, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__} takes numbers: values hold something else") from None
        missing = np.isnan(array)
        self._feed(array[~missing] if missing.any() else array)

    def _feed(self, x: np.ndarray) -> None:
        if self._whitening is not None:
            x = self._whitening.residuals(x)
        total, i = x.shape[0], 0
        # The first block after an alarm is sized on the last run between alarms: frequent alarms
        # want small blocks, rare ones large. Only speed depends on it, never the result.
        block = self._block_hint
        if total:
            self._cache.clear()
        while i < total:
            if self._drift:  # river resets on the value after an alarm, not on the alarm itself
                self._restart()
                self._drift = False
                self._run_start = self._n_seen
            j = min(total, i + block)
            offset = self._run(x[i:j])
            if offset is None:
                self._n_seen += j - i
                i, block = j, min(int(block * self._growth), self._max_block)
                continue
            self._n_seen += offset + 1
            self._alarms.append(self._n_seen - 1)
            if self._locates:
                self._change_point = self._locate()
                self._change_points.append(self._n_seen - 1 if self._change_point is None else self._change_point)
            self._n_alarms += 1
            self._drift = True
            gap = self._n_seen - self._run_start
            block = self._block_hint = min(self._max_block, max(self._min_block, int(gap * self._hint_share)))
            i += offset + 1

    # -- reading ---------------------------------------------------------------------------------

    @property
    def drift_detected(self) -> bool:
        """Whether the last value fed raised an alarm."""
        return self._drift

    @property
    def alarms(self) -> list[int]:
        """Stream positions (0-based, among the values counted in ``n_seen``) of the last 1000 alarms."""
        return list(self._alarms)

    @property
    def n_alarms(self) -> int:
        """Number of alarms since construction."""
        return self._n_alarms

    def _read(self, name: str) -> float:
        if name == "n_alarms":
            return float(self._n_alarms)
        if name == "since_alarm":
            return float(self._n_seen - 1 - self._alarms[-1]) if self._alarms else math.nan
        return float(self._compute(name))

    # -- persistence -----------------------------------------------------------------------------

    def _snapshot_state(self) -> dict[str, Any]:
        return {
            "n_seen": self._n_seen,
            "n_alarms": self._n_alarms,
            "alarms": list(self._alarms),
            "drift": self._drift,
            "run": self._state(),
        } | ({"change_point": self._change_point, "change_points": list(self._change_points)}
             if self._locates else {}) | (
            {"whitening": self._whitening.state()} if self._whitening is not None else {})

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._reset()
        try:
            self._n_seen = int(state["n_seen"])
            self._n_alarms = int(state["n_alarms"])
            self._alarms.extend(int(a) for a in state["alarms"])
            self._drift = bool(state["drift"])
            cp = state.get("change_point")  # absent from snapshots taken before it existed
            self._change_point = None if cp is None else int(cp)
            if self._locates:  # absent from snapshots taken before it existed
                self._change_points.extend(int(c) for c in state.get("change_points", ()))
            self._set_state(state["run"])
            if self._whitening is not None:
                self._whitening.load(state["whitening"])
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(
                f"snapshot of {type(self).__name__} holds an impossible state: {exc!r}"
            ) from None


class _LocatesChange:
    """Mixin of the sequential detectors that estimate where a change began (put first in the bases)."""

    _locates: ClassVar[bool] = True
    _change_point: int | None
    _change_points: collections.deque[int]

    @property
    def change_point(self) -> int | None:
        """0-based stream position where the change of the last alarm began; None before any alarm or
        when unknown (see the class docstring for how it is estimated)."""
        return self._change_point

    @property
    def change_points(self) -> list[int]:
        """Where the change of each of the last 1000 alarms began, in the order of ``alarms`` (the alarm's own
        position where it is not known)."""
        return list(self._change_points)


def _last_extreme(values: np.ndarray, before: float, lowest: bool) -> int | None:
    """Offset of the last entry of ``values`` at its running minimum (``lowest``; else maximum) from
    ``before`` on, ties included, or None if no entry reaches it: the last occurrence of the
    block's minimum when it is not above ``before``. One reduction per block (a loop's block of one is
    compared in Python)."""
    m = values.shape[0]
    if m == 1:
        value = float(values[0])
        return 0 if (value <= before if lowest else value >= before) else None
    backwards = values[::-1]
    at = m - 1 - int(backwards.argmin() if lowest else backwards.argmax())
    value = float(values[at])
    return at if (value <= before if lowest else value >= before) else None


def _ks_split(values: np.ndarray, min_size: int) -> int:
    r"""The split ``k`` of ``values`` (in time order) that maximises the scaled two-sample KS distance.

    Maximises :math:`\sqrt{k (n - k) / n}\, D(\text{values}[:k], \text{values}[k:])` over
    ``min_size <= k <= n - min_size`` (the scaling makes the null distribution of every split alike, so
    short segments at the edges do not win by noise); the earliest such ``k``.
    """
    n = int(values.shape[0])
    lo, hi = max(1, min_size), n - max(1, min_size)
    if hi < lo:
        return n // 2
    _, inverse = np.unique(values, return_inverse=True)
    ranks = inverse.reshape(-1)
    u = int(ranks.max()) + 1
    total = np.cumsum(np.bincount(ranks, minlength=u))
    best_k, best = lo, -1.0
    chunk = max(1, 2_000_000 // max(1, u))
    for start in range(lo, hi + 1, chunk):
        ks = np.arange(start, min(hi, start + chunk - 1) + 1)
        onehot = np.zeros((ks.shape[0], u))
        onehot[np.arange(ks.shape[0]), ranks[ks - 1]] = 1.0
        onehot[0] += np.bincount(ranks[: ks[0] - 1], minlength=u)
        left = np.cumsum(np.cumsum(onehot, axis=0), axis=1)  # values <= each rank among the first k
        kk = ks[:, None].astype(np.float64)
        d = np.abs(left / kk - (total - left) / (n - kk)).max(axis=1)
        score = np.sqrt(ks * (n - ks) / n) * d
        at = int(np.argmax(score))
        if score[at] > best:
            best_k, best = int(ks[at]), float(score[at])
    return best_k


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


# ---------------------------------------------------------------------------------------------


# Page-Hinkley: the floats 1, 2, ... (counts since a reset) and the segment of its alarm search.
_COUNTS = np.arange(1, 1 << 16, dtype=np.float64)
_COUNTS.flags.writeable = False
_SEGMENT = 256
_STARTS = np.arange(0, 1 << 20, _SEGMENT)
_STARTS.flags.writeable = False

try:  # lfilter's own kernel, without its argument checks (a fixed cost on every block)
    from scipy.signal._sigtools import _linear_filter
except ImportError:  # pragma: no cover - a scipy without it
    _linear_filter = None


@functools.lru_cache(maxsize=64)
def _signed(delta: float) -> np.ndarray:
    column = np.array([[-delta], [delta]])
    column.flags.writeable = False
    return column


@functools.lru_cache(maxsize=64)
def _coefficients(alpha: float) -> tuple[np.ndarray, np.ndarray]:
    b, a = np.array([1.0]), np.array([1.0, -alpha])
    b.flags.writeable = a.flags.writeable = False
    return b, a


def _first_order_filter(alpha: float, u: np.ndarray, s_inc: float, s_dec: float) -> np.ndarray:
    """The rows of ``u`` through ``S_t = alpha S_{t-1} + u_t``, from ``s_inc`` and ``s_dec``."""
    b, a = _coefficients(alpha)
    zi = np.array(((alpha * s_inc,), (alpha * s_dec,)))
    if _linear_filter is not None:
        filtered: np.ndarray = _linear_filter(b, a, u, 1, zi)[0]
        return filtered
    filtered = signal.lfilter(b, a, u, axis=1, zi=zi)[0]  # pragma: no cover
    return filtered  # pragma: no cover


class PageHinkley(_LocatesChange, SequentialDetector):
    r"""Page-Hinkley test for a change in the mean, vectorised; fires where river's ``PageHinkley`` does.

    After each value :math:`x_t` the running mean :math:`\bar x_t` of the values since the last
    reset gives the deviation :math:`d_t = x_t - \bar x_t`, and two faded cumulative sums

    .. math:: U_t = \alpha U_{t-1} + d_t - \delta, \qquad L_t = \alpha L_{t-1} + d_t + \delta

    track an increase (``statistic`` :math:`U_t - \min_{s \le t} U_s`) and a decrease
    (:math:`\max(-1, \max_{s \le t} L_s) - L_t`; the -1 is river's starting value, kept so the
    alarms match). An alarm is raised when the watched side exceeds ``threshold`` with at least
    ``min_instances`` values since the last reset; the next value starts afresh.

    ``change_point`` is where the side that fired (the larger, if both did) last left its extreme
    before the alarm: the position after the last value at which :math:`U` was at its running
    minimum (for an increase) or :math:`L` at its running maximum (a decrease), the first value of
    the excursion that crossed ``threshold``.

    Parameters
    ----------
    min_instances
        Values needed since the last reset before an alarm can be raised.
    delta
        Magnitude of change tolerated (in the units of the stream).
    threshold
        Alarm level :math:`\lambda` of the cumulative deviation.
    alpha
        Fading factor of the cumulative sums, in (0, 1]; 1 does not fade.
    mode
        ``"up"`` (increases), ``"down"`` (decreases) or ``"both"``.

    whiten
        Values an AR(1) model is fitted on before the detector sees one-step residuals (see
        :class:`~detectors.sequential.Whitening`): for autocorrelated streams. 0 (default): the values
        as they are.

    Notes
    -----
    river updates the mean incrementally and sums in another order; we compute the mean from a
    running sum (so that a batch is a ``cumsum`` and an IIR filter), which differs from river's in
    the last bits. The alarms coincide unless a statistic lands within rounding of the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import PageHinkley

    >>> rng = np.random.default_rng(12345)
    >>> stream = np.concatenate([rng.integers(0, 2, 1000), rng.integers(4, 8, 1000)])
    >>> ph = PageHinkley()
    >>> for i, x in enumerate(stream):
    ...     ph.update(x)
    ...     if ph.drift_detected:
    ...         print(f"Change detected at index {i}, statistic {ph.statistic:.1f}")
    Change detected at index 1008, statistic 51.1

    A batch gives the same alarms, and ``alarms`` says where they were:

    >>> batched = PageHinkley()
    >>> batched.update_many(stream)
    >>> batched.alarms, batched.drift_detected
    ([1008], False)

    and ``change_point`` where the excursion that fired began. Here it is far too early: with the
    default ``delta`` the sum hardly drifts down before the change, so it last touched its minimum
    long before (an excursion that stayed under ``threshold``); a ``delta`` nearer half the shift
    to detect makes it sharper:

    >>> ph.change_point, batched.change_point
    (225, 225)
    >>> sharper = PageHinkley(delta=1.0)
    >>> sharper.update_many(stream)
    >>> sharper.alarms, sharper.change_point
    ([1010], 1000)

    """

    kind = "page_hinkley"
    # A block costs a fixed ~10 us plus ~15 ns a value, and river's defaults raise an alarm every
    # ~1,600 values of N(0, 1) noise, after which the rest of the block is redone: blocks of a
    # fixed size near that gap waste the least (measured; growing them did not pay even on
    # streams with rarer alarms).
    _first_block = 1536
    _min_block = 1536
    _max_block = 4096
    _hint_share = 0.0
    _growth = 1.0
    statistics = ("statistic", "increase", "decrease", *_COMMON_STATISTICS)
    fires_when: ClassVar[dict[str, str]] = {
        "statistic": ">",
        "increase": ">",
        "decrease": ">",
        **_COMMON_FIRES_WHEN,
    }

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
        whiten: int = 0,
    ) -> None:
        self.min_instances = check_int("min_instances", min_instances, 1)
        self.delta = check_real("delta", delta, 0.0, math.inf)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self.alpha = check_real("alpha", alpha, 0.0, 1.0, low_open=True)
        self.mode = _check_choice("mode", mode, ("up", "down", "both"))
        self.whiten = check_whiten(whiten)
        self._reset()

    def _restart(self) -> None:
        self._count = 0
        self._total = 0.0
        self._s_inc = 0.0
        self._min_inc = math.inf
        self._s_dec = 0.0
        self._max_dec = -1.0
        self._test_inc = math.nan
        self._test_dec = math.nan
        # Where each side's excursion began: the position after its last running extreme (None: unknown).
        self._inc_from: int | None = self._n_seen
        self._dec_from: int | None = self._n_seen

    @property
    def n(self) -> int:
        """Values since the last reset."""
        return self._count

    def _locate(self) -> int | None:
        inc = self.mode != "down" and self._test_inc > self.threshold
        dec = self.mode != "up" and self._test_dec > self.threshold
        if inc and (not dec or self._test_inc >= self._test_dec):
            return self._inc_from
        return self._dec_from if dec else None

    def _run(self, x: np.ndarray) -> int | None:
        m = x.shape[0]
        count = self._count
        min_before, max_before = self._min_inc, self._max_dec
        # In place, on few buffers: this is the batch path's whole cost.
        totals = x.copy()
        totals[0] += self._total
        totals.cumsum(out=totals)  # sequential, as the loop adds: (total + x0) + x1 + ...
        end = count + m
        counts = (
            _COUNTS[count:end]  # the floats count + 1, ..., count + m
            if end <= _COUNTS.shape[0]
            else np.arange(count + 1, end + 1, dtype=np.float64)
        )
        dev = np.divide(totals, counts)
        np.subtract(x, dev, out=dev)  # the deviations from the running mean
        # d - delta and d + delta (x - y is x + (-y) in IEEE arithmetic), in one call
        both = np.add(dev, _signed(self.delta))
        # U_t = alpha U_{t-1} + u_t as a first-order IIR filter: the same sequential arithmetic
        # as the scalar recursion, so a batch and the loop agree bit for bit.
        sums = _first_order_filter(self.alpha, both, self._s_inc, self._s_dec)
        s_inc, s_dec = sums
        early = self.min_instances - count - 1  # values of this block still in the warm-up
        if m <= _SEGMENT:
            alarm, last, min_inc, max_dec = self._scan(
                s_inc, s_dec, 0, m, self._min_inc, self._max_dec, early
            )
        else:
            alarm, last, min_inc, max_dec = self._scan_segments(sums, early)
        self._count = count + last + 1
        self._total = float(totals[last])
        self._s_inc, self._min_inc = float(s_inc[last]), min_inc
        self._s_dec, self._max_dec = float(s_dec[last]), max_dec
        if self.mode != "down":
            at = _last_extreme(s_inc[: last + 1], min_before, lowest=True)
            if at is not None:
                self._inc_from = self._n_seen + at + 1
        if self.mode != "up":
            at = _last_extreme(s_dec[: last + 1], max_before, lowest=False)
            if at is not None:
                self._dec_from = self._n_seen + at + 1
        if self._count >= self.min_instances:
            self._test_inc, self._test_dec = self._s_inc - min_inc, max_dec - self._s_dec
        return alarm

    def _scan(
        self,
        s_inc: np.ndarray,
        s_dec: np.ndarray,
        lo: int,
        hi: int,
        min_before: float,
        max_before: float,
        early: int,
        inc: bool | None = None,
        dec: bool | None = None,
    ) -> tuple[int | None, int, float, float]:
        """Exact check of ``[lo, hi)``: (first alarm or None, last index kept, running min, max there).

        ``inc`` and ``dec`` say which sides can fire here (by default those of ``mode``); the
        running extreme of a side that cannot is only read where the scan stops.
        """
        if inc is None:
            inc, dec = self.mode != "down", self.mode != "up"
        seg_inc, seg_dec = s_inc[lo:hi], s_dec[lo:hi]
        fired = None
        if inc:
            min_inc = np.minimum.accumulate(seg_inc)
            np.minimum(min_inc, min_before, out=min_inc)
            fired = np.subtract(seg_inc, min_inc) > self.threshold
        if dec:
            max_dec = np.maximum.accumulate(seg_dec)
            np.maximum(max_dec, max_before, out=max_dec)
            fired_dec = np.subtract(max_dec, seg_dec) > self.threshold
            if fired is None:
                fired = fired_dec
            else:
                fired |= fired_dec
        assert fired is not None
        if early > lo:
            fired[: early - lo] = False
        first = int(fired.argmax())
        alarm: int | None = lo + first
        if not fired[first]:
            alarm, first = None, hi - lo - 1
        min_at = float(min_inc[first]) if inc else float(np.minimum(seg_inc[: first + 1].min(), min_before))
        max_at = float(max_dec[first]) if dec else float(np.maximum(seg_dec[: first + 1].max(), max_before))
        return alarm, lo + first, min_at, max_at

    def _scan_segments(self, sums: np.ndarray, early: int) -> tuple[int | None, int, float, float]:
        # A value fires only in a segment whose extremes, with the running extremes before it,
        # are farther apart than the threshold; the exact running extremes are computed only in
        # such segments. Minima and maxima are exact, so the result is the plain scan's.
        s_inc, s_dec = sums
        m = s_inc.shape[0]
        segments = -(-m // _SEGMENT)
        starts = _STARTS[:segments] if segments <= _STARTS.shape[0] else np.arange(0, m, _SEGMENT)
        (high_inc, high_dec), (low_inc, low_dec) = (
            np.maximum.reduceat(sums, starts, axis=1).tolist(),
            np.minimum.reduceat(sums, starts, axis=1).tolist(),
        )
        run_min, run_max = self._min_inc, self._max_dec
        # The comparisons below do not propagate a NaN, the plain scan does. A NaN in the sums
        # stays to the block's end (the recursion carries it), so the last segment shows it.
        if math.isnan(high_inc[-1] + high_dec[-1] + run_min + run_max):
            return self._scan(s_inc, s_dec, 0, m, run_min, run_max, early)
        threshold = self.threshold
        up, down = self.mode != "down", self.mode != "up"
        for k in range(segments):
            min_before, max_before = run_min, run_max
            run_min = min(run_min, low_inc[k])
            run_max = max(run_max, high_dec[k])
            inc = up and high_inc[k] - run_min > threshold
            dec = down and run_max - low_dec[k] > threshold
            if inc or dec:
                lo = k * _SEGMENT
                hi = min(m, lo + _SEGMENT)
                if hi > early:  # else the whole segment is in the warm-up
                    found = self._scan(s_inc, s_dec, lo, hi, min_before, max_before, early, inc, dec)
                    if found[0] is not None:
                        return found
        return None, m - 1, run_min, run_max

    def _compute(self, name: str) -> float:
        if name == "increase":
            return self._test_inc
        if name == "decrease":
            return self._test_dec
        if self.mode == "up":
            return self._test_inc
        if self.mode == "down":
            return self._test_dec
        return max(self._test_inc, self._test_dec)

    def _state(self) -> dict[str, Any]:
        return {
            "count": self._count,
            "total": self._total,
            "s_inc": self._s_inc,
            "min_inc": _float_or_none(self._min_inc),
            "s_dec": self._s_dec,
            "max_dec": self._max_dec,
            "test_inc": None if math.isnan(self._test_inc) else self._test_inc,
            "test_dec": None if math.isnan(self._test_dec) else self._test_dec,
            "inc_from": self._inc_from,
            "dec_from": self._dec_from,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._count = int(state["count"])
        self._total = float(state["total"])
        self._s_inc = float(state["s_inc"])
        self._min_inc = math.inf if state["min_inc"] is None else float(state["min_inc"])
        self._s_dec = float(state["s_dec"])
        self._max_dec = float(state["max_dec"])
        self._test_inc = math.nan if state["test_inc"] is None else float(state["test_inc"])
        self._test_dec = math.nan if state["test_dec"] is None else float(state["test_dec"])
        # Absent from snapshots taken before change_point existed: unknown until the extreme moves.
        self._inc_from = None if state.get("inc_from") is None else int(state["inc_from"])
        self._dec_from = None if state.get("dec_from") is None else int(state["dec_from"])


# ---------------------------------------------------------------------------------------------


class _Standardised(SequentialDetector):
    """A detector of a mean shift in values standardised by ``mean`` and ``sigma``.

    Either may be None: it is then estimated on the first ``warmup`` values after construction
    and after every alarm (a constant warm-up gives a sigma of 0, replaced by 1). Subclasses call
    ``super()._restart()``, start ``_run`` with ``_warm_up`` and put ``_warm_up_state()`` in
    their state.
    """

    mean: float | None
    sigma: float | None
    warmup: int

    def _restart(self) -> None:
        self._mu = self.mean
        self._sd = self.sigma
        self._warm: list[float] = []
        self._count = 0

    @property
    def n(self) -> int:
        """Values since the last reset (warm-up included)."""
        return self._count

    def _ready(self) -> bool:
        return self._mu is not None and self._sd is not None

    def _warm_up(self, x: np.ndarray) -> int | None:
        """Feed the warm-up what it still lacks of ``x``; the offset of the first value left, or None."""
        if self._ready():
            return 0
        start = min(x.shape[0], self.warmup - len(self._warm))
        self._warm.extend(x[:start].tolist())
        self._count += start
        if len(self._warm) < self.warmup:
            return None
        warm = np.asarray(self._warm)
        if self._mu is None:
            self._mu = float(np.mean(warm))
        if self._sd is None:
            sd = float(np.std(warm, ddof=1))
            self._sd = sd if sd > 0 else 1.0
        self._warm = []
        return None if start == x.shape[0] else start

    def _warm_up_state(self) -> dict[str, Any]:
        return {"mu": self._mu, "sd": self._sd, "warm": list(self._warm), "count": self._count}

    def _set_warm_up_state(self, state: Mapping[str, Any]) -> None:
        self._mu = None if state["mu"] is None else float(state["mu"])
        self._sd = None if state["sd"] is None else float(state["sd"])
        self._warm = [float(v) for v in state["warm"]]
        self._count = int(state["count"])


class CUSUM(_LocatesChange, _Standardised):
    r"""Two-sided CUSUM control chart (Page 1954) for a shift of the mean, vectorised.

    Values are standardised with the in-control ``mean`` and ``sigma``,
    :math:`z_t = (x_t - \mu_0) / \sigma`, and two one-sided sums are kept,

    .. math:: g^+_t = \max(0, g^+_{t-1} + z_t - k), \qquad g^-_t = \max(0, g^-_{t-1} - z_t - k),

    with an alarm when either exceeds ``threshold`` (:math:`h`). ``statistic`` is
    :math:`\max(g^+_t, g^-_t)`, ``upper`` and ``lower`` the two sides. The textbook choice
    :math:`k = 0.5, h = 5` detects a shift of one sigma after about 8 values but raises a false
    alarm about every 470 values in control (two-sided, normal data); ``h = 10`` raised 14 per
    10^6 clean values with a delay of about 19 at one sigma (``bench/detectors_sequential.py``).
    For a false-alarm rate guaranteed rather than measured, see :class:`detectors.EDetector`.

    ``change_point`` is where the side that fired (the larger, if both did) last left zero: the
    position after the last value at which it was 0 (the first value after the warm-up if it never
    was), i.e. the start of the excursion that crossed :math:`h`.

    Parameters
    ----------
    mean
        In-control mean :math:`\mu_0`. None estimates it from the first ``warmup`` values after
        construction and after every alarm.
    sigma
        In-control standard deviation. None estimates it (sample standard deviation) from the
        same warm-up values; a constant warm-up gives 0, replaced by 1.
    k
        Allowance, in sigmas: half the shift the chart is tuned to detect.
    threshold
        Decision interval :math:`h`, in sigmas.
    warmup
        Number of values the estimates are taken from, when ``mean`` or ``sigma`` is None.

    whiten
        Values an AR(1) model is fitted on before the detector sees one-step residuals (see
        :class:`~detectors.sequential.Whitening`): for autocorrelated streams. 0 (default): the values
        as they are.

    Notes
    -----
    The sums are kept in the closed form :math:`g_t = S_t - \min(0, \min_{s \le t} S_s)` of the
    cumulative sum :math:`S` of :math:`z - k`, which is what makes a batch a ``cumsum`` and the
    loop and the batch agree bit for bit. The textbook recursion rounds differently; the alarms
    coincide unless a sum lands within rounding of the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import CUSUM

    >>> rng = np.random.default_rng(3)
    >>> stream = np.concatenate([rng.normal(10, 2, 1000), rng.normal(12, 2, 500)])
    >>> cusum = CUSUM(mean=10.0, sigma=2.0, threshold=8.0)
    >>> cusum.update_many(stream)
    >>> cusum.alarms[0]
    1017

    ``change_point`` is that of the last alarm; the first alarm's, fed in a loop:

    >>> first = CUSUM(mean=10.0, sigma=2.0, threshold=8.0)
    >>> for i, x in enumerate(stream):
    ...     first.update(x)
    ...     if first.drift_detected:
    ...         print(f"Change detected at index {i}, began at {first.change_point}")
    ...         break
    Change detected at index 1017, began at 1005

    With ``mean`` fixed the chart keeps alarming while the shift lasts (every 20 values or so);
    with ``mean=None`` it would learn the new mean after the first alarm.

    >>> cusum.n_alarms > 10
    True
    >>> cusum.read("upper") > cusum.read("lower")
    True

    """

    kind = "cusum"
    statistics = ("statistic", "upper", "lower", *_COMMON_STATISTICS)
    fires_when: ClassVar[dict[str, str]] = {
        "statistic": ">",
        "upper": ">",
        "lower": ">",
        **_COMMON_FIRES_WHEN,
    }

    def __init__(
        self,
        mean: float | None = None,
        sigma: float | None = None,
        k: float = 0.5,
        threshold: float = 5.0,
        warmup: int = 30,
        whiten: int = 0,
    ) -> None:
        self.mean = None if mean is None else check_real("mean", mean, -math.inf, math.inf)
        self.sigma = None if sigma is None else check_real("sigma", sigma, 0.0, math.inf, low_open=True)
        self.k = check_real("k", k, 0.0, math.inf)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self.warmup = check_int("warmup", warmup, 2)
        if math.isinf(self.sigma or 1.0) or math.isinf(self.mean or 0.0):
            raise ValueError("mean and sigma must be finite")
        self.whiten = check_whiten(whiten)
        self._reset()

    def _restart(self) -> None:
        super()._restart()
        self._s_up = 0.0
        self._min_up = 0.0
        self._s_low = 0.0
        self._min_low = 0.0
        # Where each side last left zero (None: unknown); the sums start after the warm-up.
        self._up_from: int | None = self._n_seen + (0 if self._ready() else self.warmup)
        self._low_from: int | None = self._up_from

    def _locate(self) -> int | None:
        upper, lower = self._s_up - self._min_up, self._s_low - self._min_low
        if upper > self.threshold and upper >= lower:
            return self._up_from
        return self._low_from if lower > self.threshold else None

    def _run(self, x: np.ndarray) -> int | None:
        start = self._warm_up(x)
        if start is None:
            return None
        assert self._mu is not None and self._sd is not None
        z = (x[start:] - self._mu) / self._sd
        s_up = np.cumsum(np.concatenate(([self._s_up], z - self.k)))[1:]
        s_low = np.cumsum(np.concatenate(([self._s_low], -z - self.k)))[1:]
        min_up = np.minimum.accumulate(np.concatenate(([self._min_up], s_up)))[1:]
        min_low = np.minimum.accumulate(np.concatenate(([self._min_low], s_low)))[1:]
        fired = (s_up - min_up > self.threshold) | (s_low - min_low > self.threshold)
        alarm = int(np.argmax(fired)) if fired.any() else None
        last = z.shape[0] - 1 if alarm is None else alarm
        self._count += last + 1
        base = self._n_seen + start + 1  # the position after z[0]
        at = _last_extreme(s_up[: last + 1], self._min_up, lowest=True)
        if at is not None:
            self._up_from = base + at
        at = _last_extreme(s_low[: last + 1], self._min_low, lowest=True)
        if at is not None:
            self._low_from = base + at
        self._s_up, self._min_up = float(s_up[last]), float(min_up[last])
        self._s_low, self._min_low = float(s_low[last]), float(min_low[last])
        return None if alarm is None else start + alarm

    def _compute(self, name: str) -> float:
        if not self._ready():
            return math.nan
        upper, lower = self._s_up - self._min_up, self._s_low - self._min_low
        if name == "upper":
            return upper
        if name == "lower":
            return lower
        return max(upper, lower)

    def _state(self) -> dict[str, Any]:
        return {
            **self._warm_up_state(),
            "s_up": self._s_up,
            "min_up": self._min_up,
            "s_low": self._s_low,
            "min_low": self._min_low,
            "up_from": self._up_from,
            "low_from": self._low_from,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._set_warm_up_state(state)
        self._s_up, self._min_up = float(state["s_up"]), float(state["min_up"])
        self._s_low, self._min_low = float(state["s_low"]), float(state["min_low"])
        # Absent from snapshots taken before change_point existed: unknown until a sum is 0 again.
        self._up_from = None if state.get("up_from") is None else int(state["up_from"])
        self._low_from = None if state.get("low_from") is None else int(state["low_from"])


# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _ks_pvalues(n: int) -> tuple[float, ...]:
    """p-value of ``ks_2samp(method="auto")`` for two samples of ``n`` at distance k/n, k = 0..n."""
    base = np.arange(n, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return tuple(float(stats.ks_2samp(base, base + k, method="auto").pvalue) for k in range(n + 1))


class KSWIN(_LocatesChange, SequentialDetector):
    r"""Kolmogorov-Smirnov windowing (Raab et al. 2020), vectorised; river's ``KSWIN`` semantics.

    The last ``window_size`` values are kept. Once the window is full, after every value the last
    ``stat_size`` values :math:`R` are compared with ``stat_size`` values :math:`W` drawn at random
    (without replacement) from the older ``window_size - stat_size``, by the two-sample KS test; an
    alarm is raised when the p-value is at most ``alpha`` and the distance exceeds 0.1, and the
    next value starts with an empty window (and the random generator seeded again), as in river.

    ``statistic`` is the KS distance of the last test, ``p_value`` its p-value (exactly what
    ``scipy.stats.ks_2samp(method="auto")`` gives, which river calls); ``threshold`` is set just
    below the smallest distance that fires, so ``drift_detected`` after a test is
    ``statistic > threshold``.

    ``change_point`` is found in the window of the alarm (the last ``window_size`` values, in order)
    by a split search: the ``k`` that maximises :math:`\sqrt{k(w-k)/w}\,D_k`, the KS distance
    :math:`D_k` between the window's first ``k`` values and the others, scaled so that every split
    has about the same null distribution; each segment holds at least ``stat_size // 2`` values.
    It is the position of the window's ``k``-th value, computed at the alarm (the window is dropped
    on the next value): a quadratic cost in ``window_size``, paid once per alarm.

    Parameters
    ----------
    alpha
        Significance of each test, in (0, 1]. It is applied after every value to overlapping
        windows, so the false-alarm rate per value is far above it: keep it small.
    window_size
        Number of values kept (river's name).
    stat_size
        Size of the two samples compared; at most ``window_size // 2``.
    seed
        Seed of the sampling generator, used again after every alarm.
    sampling
        ``"numpy"`` (default) draws each test's sample with a numpy generator, vectorised.
        ``"river"`` draws it with ``random.Random(seed).sample`` exactly as river's KSWIN does, so
        the alarms are river's, at the cost of one Python call per value.

    whiten
        Values an AR(1) model is fitted on before the detector sees one-step residuals (see
        :class:`~detectors.sequential.Whitening`): for autocorrelated streams. 0 (default): the values
        as they are.

    Notes
    -----
    Why not river's draws by default: ``random.Random.sample`` consumes a data-independent but
    variable number of Mersenne-Twister outputs per draw (rejection sampling of each index), a
    sequential process numpy cannot replay in bulk; calling it per value caps the rate at about
    200 000 values/s. The numpy sampler sorts 32-bit random keys carrying the index in their low
    bits: a uniform subset except when two keys tie in their random bits (a chance of about
    :math:`P^2 / 2^{26}` per test for :math:`P` = ``window_size - stat_size`` positions, 7e-5 by
    default; a tie is broken by position). Both samplers give the same tests on the same draws;
    the test suite checks equality with river for ``"river"`` and the same false-alarm and
    detection behaviour for ``"numpy"``.

    Examples
    --------
    >>> import random
    >>> from detectors import KSWIN

    >>> rng = random.Random(12345)
    >>> stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> kswin = KSWIN(alpha=0.0001, seed=42, sampling="river")
    >>> for i, x in enumerate(stream):
    ...     kswin.update(x)
    ...     if kswin.drift_detected:
    ...         print(f"Change detected at index {i}, input value: {x}")
    Change detected at index 1016, input value: 6

    >>> fast = KSWIN(alpha=0.0001, seed=42)
    >>> fast.update_many(stream)
    >>> fast.alarms, kswin.change_point, fast.change_point
    ([1016], 1000, 1000)

    """

    kind = "kswin"
    statistics = ("statistic", "p_value", *_COMMON_STATISTICS)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "p_value": "<", **_COMMON_FIRES_WHEN}

    def __init__(
        self,
        alpha: float = 0.005,
        window_size: int = 100,
        stat_size: int = 30,
        seed: int = 0,
        sampling: str = "numpy",
        whiten: int = 0,
    ) -> None:
        self.alpha = check_real("alpha", alpha, 0.0, 1.0, low_open=True)
        self.window_size = check_int("window_size", window_size, 2)
        self.stat_size = check_int("stat_size", stat_size, 1)
        if self.stat_size > self.window_size // 2:
            raise ValueError(
                f"stat_size must be at most window_size // 2 ({self.window_size // 2}), got {stat_size!r}"
            )
        self.seed = check_int("seed", seed, 0)
        self.sampling = _check_choice("sampling", sampling, ("numpy", "river"))
        self._pvalues = np.asarray(_ks_pvalues(self.stat_size))
        ks = np.arange(self.stat_size + 1)
        firing = (self._pvalues <= self.alpha) & (ks / self.stat_size > 0.1)
        self._k_fire = int(np.argmax(firing)) if firing.any() else self.stat_size + 1
        self.threshold = (self._k_fire - 0.5) / self.stat_size
        self._pool = self.window_size - self.stat_size
        self._index_bits = max(1, (self._pool - 1).bit_length())
        self.whiten = check_whiten(whiten)
        self._reset()

    def _restart(self) -> None:
        self._values = np.empty(0, dtype=np.float64)
        self._last_k = -1
        self._alarm_cp: int | None = None
        if self.sampling == "river":
            self._py_rng = random.Random(self.seed)
        else:
            self._np_rng = np.random.default_rng(self.seed)

    @property
    def n(self) -> int:
        """Values in the window."""
        return int(self._values.shape[0])

    def _draw(self, tests: int) -> np.ndarray:
        """Window positions of the sample W of each of ``tests`` tests, shape (tests, stat_size)."""
        if self.sampling == "river":
            sample, pool, size = self._py_rng.sample, range(self._pool), self.stat_size
            return np.array([sample(pool, size) for _ in range(tests)], dtype=np.int64).reshape(tests, size)
        keys: np.ndarray
        low: np.integer[Any]
        if self._index_bits <= 7:
            keys = self._np_rng.integers(0, 1 << 32, size=(tests, self._pool), dtype=np.uint32)
            keys = (keys & np.uint32(~0x7F & 0xFFFFFFFF)) | np.arange(self._pool, dtype=np.uint32)
            low = np.uint32(0x7F)
        else:  # wider pools: 64-bit keys, so the random part still has more than 40 bits
            keys = self._np_rng.integers(0, 1 << 63, size=(tests, self._pool), dtype=np.int64)
            mask = (1 << self._index_bits) - 1
            keys = (keys & ~np.int64(mask)) | np.arange(self._pool, dtype=np.int64)
            low = np.int64(mask)
        chosen = np.sort(keys, axis=1)[:, : self.stat_size] & low
        return chosen.astype(np.int64)

    def _run(self, x: np.ndarray) -> int | None:
        w, size = self.window_size, self.stat_size
        old = self._values
        data = np.concatenate((old, x))
        first = max(w - 1, old.shape[0])  # position in data of the first value completing a test
        tests = data.shape[0] - first
        if tests <= 0:
            self._values = data
            return None
        # Integer ranks (ties equal) turn every comparison into exact integer arithmetic.
        _, inverse = np.unique(data, return_inverse=True)
        ranks = inverse.astype(np.int32).reshape(-1)
        ends = np.arange(first, data.shape[0])  # last position of each test's window
        starts = ends - w + 1
        sample = ranks[starts[:, None] + self._draw(tests)]
        recent = np.lib.stride_tricks.sliding_window_view(ranks, size)[ends - size + 1]
        keys = np.concatenate((sample << 1, (recent << 1) | 1), axis=1)
        keys.sort(axis=1)
        steps = 1 - 2 * (keys & 1)  # +1 for W, -1 for R
        diff = np.abs(np.cumsum(steps, axis=1, dtype=np.int32))
        value = keys >> 1
        tie_end = np.ones(keys.shape, dtype=bool)
        tie_end[:, :-1] = value[:, :-1] != value[:, 1:]
        distance = np.where(tie_end, diff, 0).max(axis=1)
        fired = distance >= self._k_fire
        alarm = int(np.argmax(fired)) if fired.any() else None
        last = tests - 1 if alarm is None else alarm
        self._last_k = int(distance[last])
        end = int(ends[last]) + 1
        self._values = data[max(0, end - w) : end].copy()
        if alarm is None:
            return None
        offset = int(ends[alarm]) - old.shape[0]
        k = _ks_split(self._values, max(1, size // 2))
        self._alarm_cp = self._n_seen + offset + 1 - self._values.shape[0] + k
        return offset

    def _locate(self) -> int | None:
        return self._alarm_cp

    def _compute(self, name: str) -> float:
        if self._last_k < 0:
            return math.nan
        if name == "p_value":
            return float(self._pvalues[self._last_k])
        return self._last_k / self.stat_size

    def _state(self) -> dict[str, Any]:
        if self.sampling == "river":
            version, internal, gauss = self._py_rng.getstate()
            rng: Any = {"version": version, "internal": list(internal), "gauss": gauss}
        else:
            # PCG64 keeps 128-bit integers: as decimal text, so any JSON writer (orjson stops at 64 bits) takes them
            rng = self._np_rng.bit_generator.state
            rng = {**rng, "state": {k: str(v) for k, v in rng["state"].items()}}
        return {"values": self._values.tolist(), "last_k": self._last_k, "rng": rng}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        values = np.asarray(state["values"], dtype=np.float64)
        if values.ndim != 1 or values.shape[0] > self.window_size:
            raise ValueError(
                f"snapshot of KSWIN holds a window of {values.shape} values, more than {self.window_size}"
            )
        self._values = values
        self._last_k = int(state["last_k"])
        rng = state["rng"]
        try:
            if self.sampling == "river":
                self._py_rng.setstate(
                    (int(rng["version"]), tuple(int(v) for v in rng["internal"]), rng["gauss"])
                )
            else:
                self._np_rng.bit_generator.state = {**rng, "state": {k: int(v) for k, v in rng["state"].items()}}
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"snapshot of KSWIN holds an impossible generator state: {exc}") from None


# ---------------------------------------------------------------------------------------------


def _adaptive_windowing(**params: Any) -> Any:
    from river._river_rust.drift import AdaptiveWindowing

    return AdaptiveWindowing(**params)


class ADWIN(_LocatesChange, SequentialDetector):
    r"""ADWIN adaptive windowing (Bifet & Gavaldà 2007) on river's compiled implementation.

    ADWIN keeps a window of recent values, compressed in exponential buckets, and drops its older
    part whenever the means of two sub-windows differ by more than a bound that holds with
    confidence ``delta``; that is an alarm. The detector drives river's Rust
    ``AdaptiveWindowing`` (the engine of ``river.drift.ADWIN``) directly, without river's
    per-value Python layer, and like river starts a fresh window on the value after an alarm.

    ``statistic`` is the mean of the current window (ADWIN compares no single number with a
    threshold; ``threshold`` is ``delta``), ``width`` and ``variance`` describe the window. Rules
    should watch ``since_alarm`` or ``n_alarms``.

    ``change_point`` is the cut of the alarm: river's engine drops the older part of its window, so
    the change is taken to begin at the first value it kept, ``n_seen - width`` right after the
    alarm. The engine cuts at the edges of its exponential buckets and stops dropping as soon as no
    cut is significant, so the kept window often still holds many values from before the change:
    the estimate is early, by hundreds of values for a change found soon after it (see
    ``tests/detectors/test_change_point.py``); a lower bound, not a pinpoint.

    Parameters
    ----------
    delta
        Confidence of the cut test, in (0, 1): smaller means fewer, later alarms.
    clock
        The cut is checked every ``clock`` values.
    max_buckets
        Buckets kept per level of the exponential histogram.
    min_window_length
        Smallest sub-window a cut may leave.
    grace_period
        Values needed before the first check.

    whiten
        Values an AR(1) model is fitted on before the detector sees one-step residuals (see
        :class:`~detectors.sequential.Whitening`): for autocorrelated streams. 0 (default): the values
        as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import ADWIN

    >>> rng = np.random.default_rng(12345)
    >>> stream = np.concatenate([rng.normal(0.2, 0.1, 1000), rng.normal(0.6, 0.1, 1000)])
    >>> adwin = ADWIN()
    >>> for i, x in enumerate(stream):
    ...     adwin.update(x)
    ...     if adwin.drift_detected:
    ...         print(f"Change detected at index {i}, kept the values from {adwin.change_point}")
    Change detected at index 1023, kept the values from 384

    """

    kind = "adwin"
    statistics = ("statistic", "width", "variance", *_COMMON_STATISTICS)
    fires_when: ClassVar[dict[str, str]] = {
        "statistic": ">",
        "width": "<",
        "variance": ">",
        **_COMMON_FIRES_WHEN,
    }

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
        whiten: int = 0,
    ) -> None:
        self.delta = check_real("delta", delta, 0.0, 1.0, low_open=True)
        if self.delta == 1.0:
            raise ValueError("delta must be below 1, got 1.0")
        self.clock = check_int("clock", clock, 1)
        self.max_buckets = check_int("max_buckets", max_buckets, 1)
        self.min_window_length = check_int("min_window_length", min_window_length, 1)
        self.grace_period = check_int("grace_period", grace_period, 1)
        self.threshold = self.delta
        self.whiten = check_whiten(whiten)
        self._reset()

    def _params(self) -> dict[str, Any]:  # river's AdaptiveWindowing's own
        return {name: getattr(self, name) for name in self._param_names() if name != "whiten"}

    def _restart(self) -> None:
        self._helper = _adaptive_windowing(**self._params())
        self._alarm_cp: int | None = None

    @property
    def n(self) -> int:
        """Width of the adaptive window."""
        return int(self._helper.get_width())

    def _run(self, x: np.ndarray) -> int | None:
        # indexOf stops at the first alarm (in C): the helper then holds the window the alarm kept.
        try:
            offset = operator.indexOf(map(self._helper.update, x.tolist()), True)
        except ValueError:
            return None
        self._alarm_cp = self._n_seen + offset + 1 - int(self._helper.get_width())
        return offset

    def _locate(self) -> int | None:
        return self._alarm_cp

    def _compute(self, name: str) -> float:
        width = self._helper.get_width()
        if width == 0:
            return math.nan
        if name == "width":
            return float(width)
        if name == "variance":
            return float(self._helper.get_variance())
        return float(self._helper.get_total() / width)

    def _state(self) -> dict[str, Any]:
        blob = bytes(self._helper.__getstate__())
        return {"helper": base64.b64encode(blob).decode(), "sha256": hashlib.sha256(blob).hexdigest()}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        blob = base64.b64decode(state["helper"])
        # The helper's own decoder aborts on a corrupt blob, so the blob is checked first.
        if hashlib.sha256(blob).hexdigest() != state["sha256"]:
            raise ValueError("snapshot of ADWIN is corrupt: its window does not match its checksum")
        self._helper.__setstate__(blob)
