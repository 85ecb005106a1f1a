"""Drift of the joint feature vector: PCA reconstruction error against the reference.

When to use it
--------------
Per-feature tests (KS, PSI...) look at one marginal distribution at a time. They miss a change in
how features move *together* while each keeps its own distribution: two prices that stop being
correlated (a broken oracle, a de-pegged stablecoin), a feature that now mirrors another, a
pipeline that shuffles columns of similar scale. A model that relies on those relations degrades
silently. The reconstruction error of a principal-component model fitted on the reference grows
with exactly those changes, and one test replaces twenty (no multiple-testing correction to make).
It is not a replacement for per-feature tests: it is weaker than a KS test on the one feature that
shifted, and it says *that* the joint distribution moved, not which feature did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from detectors.base import DEFAULT_ALPHA, Detector, check_min_samples, check_real, check_window
from detectors.protocol import Feed, ReferenceSample

__all__ = ["PCAReconstructionDrift"]


class PCAReconstructionDrift(Detector):
    r"""Mean PCA reconstruction error of the last ``window`` feature vectors against the reference's.

    The features are standardised with the reference's means and standard deviations; principal
    components are fitted on every other reference row, and the squared reconstruction error
    :math:`\lVert z - z P P^\top \rVert^2` of the remaining rows (held out, so not flattered by
    the fit) gives the error's null mean :math:`\mu` and standard deviation :math:`\sigma`.
    Each vector fed is reduced to its error at once (the window stores one number per row).

    ``statistic`` is the z-score of the window's mean error, :math:`(\bar e - \mu) / (\sigma /
    \sqrt n)`; ``error_ratio`` is :math:`\bar e / \mu` (1 with no drift), easier to read on a
    dashboard.

    Parameters
    ----------
    reference
        Reference rows, shape ``(m, d)`` with ``m >= 4`` and ``d >= 2``; rows holding a NaN are
        dropped. Features without spread are left out.
    window
        Number of most recent vectors.
    n_components
        Number of principal components kept; None (default) keeps the fewest that explain
        ``variance`` of the reference's variance, and at most ``d - 1``.
    variance
        Share of variance to explain when ``n_components`` is None.
    threshold
        Drift when ``statistic > threshold``; None (default) is the normal quantile at
        ``DEFAULT_ALPHA`` (4.26). The window mean is close to normal for windows in the
        hundreds; on smaller ones calibrate it (:func:`detectors.calibration.calibrate_threshold`).
    min_samples
        No drift is signalled with fewer vectors in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import PCAReconstructionDrift

    >>> rng = np.random.default_rng(0)
    >>> cov = [[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]
    >>> pca = PCAReconstructionDrift(rng.multivariate_normal([0, 0, 0], cov, 5000), window=300)
    >>> pca.n_components
    2
    >>> broken = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]   # same marginals
    >>> rows = np.vstack([rng.multivariate_normal([0, 0, 0], cov, 1000),
    ...                   rng.multivariate_normal([0, 0, 0], broken, 1000)])
    >>> for i, row in enumerate(rows):
    ...     pca.update(row)
    ...     if pca.drift_detected:
    ...         print(f"Change detected at index {i}, error ratio {pca.read('error_ratio'):.2f}")
    ...         break
    Change detected at index 1021, error ratio 1.35

    """

    kind = "pca_reconstruction"
    input_kind = "numeric"
    feeds: ClassVar[Feed] = "vectors"
    _slides = True
    statistics = ("statistic", "error_ratio")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "error_ratio": ">"}

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 500,
        n_components: int | None = None,
        variance: float = 0.9,
        threshold: float | None = None,
        min_samples: int | None = None,
    ) -> None:
        self.window = check_window(window)
        try:
            ref = np.asarray(reference, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"reference must be a 2-D array of numbers: {exc}") from None
        if ref.ndim != 2 or ref.shape[1] < 2:
            raise ValueError(f"reference must be a 2-D array with at least 2 columns, got shape {ref.shape}")
        ref = ref[~np.isnan(ref).any(axis=1)]
        if ref.shape[0] < 4:
            raise ValueError(f"reference must hold at least 4 rows without NaN, got {ref.shape[0]}")
        self.reference = ref
        self.variance = check_real("variance", variance, 0.0, 1.0, low_open=True)
        self._mean = ref.mean(axis=0)
        std = ref.std(axis=0)
        self._used = std > 0
        if self._used.sum() < 2:
            raise ValueError("reference must have at least 2 columns with a non-zero spread")
        self._scale = std[self._used]
        self.n_features = int(ref.shape[1])
        z = (ref[:, self._used] - self._mean[self._used]) / self._scale
        fit, held = z[0::2], z[1::2]
        _, sing, vt = np.linalg.svd(fit - fit.mean(axis=0), full_matrices=False)
        d = int(self._used.sum())
        if n_components is None:
            share = np.cumsum(sing**2) / np.sum(sing**2)
            n_components = min(int(np.searchsorted(share, self.variance) + 1), d - 1)
        elif isinstance(n_components, bool) or not isinstance(n_components, int) or not 1 <= n_components < d:
            raise ValueError(
                f"n_components must be None or an integer from 1 to {d - 1}, got {n_components!r}"
            )
        self.n_components = int(n_components)
        self._components = vt[: self.n_components]
        errors = self._errors_of(held)
        self._null_mean = float(errors.mean())
        self._null_std = float(errors.std(ddof=1))
        if not self._null_std > 0:
            raise ValueError("reference leaves no reconstruction error to compare with: it is degenerate")
        if threshold is None:
            threshold = float(stats.norm.isf(DEFAULT_ALPHA))
        self.threshold = check_real("threshold", threshold, -math.inf, math.inf)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    @classmethod
    def build(
        cls, params: Mapping[str, Any], reference: ReferenceSample | None, *, column: str | None = None
    ) -> Self:
        """Not offered: a reference sample gives one column at a time, without its missing values, and
        this detector is built on whole rows (``PCAReconstructionDrift(rows)``). Raises ValueError."""
        raise ValueError(
            f"{cls.__name__} is built on whole rows of the reference, which a reference sample does not "
            "give (it gives one column at a time); construct it with PCAReconstructionDrift(rows)."
        )

    def _errors_of(self, z: np.ndarray) -> np.ndarray:
        # Row by row reductions rather than a matrix product: BLAS may round a batch differently
        # from a single row, and update_many must give exactly what update gives.
        scores = (z[:, None, :] * self._components[None, :, :]).sum(axis=2)
        residual = z - (scores[:, :, None] * self._components[None, :, :]).sum(axis=1)
        errors: np.ndarray = (residual * residual).sum(axis=1)
        return errors

    def _encode(self, rows: np.ndarray) -> np.ndarray:
        rows = rows[self._kept_rows(rows)]
        z = (rows[:, self._used] - self._mean[self._used]) / self._scale
        return self._errors_of(z)

    def update(self, x: ArrayLike) -> None:
        """Add one feature vector (skipped if it holds a NaN)."""
        self.update_many(np.asarray(x, dtype=np.float64).reshape(1, -1))

    def update_many(self, values: ArrayLike) -> None:
        """Add rows of feature vectors, shape ``(k, d)``; same final state as the loop."""
        try:
            rows = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"values must be a 2-D array of numbers: {exc}") from None
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(f"values must have shape (k, {self.n_features}), got {rows.shape}")
        start, skipped = 0, 0
        if self._slides and rows.shape[0] > self.window:
            start, skipped = self._survivors(self._kept_rows(rows))
        self._push_many(self._encode(rows[start:]), skipped)

    @staticmethod
    def _kept_rows(rows: np.ndarray) -> np.ndarray:
        kept: np.ndarray = ~np.isnan(rows).any(axis=1)
        return kept

    def _compute(self, name: str) -> float:
        mean = float(np.mean(self._buffer.values()))
        if name == "error_ratio":
            return mean / self._null_mean
        return (mean - self._null_mean) / (self._null_std / math.sqrt(self._buffer._count))

    def __repr__(self) -> str:
        return (
            f"PCAReconstructionDrift(n_features={self.n_features}, n_components={self.n_components}, "
            f"window={self.window}, n={self.n}, n_seen={self.n_seen})"
        )
