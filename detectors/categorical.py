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
    check_min_samples,
    check_real,
    check_window,
    is_missing,
)

__all__ = ["ChiSquareDrift"]

_CATEGORY_TYPES = (str, int, float)  # what survives a JSON round trip as a dict key would


def _category(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class ChiSquareDrift(UnivariateDetector):
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

    """

    kind = "chi_square"
    input_kind = "categorical"
    statistics = ("statistic", "p_value", "unseen_ratio")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "p_value": "<", "unseen_ratio": ">"}
    _dtype = np.int64

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

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        if values.dtype.kind in "US":
            # Look up each distinct string once rather than every value.
            uniques, inverse = np.unique(values, return_inverse=True)
            lookup = np.array([self._codes.get(_category(u), self._unseen) for u in uniques], dtype=np.int64)
            return lookup[inverse.reshape(-1)]
        codes = [self._encode_one(v) for v in values.tolist()]
        return np.array([c for c in codes if c is not None], dtype=np.int64)

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
