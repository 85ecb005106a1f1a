"""Drift of a sliding window of categories against a reference: chi-square goodness of fit."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from detectors.base import (
    DEFAULT_ALPHA,
    UnivariateDetector,
    _missing_mask,
    check_min_samples,
    check_real,
    check_window,
    is_missing,
)
from detectors.twosample import _LocatesInWindow, _tail_g_split

__all__ = ["CategoricalPSIDrift", "ChiSquareDrift", "GTestDrift", "UnseenCategoryRate"]

_CATEGORY_TYPES = (str, int, float)  # what survives a JSON round trip as a dict key would


def _category(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class ChiSquareDrift(_LocatesInWindow, UnivariateDetector):
    r"""Chi-square test of the categories in the last ``window`` values against a reference.

    The buckets are the reference's categories plus one for every category the reference never
    showed ("unseen"). Window counts per bucket are kept incrementally. The expected count of a
    bucket is ``n`` times its reference proportion, floored at ``eps`` and renormalised, so an
    unseen category gives a large statistic instead of a division by zero.

    Parameters
    ----------
    reference
        Reference sample of categories (strings, or integers; None and NaN dropped).
    window
        Number of most recent values compared with the reference.
    threshold
        Threshold on the chi-square ``statistic``: drift when ``statistic > threshold``. None
        (default) takes :meth:`critical_value` at significance ``DEFAULT_ALPHA`` (1e-5; see
        ``detectors.base`` for why so low) with one degree of freedom per reference category.
    eps
        Floor on the expected proportion of every bucket, the unseen one included. With the
        default 1e-3 and a window of 500, one stray unseen value adds about 2 to the statistic,
        a burst of 1% (5 values) about 50.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window``.

    Notes
    -----
    ``change_point`` (while ``drift_detected``): the window value from which the counts differ most
    from the reference, the ``k`` maximising the G statistic of the window's values from ``k``
    on against the expected proportions (see :mod:`detectors.twosample`); the same for every
    class of this module.

    Statistics: ``statistic`` (chi-square), ``p_value`` (its upper tail with ``len(categories)``
    degrees of freedom) and ``unseen_ratio`` (share of the window in no reference category).
    The goodness-of-fit statistic is scaled by ``m / (m + n)`` for a reference of ``m`` values:
    the reference proportions are estimates too, and without the scaling a stationary stream
    scores about ``1 + n / m`` times too high.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import ChiSquareDrift

    >>> rng = np.random.default_rng(3)
    >>> tokens = ["ETH", "USDC", "WBTC"]
    >>> chi = ChiSquareDrift(rng.choice(tokens, size=3000, p=[0.5, 0.3, 0.2]), window=200)

    >>> before = rng.choice(tokens, size=600, p=[0.5, 0.3, 0.2])
    >>> after = rng.choice(tokens + ["PEPE"], size=600, p=[0.45, 0.25, 0.2, 0.1])
    >>> for i, x in enumerate(np.concatenate([before, after])):
    ...     chi.update(x)
    ...     if chi.drift_detected:
    ...         print(f"Change detected at index {i}, unseen ratio {chi.read('unseen_ratio'):.3f}")
    ...         break
    Change detected at index 613, unseen ratio 0.015
    >>> chi.change_point
    603

    """

    kind = "chi_square"
    input_kind = "categorical"
    statistics: ClassVar[tuple[str, ...]] = ("statistic", "p_value", "unseen_ratio")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "p_value": "<", "unseen_ratio": ">"}
    _dtype = np.int64
    _slides = True

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        threshold: float | None = None,
        eps: float = 1e-3,
        min_samples: int | None = None,
    ) -> None:
        self.window = check_window(window)
        self.eps = check_real("eps", eps, 0.0, 1.0, low_open=True)
        self.reference = [
            _category(v) for v in np.asarray(reference, dtype=object).reshape(-1) if not is_missing(v)
        ]
        odd = next((v for v in self.reference if not isinstance(v, _CATEGORY_TYPES)), None)
        if odd is not None:
            raise ValueError(f"reference must hold strings or numbers, got {type(odd).__name__} {odd!r}")
        if not self.reference:
            raise ValueError("reference must hold at least one category that is not missing")
        counts: dict[Any, int] = {}
        for value in self.reference:
            counts[value] = counts.get(value, 0) + 1
        self.categories = tuple(counts)  # in order of first appearance
        self._codes = {category: code for code, category in enumerate(self.categories)}
        self._unseen = len(self.categories)
        self._n_codes = self._unseen + 1

        props = np.append(np.array(list(counts.values()), dtype=np.float64) / len(self.reference), 0.0)
        props = np.maximum(props, self.eps)
        self._expected_props = props / props.sum()
        self._dof = len(self.categories)
        if threshold is None:
            threshold = self.critical_value(DEFAULT_ALPHA, self._dof)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    @staticmethod
    def critical_value(alpha: float, dof: int) -> float:
        """Chi-square statistic above which a window differs at significance ``alpha``."""
        alpha = check_real("alpha", alpha, 0.0, 1.0, low_open=True)
        return float(stats.chi2.isf(alpha, dof))

    def _encode_one(self, x: Any) -> Any:
        if is_missing(x):
            return None
        return self._codes.get(_category(x), self._unseen)

    def _kept(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return values, ~_missing_mask(values)  # _encode_one skips exactly these, as tolist() gives them

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        if values.dtype.kind in "US":
            # Look up each distinct string once rather than every value.
            uniques, inverse = np.unique(values, return_inverse=True)
            lookup = np.array([self._codes.get(_category(u), self._unseen) for u in uniques], dtype=np.int64)
            return lookup[inverse.reshape(-1)]
        codes = [self._encode_one(v) for v in values.tolist()]
        return np.array([c for c in codes if c is not None], dtype=np.int64)

    def _split(self, values: np.ndarray) -> int:
        return _tail_g_split(values, self._expected_props)

    def _compute(self, name: str) -> float:
        assert self._counts is not None
        n = self._buffer._count
        if name == "unseen_ratio":
            return float(self._counts[self._unseen] / n)
        if name == "p_value":
            return float(stats.chi2.sf(self.read("statistic"), self._dof))
        expected = n * self._expected_props
        # The reference proportions are estimates too; scaling by m / (m + n) turns the
        # goodness-of-fit statistic into (nearly) the two-sample one, which is chi-square under the
        # null instead of inflated by the reference's own sampling noise.
        m = len(self.reference)
        return float(np.sum((self._counts - expected) ** 2 / expected) * m / (m + n))


class GTestDrift(ChiSquareDrift):
    r"""G-test (log-likelihood ratio) of the categories in the last ``window`` values against a reference.

    Same buckets, floors, degrees of freedom, threshold and statistics as
    :class:`ChiSquareDrift`, with :math:`G = 2 \sum_i O_i \ln(O_i / E_i)` (empty buckets add 0)
    in place of Pearson's sum, also scaled by ``m / (m + n)``. Both are chi-square under no
    drift; G is the likelihood-ratio form and less inflated by rare buckets, so it is the
    better choice when the reference has many small categories.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import GTestDrift

    >>> rng = np.random.default_rng(3)
    >>> tokens = ["ETH", "USDC", "WBTC"]
    >>> g = GTestDrift(rng.choice(tokens, size=3000, p=[0.5, 0.3, 0.2]), window=200)
    >>> before = rng.choice(tokens, size=600, p=[0.5, 0.3, 0.2])
    >>> after = rng.choice(tokens, size=600, p=[0.3, 0.3, 0.4])
    >>> for i, x in enumerate(np.concatenate([before, after])):
    ...     g.update(x)
    ...     if g.drift_detected:
    ...         print(f"Change detected at index {i}, G = {g.statistic:.1f}")
    ...         break
    Change detected at index 731, G = 27.0

    """

    kind = "g_test"

    def _compute(self, name: str) -> float:
        if name != "statistic":
            return super()._compute(name)
        assert self._counts is not None
        n = self._buffer._count
        observed = self._counts
        expected = n * self._expected_props
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(observed > 0, observed * np.log(observed / expected), 0.0)
        m = len(self.reference)
        return float(max(0.0, 2.0 * terms.sum()) * m / (m + n))


class CategoricalPSIDrift(ChiSquareDrift):
    r"""Population Stability Index over categories, the unseen ones pooled in one bucket.

    .. math:: PSI = \sum_i (q_i - p_i) \ln(q_i / p_i)

    over the reference's categories plus the unseen bucket, with :math:`q_i` the window proportions
    floored at ``eps`` and :math:`p_i` the reference proportions floored at ``eps`` and renormalised
    (the expected proportions of :class:`ChiSquareDrift`).

    Parameters
    ----------
    reference
        Reference sample of categories (strings, or integers; None and NaN dropped).
    window
        Number of most recent values compared with the reference.
    threshold
        Drift when ``statistic > threshold``; 0.2 by default, the usual rule of thumb.
    eps
        Floor on proportions.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import CategoricalPSIDrift

    >>> rng = np.random.default_rng(4)
    >>> tokens = ["ETH", "USDC", "WBTC"]
    >>> psi = CategoricalPSIDrift(rng.choice(tokens, size=3000, p=[0.5, 0.3, 0.2]), window=300)
    >>> before = rng.choice(tokens, size=600, p=[0.5, 0.3, 0.2])
    >>> after = rng.choice(tokens, size=600, p=[0.2, 0.3, 0.5])
    >>> for i, x in enumerate(np.concatenate([before, after])):
    ...     psi.update(x)
    ...     if psi.drift_detected:
    ...         print(f"Change detected at index {i}, PSI = {psi.statistic:.2f}")
    ...         break
    Change detected at index 776, PSI = 0.20

    """

    kind = "psi_categorical"
    statistics = ("statistic", "unseen_ratio")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "unseen_ratio": ">"}

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        threshold: float = 0.2,
        eps: float = 1e-4,
        min_samples: int | None = None,
    ) -> None:
        super().__init__(reference, window=window, threshold=threshold, eps=eps, min_samples=min_samples)

    def _compute(self, name: str) -> float:
        if name != "statistic":
            return super()._compute(name)
        assert self._counts is not None
        # Not twosample.psi(): it would floor p at eps again, and the renormalised floor of the
        # unseen bucket lies below eps, so the statistic would move (by up to ~1e-5).
        q = np.maximum(self._counts / self._buffer._count, self.eps)
        p = self._expected_props
        return float(np.sum((q - p) * np.log(q / p)))


class UnseenCategoryRate(ChiSquareDrift):
    """Share of the last ``window`` values that belong to no category of the reference.

    A data-quality detector as much as a drift one: a new token, venue or enum value that the
    model never saw in training. ``statistic`` equals :class:`ChiSquareDrift`'s
    ``unseen_ratio``.

    Parameters
    ----------
    reference
        Reference sample of categories (strings, or integers; None and NaN dropped).
    window
        Number of most recent values.
    threshold
        Drift when ``statistic > threshold``; 0.01 (1%) by default.
    min_samples
        No drift is signalled with fewer values in the window; None means ``window``.

    Examples
    --------
    >>> from detectors import UnseenCategoryRate
    >>> unseen = UnseenCategoryRate(["ETH", "USDC", "WBTC"] * 100, window=100, threshold=0.05)
    >>> for i in range(300):
    ...     unseen.update("PEPE" if i >= 150 and i % 3 == 0 else "ETH")
    ...     if unseen.drift_detected:
    ...         print(f"Change detected at index {i}, unseen share {unseen.statistic:.2f}")
    ...         break
    Change detected at index 165, unseen share 0.06

    """

    kind = "unseen_share"
    statistics = ("statistic", "unseen_count")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "unseen_count": ">"}

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        threshold: float = 0.01,
        min_samples: int | None = None,
    ) -> None:
        super().__init__(reference, window=window, threshold=1.0, min_samples=min_samples)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)

    def _compute(self, name: str) -> float:
        assert self._counts is not None
        unseen = float(self._counts[self._unseen])
        return unseen if name == "unseen_count" else unseen / self._buffer._count
