"""Two-sample drift of a sliding window of numbers against a fixed reference sample: KS and PSI.

Every window test here, in :mod:`detectors.numeric` and in :mod:`detectors.categorical` also says
where the change began while ``drift_detected`` holds: ``change_point``, the position (0-based, as
``n_seen`` counts) of the window value from which the window differs most from the reference,
computed when first read and kept until the next update. The estimator is a likelihood ratio for
"the window's values from ``k`` on come from elsewhere, those before from the reference":

- numbers: each value's mid-rank in the reference, :math:`u = F_{ref}(x) - 1/2`, and its spread
  :math:`|u|`, standardised by their mean and deviation over the reference itself; ``k``
  maximises :math:`T_k^2 / (w - k)` over both scores, :math:`T_k` the sum of the standardised
  score over the window's values from ``k`` on (a location change moves the first, a change of
  spread the second);
- categories and binned numbers (PSI, Jensen-Shannon): ``k`` maximises the G statistic (the
  multinomial likelihood ratio) of the counts of the window's values from ``k`` on against the
  reference's proportions (floored); not Pearson's, whose terms for a rare or unseen bucket
  (expected count near 0) make a short tail that ends on one such value win.

Ties go to the earliest ``k``. A window ``[k:]`` of one value can win only if the change is in
the window's last few values; a change older than the window gives the window's first value.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from detectors.base import (
    DEFAULT_ALPHA,
    Detector,
    UnivariateDetector,
    check_int,
    check_min_samples,
    check_real,
    check_window,
)

try:
    # The exact two-sample p-value of ks_2samp (compiled in scipy). It is private, so a scipy that
    # moves it costs us exactness, not function: the asymptotic p-value is used instead.
    from scipy.stats._stats_py import _attempt_exact_2kssamp
except ImportError:  # pragma: no cover - depends on the scipy version
    _attempt_exact_2kssamp = None

__all__ = ["KSDrift", "PSIDrift"]

# ks_2samp(method="auto") is exact up to this sample size, asymptotic above.
_KS_MAX_EXACT_N = 10_000


def _numeric_reference(reference: ArrayLike) -> np.ndarray:
    """The reference as a sorted, read-only float array without NaN."""
    try:
        ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"reference must be an array of numbers: {exc}") from None
    ref = np.sort(ref[~np.isnan(ref)])
    if ref.shape[0] == 0:
        raise ValueError("reference must hold at least one number that is not NaN")
    ref.flags.writeable = False
    return ref


# Where a window test keeps its change point in ``_cache`` (cleared on every update); NaN for None.
# The leading space keeps it apart from the statistics' names.
_CHANGE_POINT_KEY = " change_point"


def _tail_score_split(scores: Sequence[np.ndarray]) -> int:
    """The ``k`` maximising ``T_k^2 / (n - k)`` over standardised scores, ``T_k`` the sum from ``k`` on."""
    n = scores[0].shape[0]
    lengths = np.arange(n, 0, -1, dtype=np.float64)
    best = np.zeros(n)
    for z in scores:
        tails = np.cumsum(z[::-1])[::-1]
        np.maximum(best, tails * tails / lengths, out=best)
    return int(np.argmax(best))


def _tail_g_split(codes: np.ndarray, props: np.ndarray) -> int:
    """The ``k`` maximising the G statistic (likelihood ratio) of the counts of ``codes[k:]`` against ``props``.

    :math:`G_k = 2 \\sum_c O_c \\ln(O_c / (L p_c))` over the counts :math:`O` of ``codes[k:]``,
    :math:`L = n - k`: :math:`\\sum_c O_c \\ln O_c` grows by :math:`(a + 1)\\ln(a + 1) - a \\ln a` when a
    value joins whose code the tail already holds :math:`a` times, so all of them cost one sort.
    """
    n = codes.shape[0]
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    after = np.empty(n, dtype=np.int64)  # values of the same code after each one
    after[order] = np.searchsorted(ordered, ordered, side="right") - np.arange(n) - 1
    a = after.astype(np.float64)
    gain = special.xlogy(a + 1.0, a + 1.0) - special.xlogy(a, a) - np.log(props[codes])
    lengths = np.arange(n, 0, -1, dtype=np.float64)
    g = np.cumsum(gain[::-1])[::-1] - lengths * np.log(lengths)
    return int(np.argmax(g))


class _LocatesInWindow(Detector):
    """A window test that estimates where the change began (see the module docstring).

    Subclasses give ``_split(values)``, the offset in the window (oldest first) where the change
    began, and may override ``_window_in_order()``.
    """

    @property
    def change_point(self) -> int | None:
        """0-based position among the values seen where the change began, while ``drift_detected``
        holds; None otherwise. Computed when first read, kept until the next update."""
        cached = self._cache.get(_CHANGE_POINT_KEY)
        if cached is None:
            found = None
            if self.drift_detected:
                values, first = self._window_in_order()
                if values.shape[0]:
                    found = first + self._split(values)
            cached = math.nan if found is None else float(found)
            self._cache[_CHANGE_POINT_KEY] = cached
        return None if math.isnan(cached) else int(cached)

    def _window_in_order(self) -> tuple[np.ndarray, int]:
        """The values the statistics are computed on, oldest first, and the position of the first."""
        return self._buffer.values(), self._n_seen - self._buffer._count

    def _split(self, values: np.ndarray) -> int:
        """Offset in ``values`` where the change began."""
        raise NotImplementedError(f"{type(self).__name__} has no _split")


class _NumericDetector(_LocatesInWindow, UnivariateDetector):
    input_kind = "numeric"
    reference: np.ndarray

    def _encode_one(self, x: Any) -> Any:
        if x is None:
            return None
        x = float(x)
        return None if math.isnan(x) else x

    def _kept(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        array = np.asarray(values, dtype=np.float64)
        return array, ~np.isnan(array)

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        array, keep = self._kept(values)
        kept: np.ndarray = array[keep]
        return kept

    def _scores(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mid-rank in the reference minus 1/2 of each value, and its absolute value."""
        ref = self.reference
        u = (np.searchsorted(ref, values, "left") + np.searchsorted(ref, values, "right")) / (2.0 * ref.shape[0]) - 0.5
        return u, np.abs(u)

    def _split(self, values: np.ndarray) -> int:
        null = getattr(self, "_score_null", None)
        if null is None:  # the scores' mean and deviation over the reference itself, once
            null = [(float(np.mean(s)), float(np.std(s))) for s in self._scores(self.reference)]
            self._score_null = null
        standardised = [
            (s - mean) / (sd if sd > 0 else 1.0) for s, (mean, sd) in zip(self._scores(values), null, strict=True)
        ]
        return _tail_score_split(standardised)


class _QuantileBinned(_NumericDetector):
    """Numeric detector storing bin codes; the bins are cut at the reference's quantiles."""

    reference: np.ndarray
    bins: int

    def _init_bins(self) -> np.ndarray:
        """Set the bin edges from ``reference`` and ``bins``; return the reference's proportions."""
        inner = np.quantile(self.reference, np.linspace(0.0, 1.0, self.bins + 1)[1:-1])
        self._edges = np.unique(inner)
        self._edge_list = self._edges.tolist()  # bisect on a list beats numpy for one value
        self._n_codes = self._edges.shape[0] + 1
        ref_counts = np.bincount(self._bin(self.reference), minlength=self._n_codes)
        props: np.ndarray = ref_counts / self.reference.shape[0]
        return props

    def _bin(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._edges, values, side="right").astype(np.int64)

    def _encode_one(self, x: Any) -> Any:
        value = super()._encode_one(x)
        return None if value is None else bisect.bisect_right(self._edge_list, value)

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        return self._bin(super()._encode_many(values))

    def _split(self, values: np.ndarray) -> int:
        props = getattr(self, "_split_props", None)
        if props is None:  # the reference's proportions, floored so an empty bin stays finite
            counts = np.bincount(self._bin(self.reference), minlength=self._n_codes)
            props = np.maximum(counts / self.reference.shape[0], 1e-6)
            props = props / props.sum()
            self._split_props = props
        return _tail_g_split(values, props)


class KSDrift(_NumericDetector):
    r"""Two-sample Kolmogorov-Smirnov test of the last ``window`` values against a reference.

    ``statistic`` is the KS distance :math:`D = \sup_x |F_{ref}(x) - F_{win}(x)|` and ``p_value``
    the two-sided p-value that ``scipy.stats.ks_2samp(method="auto")`` gives for the same samples
    (exact up to 10 000 values on either side, asymptotic beyond). The reference is sorted once at
    construction; reading ``statistic`` costs :math:`O(w \log w + w \log m)` for a window of
    :math:`w` values and a reference of :math:`m`, the p-value more when it is exact.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped). Kept as a sorted, read-only float array.
    window
        Number of most recent values compared with the reference.
    threshold
        Threshold on the distance ``statistic``: drift when ``statistic > threshold``. None
        (default) takes :meth:`critical_value` at significance ``DEFAULT_ALPHA`` (1e-5) for a
        full window and this reference, about where ``p_value`` falls below 1e-5. To threshold
        the p-value instead, read ``"p_value"`` (``fires_when["p_value"]`` is ``"<"``).
    min_samples
        No drift is signalled with fewer values in the window; None means ``window``. The default
        threshold is computed for a full window, so a smaller ``min_samples`` raises more alarms.

    Notes
    -----
    Checking a sliding window after every value repeats the test on overlapping samples, so the
    false-alarm rate over a stream is far above the significance of one test: at 1e-3 a stationary
    stream raised an alarm within 20 windows in about one run of five, at 1e-5 in none of 150
    (see ``detectors.base.DEFAULT_ALPHA``). :meth:`critical_value` gives the threshold for another
    significance, e.g. one derived from a policy's false-alarm budget.

    Ties are handled as ``ks_2samp`` handles them. For a reference or window above 10 000 values
    ``statistic`` may differ from ``ks_2samp``'s in the last bit (we compute it as an exact ratio).

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import KSDrift

    >>> rng = np.random.default_rng(42)
    >>> ks = KSDrift(rng.normal(size=2000), window=200)

    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> for i, x in enumerate(stream):
    ...     ks.update(x)
    ...     if ks.drift_detected:
    ...         print(f"Change detected at index {i}, D = {ks.statistic:.3f}")
    ...         break
    Change detected at index 1065, D = 0.188

    >>> ks.read("p_value") < 1e-3
    True

    While it fires, ``change_point`` says where in the window the change began:

    >>> ks.change_point
    997

    """

    kind = "ks"
    statistics = ("statistic", "p_value")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "p_value": "<"}
    _slides = True

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        threshold: float | None = None,
        min_samples: int | None = None,
    ) -> None:
        self.window = check_window(window)
        self.reference = _numeric_reference(reference)
        if threshold is None:
            # Samples too small to ever reach the significance give 1.0: a distance that never fires.
            threshold = min(1.0, self.critical_value(DEFAULT_ALPHA, self.window, self.reference.shape[0]))
        self.threshold = check_real("threshold", threshold, 0.0, 1.0, low_open=True)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    @staticmethod
    def critical_value(alpha: float, window: int, n_reference: int) -> float:
        """Distance above which a full window differs from the reference at significance ``alpha``.

        Uses the asymptotic Kolmogorov distribution: :math:`c(\\alpha)\\sqrt{(w + m) / (w m)}`.
        """
        alpha = check_real("alpha", alpha, 0.0, 1.0, low_open=True)
        return float(stats.kstwobign.isf(alpha) * math.sqrt((window + n_reference) / (window * n_reference)))

    def _compute(self, name: str) -> float:
        if name == "statistic":
            return self._distance()
        return self._p_value(self.read("statistic"))

    def _distance(self) -> float:
        ref = self.reference
        win = np.sort(self._buffer.unordered())
        m, n = ref.shape[0], win.shape[0]
        # Both ECDFs are steps; the supremum of their difference is reached at a window value
        # (G - F) or just before one (F - G), so only window points need evaluating. Working in
        # integer numerators over m * n makes D exact and equal to ks_2samp's.
        below = np.max(n * np.searchsorted(ref, win, "left") - m * np.searchsorted(win, win, "left"))
        above = np.max(m * np.searchsorted(win, win, "right") - n * np.searchsorted(ref, win, "right"))
        k = max(int(below), int(above), 0)
        g = math.gcd(m, n)
        return float((k // g) / ((m // g) * n))

    def _p_value(self, d: float) -> float:
        return _ks_p_value(d, self._buffer._count, self.reference.shape[0])


@functools.lru_cache(maxsize=4096)
def _ks_p_value(d: float, n: int, m: int) -> float:
    """The two-sided p-value of KS distance ``d`` between samples of ``n`` and ``m`` values.

    A function of these three numbers alone, and the exact one costs about 10 ms at 2,000 x 5,000 values, so
    it is kept: a stationary window's distance takes few distinct values (multiples of 1 / lcm(n, m))."""
    if max(m, n) <= _KS_MAX_EXACT_N and _attempt_exact_2kssamp is not None:
        success, _, p = _attempt_exact_2kssamp(n, m, math.gcd(m, n), d, "two-sided")
        if success:
            return float(np.clip(p, 0.0, 1.0))
    en = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def psi(p: np.ndarray, q: np.ndarray, eps: float) -> float:
    """Population stability index of proportions ``q`` against reference proportions ``p``.

    Both are floored at ``eps``.
    """
    q = np.maximum(q, eps)
    p = np.maximum(p, eps)
    return float(np.sum((q - p) * np.log(q / p)))


class PSIDrift(_QuantileBinned):
    r"""Population Stability Index of the last ``window`` values against a reference.

    Bin edges are the reference's quantiles (computed once; duplicate edges merged, so a reference
    with many ties gives fewer bins than ``bins``), the two outer bins are open-ended. The window's
    bin counts are kept incrementally, so an update costs :math:`O(\log \text{bins})`.

    .. math:: PSI = \sum_i (q_i - p_i) \ln(q_i / p_i)

    with :math:`p_i` the reference and :math:`q_i` the window proportions, both floored at ``eps``.

    Parameters
    ----------
    reference
        Reference sample of numbers (NaN dropped). Kept as a sorted, read-only float array.
    window
        Number of most recent values compared with the reference.
    bins
        Number of quantile bins asked for.
    threshold
        Drift when ``statistic > threshold``. The default 0.2 is the usual rule of thumb
        (below 0.1 stable, 0.1-0.2 moderate, above 0.2 a significant shift).
    eps
        Floor on proportions, so an empty bin gives a large finite term instead of infinity.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window``.

    Notes
    -----
    PSI is biased upwards on small samples: for a stationary stream its expectation is about
    ``(bins - 1) * (1 / window + 1 / len(reference))``, 0.02 for 10 bins and a window of 500, but
    0.2 for a window of 50. Keep ``window`` in the hundreds at the default threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import PSIDrift

    >>> rng = np.random.default_rng(7)
    >>> psi = PSIDrift(rng.normal(size=5000), window=300)

    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> for i, x in enumerate(stream):
    ...     psi.update(x)
    ...     if psi.drift_detected:
    ...         print(f"Change detected at index {i}, PSI = {psi.statistic:.2f}")
    ...         break
    Change detected at index 1117, PSI = 0.20

    """

    kind = "psi"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}
    _dtype = np.int64
    _slides = True

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        bins: int = 10,
        threshold: float = 0.2,
        eps: float = 1e-4,
        min_samples: int | None = None,
    ) -> None:
        self.window = check_window(window)
        self.reference = _numeric_reference(reference)
        self.bins = check_int("bins", bins, 2)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self.eps = check_real("eps", eps, 0.0, 1.0, low_open=True)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._ref_props = np.maximum(self._init_bins(), self.eps)
        self._reset()

    @property
    def edges(self) -> np.ndarray:
        """Inner bin edges; bin ``i`` is ``[edges[i-1], edges[i])``, the outer ones open-ended."""
        return self._edges.copy()

    def _compute(self, name: str) -> float:
        assert self._counts is not None
        return psi(self._ref_props, self._counts / self._buffer._count, self.eps)
