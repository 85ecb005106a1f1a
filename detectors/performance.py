"""Model performance over the last ``window`` labelled predictions.

Classifiers: accuracy, precision, recall, ROC AUC, log loss, Brier score, expected calibration error.
Regressors: MAE, RMSE, bias. Labels may arrive late: a pair is only fed once its label is known, and
``n`` is the number of labelled pairs in the window.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from detectors.base import (
    PairDetector,
    _missing_mask,
    check_int,
    check_min_samples,
    check_real,
    check_window,
    is_missing,
)

__all__ = [
    "RollingAccuracy",
    "RollingBias",
    "RollingBrier",
    "RollingECE",
    "RollingLogLoss",
    "RollingMAE",
    "RollingPrecision",
    "RollingRMSE",
    "RollingROCAUC",
    "RollingRecall",
]


class RollingAccuracy(PairDetector):
    """Share of correct predictions among the last ``window`` labelled pairs.

    Fed ``(prediction, label)`` pairs of classes; a pair is correct when ``prediction == label``.
    Pairs whose label is missing (None or NaN) are skipped; a missing prediction counts as wrong.

    Parameters
    ----------
    window
        Number of most recent labelled pairs.
    threshold
        Drift when ``statistic < threshold``. The default 0.5 is chance level for a binary
        classifier, a collapse no policy would tolerate; set the model's own floor in the policy.
    min_samples
        No drift is signalled with fewer pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingAccuracy

    >>> rng = np.random.default_rng(11)
    >>> labels = rng.integers(0, 2, size=1000)
    >>> wrong = rng.random(1000) < np.where(np.arange(1000) < 500, 0.1, 0.7)
    >>> predictions = np.where(wrong, 1 - labels, labels)

    >>> acc = RollingAccuracy(window=100, threshold=0.75)
    >>> for i, pair in enumerate(zip(predictions, labels)):
    ...     acc.update(pair)
    ...     if acc.drift_detected:
    ...         print(f"Change detected at index {i}, accuracy {acc.statistic:.2f}")
    ...         break
    Change detected at index 522, accuracy 0.74

    """

    kind = "accuracy"
    input_kind = "classification"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": "<"}
    _dtype = np.int64
    _slides = True

    def __init__(self, *, window: int = 500, threshold: float = 0.5, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._n_codes = 2  # 0 wrong, 1 correct
        self._reset()

    def _encode_one(self, prediction: Any, label: Any) -> Any:
        correct = _correct_one(prediction, label)
        return None if correct is None else int(correct)

    def _kept(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return ~_missing_mask(labels)

    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return _correct_many(predictions, labels).astype(np.int64)

    def _compute(self, name: str) -> float:
        assert self._counts is not None
        return float(self._counts[1] / self._buffer._count)


def _correct_one(prediction: Any, label: Any) -> bool | None:
    """Whether ``prediction`` is right (a missing one never is); None when the label is missing."""
    if is_missing(label):
        return None
    return bool(prediction == label) and not is_missing(prediction)


def _correct_many(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """:func:`_correct_one` of each pair whose label is not missing, as a boolean array."""
    keep = ~_missing_mask(labels)
    p, y = predictions[keep], labels[keep]
    if (p.dtype.kind in "biuf" and y.dtype.kind in "biuf") or (p.dtype.kind in "U" and y.dtype.kind in "U"):
        same: np.ndarray = p == y  # NaN equals nothing
        return same
    # Mixed or object dtypes: compare element by element, as update() does.
    return np.fromiter(
        (bool(a == b) and not is_missing(a) for a, b in zip(p.tolist(), y.tolist(), strict=True)),
        dtype=bool,
        count=p.shape[0],
    )


class _ErrorDetector(PairDetector):
    """Fed numeric ``(prediction, label)`` pairs; stores ``_error`` of each pair whose error is not NaN."""

    input_kind = "regression"

    def __init__(self, *, threshold: float, window: int = 500, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    @abc.abstractmethod
    def _error(self, prediction: np.ndarray, label: np.ndarray) -> np.ndarray:
        """The error stored for each pair."""

    def _encode_one(self, prediction: Any, label: Any) -> Any:
        if prediction is None or label is None:
            return None
        error = float(self._error(np.array([float(prediction)]), np.array([float(label)]))[0])
        return None if math.isnan(error) else error

    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        errors = self._error(np.asarray(predictions, dtype=np.float64), np.asarray(labels, dtype=np.float64))
        kept: np.ndarray = errors[~np.isnan(errors)]
        return kept


class RollingMAE(_ErrorDetector):
    """Mean absolute error of the last ``window`` labelled numeric predictions.

    Fed ``(prediction, label)`` pairs of numbers; pairs whose error is NaN (a missing prediction
    or label) are skipped.

    Parameters
    ----------
    threshold
        Drift when ``statistic > threshold``. Required: an error is in the units of the target,
        so there is no default that would mean anything.
    window
        Number of most recent labelled pairs.
    min_samples
        No drift is signalled with fewer pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingMAE

    >>> rng = np.random.default_rng(5)
    >>> labels = rng.normal(100, 10, size=1000)
    >>> noise = rng.normal(0, np.where(np.arange(1000) < 500, 1.0, 4.0))
    >>> mae = RollingMAE(threshold=2.0, window=100)
    >>> mae.update_many(labels[:500] + noise[:500], labels[:500])
    >>> print(f"MAE {mae.statistic:.2f}, drift: {mae.drift_detected}")
    MAE 0.84, drift: False

    >>> for i in range(500, 1000):
    ...     mae.update((labels[i] + noise[i], labels[i]))
    ...     if mae.drift_detected:
    ...         print(f"Change detected at index {i}, MAE {mae.statistic:.2f}")
    ...         break
    Change detected at index 542, MAE 2.01

    """

    kind = "mae"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

    def _error(self, prediction: np.ndarray, label: np.ndarray) -> np.ndarray:
        error: np.ndarray = np.abs(prediction - label)
        return error

    def _compute(self, name: str) -> float:
        # Summed oldest first on every read, so the value depends only on the window's contents.
        return float(np.mean(self._buffer.values()))


# -- more classification metrics ------------------------------------------------------------------
#
# Every detector below is fed (prediction, label) pairs whose label may arrive late: a pair whose
# label is missing is skipped, so ``n`` is the number of labelled pairs in the window, the count a
# rule should require before trusting the metric (``min_samples``).


class RollingPrecision(PairDetector):
    """Precision of the last ``window`` labelled class predictions, for one ``positive`` class.

    Pairs are counted as true/false positives/negatives (four window counts kept
    incrementally). ``statistic`` is precision ``TP / (TP + FP)``; ``recall`` is
    ``TP / (TP + FN)`` and ``f1`` their harmonic mean. A metric whose denominator is zero in the
    window (no positive prediction yet) is NaN and never fires.

    Parameters
    ----------
    positive
        The class counted as positive (compared with ``==``).
    window
        Number of most recent labelled pairs.
    threshold
        Drift when ``statistic < threshold``; 0.5 by default.
    min_samples
        No drift is signalled with fewer labelled pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingPrecision

    >>> rng = np.random.default_rng(2)
    >>> labels = rng.integers(0, 2, size=2000)
    >>> flip = rng.random(2000) < np.where(np.arange(2000) < 1000, 0.1, 0.4)
    >>> predictions = np.where(flip, 1 - labels, labels)
    >>> prec = RollingPrecision(positive=1, window=200, threshold=0.75)
    >>> for i, pair in enumerate(zip(predictions, labels)):
    ...     prec.update(pair)
    ...     if prec.drift_detected:
    ...         print(f"Change detected at index {i}, precision {prec.statistic:.2f}")
    ...         break
    Change detected at index 1076, precision 0.74

    """

    kind = "precision"
    input_kind = "classification"
    statistics = ("statistic", "recall", "f1")
    fires_when: ClassVar[dict[str, str]] = {"statistic": "<", "recall": "<", "f1": "<"}
    _dtype = np.int64
    _slides = True
    _TP, _FP, _FN, _TN = 0, 1, 2, 3

    def __init__(
        self,
        *,
        positive: Any = 1,
        window: int = 500,
        threshold: float = 0.5,
        min_samples: int | None = None,
    ) -> None:
        if is_missing(positive) or not isinstance(positive, str | int | float):
            raise ValueError(f"positive must be a class label (a string or a number), got {positive!r}")
        self.positive = positive
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._n_codes = 4
        self._reset()

    def _encode_one(self, prediction: Any, label: Any) -> Any:
        if is_missing(label):
            return None
        predicted, actual = bool(prediction == self.positive), bool(label == self.positive)
        return (0 if actual else 1) if predicted else (2 if actual else 3)

    def _kept(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return ~_missing_mask(labels)

    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        keep = self._kept(predictions, labels)
        p, y = predictions[keep], labels[keep]
        predicted, actual = _equals(p, self.positive), _equals(y, self.positive)
        return np.where(predicted, np.where(actual, 0, 1), np.where(actual, 2, 3)).astype(np.int64)

    def _metric(self, name: str) -> float:
        assert self._counts is not None
        tp, fp, fn = (float(c) for c in self._counts[:3])
        if name == "precision":
            return tp / (tp + fp) if tp + fp else math.nan
        if name == "recall":
            return tp / (tp + fn) if tp + fn else math.nan
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan

    def _compute(self, name: str) -> float:
        return self._metric("precision" if name == "statistic" else name)


class RollingRecall(RollingPrecision):
    """Recall of the last ``window`` labelled class predictions, for one ``positive`` class.

    The counterpart of :class:`RollingPrecision` (same parameters and counts): ``statistic``
    is recall ``TP / (TP + FN)``, and ``precision`` and ``f1`` are read beside it.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingRecall

    >>> rng = np.random.default_rng(2)
    >>> labels = rng.integers(0, 2, size=2000)
    >>> missed = (labels == 1) & (rng.random(2000) < np.where(np.arange(2000) < 1000, 0.05, 0.5))
    >>> predictions = np.where(missed, 0, labels)
    >>> rec = RollingRecall(positive=1, window=200, threshold=0.75)
    >>> for i, pair in enumerate(zip(predictions, labels)):
    ...     rec.update(pair)
    ...     if rec.drift_detected:
    ...         print(f"Change detected at index {i}, recall {rec.statistic:.2f}")
    ...         break
    Change detected at index 1100, recall 0.74

    """

    kind = "recall"
    statistics = ("statistic", "precision", "f1")
    fires_when: ClassVar[dict[str, str]] = {"statistic": "<", "precision": "<", "f1": "<"}

    def _compute(self, name: str) -> float:
        return self._metric("recall" if name == "statistic" else name)


def _equals(values: np.ndarray, target: Any) -> np.ndarray:
    same: np.ndarray
    if values.dtype.kind in "biuf" and isinstance(target, int | float) and not isinstance(target, bool):
        same = values == target
        return same
    if values.dtype.kind == "U" and isinstance(target, str):
        same = values == target
        return same
    return np.fromiter((bool(v == target) for v in values.tolist()), dtype=bool, count=values.shape[0])


class _ProbabilityDetector(PairDetector):
    """Fed (probability of the positive class, 0/1 label) pairs; stores one float per pair.

    A pair outside that domain (a probability outside [0, 1], a label other than 0 or 1) is
    skipped like a missing one, and counted in ``n_rejected``: a watchdog must not stop on a bad
    record, but a policy that points a probability metric at a regressor should be visible.
    """

    input_kind = "regression"  # numeric pairs: the probability and the 0/1 label

    def _reset(self) -> None:
        super()._reset()
        self._n_rejected = 0

    @property
    def n_rejected(self) -> int:
        """Pairs skipped because the prediction was no probability or the label not 0 or 1."""
        return self._n_rejected

    def _encode_one(self, prediction: Any, label: Any) -> Any:
        if prediction is None or label is None:
            return None
        codes = self._encode_many(np.array([float(prediction)]), np.array([float(label)]))
        return float(codes[0]) if codes.shape[0] else None

    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        p = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        keep = ~(np.isnan(p) | np.isnan(y))
        p, y = p[keep], y[keep]
        valid = (p >= 0.0) & (p <= 1.0) & ((y == 0.0) | (y == 1.0))
        self._n_rejected += int(valid.shape[0] - valid.sum())
        return self._store(p[valid], y[valid])

    def _store(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        # The default: probability and label packed losslessly in one float, the label as the
        # sign bit (-0.0 for p = 0 and y = 1 survives numpy, JSON and restore).
        return np.where(y == 1.0, -p, p)

    def _unpack(self) -> tuple[np.ndarray, np.ndarray]:
        packed = self._buffer.values()
        return np.abs(packed), np.signbit(packed).astype(np.float64)

    def _snapshot_state(self) -> dict[str, Any]:
        return {**super()._snapshot_state(), "n_rejected": self._n_rejected}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        self._n_rejected = int(state.get("n_rejected", 0))


class RollingROCAUC(_ProbabilityDetector):
    """Area under the ROC curve over the last ``window`` labelled probability predictions.

    Fed ``(p, y)`` pairs: ``p`` the predicted probability of the positive class, ``y`` the label
    0 or 1 (a pair with a missing value is skipped; one out of that domain too, counted in
    ``n_rejected``). ``statistic`` is the Mann-Whitney form of the AUC with ties counted half,
    equal to ``sklearn.metrics.roc_auc_score``; NaN while the window holds one class only.

    Parameters
    ----------
    window
        Number of most recent labelled pairs.
    threshold
        Drift when ``statistic < threshold``; 0.5 (no better than chance) by default.
    min_samples
        No drift is signalled with fewer labelled pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingROCAUC

    >>> rng = np.random.default_rng(8)
    >>> y = rng.integers(0, 2, size=2000)
    >>> signal = np.where(np.arange(2000) < 1000, 2.0, 0.3)
    >>> p = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=2000))))
    >>> auc = RollingROCAUC(window=200, threshold=0.75)
    >>> auc.update_many(p[:1000], y[:1000])
    >>> print(f"AUC {auc.statistic:.2f} over {auc.n} labelled pairs")
    AUC 1.00 over 200 labelled pairs
    >>> for i in range(1000, 2000):
    ...     auc.update((p[i], y[i]))
    ...     if auc.drift_detected:
    ...         print(f"Change detected at index {i}, AUC {auc.statistic:.2f}")
    ...         break
    Change detected at index 1147, AUC 0.74

    """

    kind = "roc_auc"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": "<"}

    def __init__(self, *, window: int = 500, threshold: float = 0.5, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    def _compute(self, name: str) -> float:
        p, y = self._unpack()
        positives = int(y.sum())
        negatives = y.shape[0] - positives
        if positives == 0 or negatives == 0:
            return math.nan
        ranks = stats.rankdata(p)
        return float((ranks[y == 1.0].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


class RollingLogLoss(_ProbabilityDetector):
    """Mean log loss (cross-entropy) of the last ``window`` labelled probability predictions.

    Fed ``(p, y)`` pairs as :class:`RollingROCAUC`. Each pair's loss ``-log(p)`` if ``y == 1``
    else ``-log(1 - p)`` is stored, with ``p`` clipped to ``[eps, 1 - eps]`` so a confident
    mistake costs ``-log(eps)`` rather than infinity.

    Parameters
    ----------
    window
        Number of most recent labelled pairs.
    threshold
        Drift when ``statistic > threshold``; ``ln 2`` (0.693, a constant 0.5 forecast) by default.
    eps
        Clipping of the probabilities.
    min_samples
        No drift is signalled with fewer labelled pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingLogLoss

    >>> rng = np.random.default_rng(8)
    >>> y = rng.integers(0, 2, size=2000)
    >>> signal = np.where(np.arange(2000) < 1000, 2.0, 0.3)
    >>> p = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=2000))))
    >>> loss = RollingLogLoss(window=200, threshold=0.6)
    >>> for i, pair in enumerate(zip(p, y)):
    ...     loss.update(pair)
    ...     if loss.drift_detected:
    ...         print(f"Change detected at index {i}, log loss {loss.statistic:.2f}")
    ...         break
    Change detected at index 1149, log loss 0.60

    """

    kind = "log_loss"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

    def __init__(
        self,
        *,
        window: int = 500,
        threshold: float = math.log(2.0),
        eps: float = 1e-15,
        min_samples: int | None = None,
    ) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf)
        self.eps = check_real("eps", eps, 0.0, 0.5, low_open=True)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    def _store(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = np.clip(p, self.eps, 1.0 - self.eps)
        loss: np.ndarray = -np.where(y == 1.0, np.log(p), np.log1p(-p))
        return loss

    def _compute(self, name: str) -> float:
        return float(np.mean(self._buffer.values()))


class RollingBrier(_ProbabilityDetector):
    """Brier score (mean squared error of the probability) of the last ``window`` labelled pairs.

    Fed ``(p, y)`` pairs as :class:`RollingROCAUC`; stores ``(p - y) ** 2`` per pair.

    Parameters
    ----------
    window
        Number of most recent labelled pairs.
    threshold
        Drift when ``statistic > threshold``; 0.25 (a constant 0.5 forecast) by default.
    min_samples
        No drift is signalled with fewer labelled pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingBrier

    >>> rng = np.random.default_rng(8)
    >>> y = rng.integers(0, 2, size=2000)
    >>> signal = np.where(np.arange(2000) < 1000, 2.0, 0.3)
    >>> p = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=2000))))
    >>> brier = RollingBrier(window=200, threshold=0.2)
    >>> for i, pair in enumerate(zip(p, y)):
    ...     brier.update(pair)
    ...     if brier.drift_detected:
    ...         print(f"Change detected at index {i}, Brier {brier.statistic:.3f}")
    ...         break
    Change detected at index 1141, Brier 0.201

    """

    kind = "brier"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

    def __init__(self, *, window: int = 500, threshold: float = 0.25, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf)  # inf: never fires
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    def _store(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        squared: np.ndarray = (p - y) ** 2
        return squared

    def _compute(self, name: str) -> float:
        return float(np.mean(self._buffer.values()))


class RollingECE(_ProbabilityDetector):
    r"""Expected calibration error of the last ``window`` labelled probability predictions.

    Fed ``(p, y)`` pairs as :class:`RollingROCAUC`. The probabilities are cut into ``bins``
    equal-width bins over [0, 1] (the last one closed); ``statistic`` is
    :math:`\sum_b \frac{n_b}{n} |\bar y_b - \bar p_b|`, the gap between predicted and observed
    frequency weighted by the bin's share. ``max_gap`` is the largest gap of a bin holding at
    least ``n / (2 bins)`` pairs (the maximum calibration error, without sparse bins).

    Parameters
    ----------
    window
        Number of most recent labelled pairs.
    bins
        Number of probability bins.
    threshold
        Drift when ``statistic > threshold``; 0.1 by default. On ``n`` pairs a calibrated model
        scores about ``sqrt(bins / (2 pi n))`` by sampling noise alone (0.06 for 10 bins and 500
        pairs), so a threshold below that needs a larger window.
    min_samples
        No drift is signalled with fewer labelled pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingECE

    >>> rng = np.random.default_rng(6)
    >>> p = rng.random(4000)
    >>> truth = np.where(np.arange(4000) < 2000, p, p ** 3)   # the model turns over-confident
    >>> y = (rng.random(4000) < truth).astype(int)
    >>> ece = RollingECE(window=1000, threshold=0.1)
    >>> for i in range(0, 4000, 100):
    ...     ece.update_many(p[i : i + 100], y[i : i + 100])
    ...     if ece.drift_detected:
    ...         print(f"Change detected by index {i + 99}, ECE {ece.statistic:.3f}")
    ...         break
    Change detected by index 2499, ECE 0.118

    """

    kind = "ece"
    statistics = ("statistic", "max_gap")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "max_gap": ">"}

    def __init__(
        self, *, window: int = 500, bins: int = 10, threshold: float = 0.1, min_samples: int | None = None
    ) -> None:
        self.window = check_window(window)
        self.bins = check_int("bins", bins, 1)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf)  # inf: never fires
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    def _compute(self, name: str) -> float:
        p, y = self._unpack()
        n = p.shape[0]
        which = np.minimum((p * self.bins).astype(np.int64), self.bins - 1)
        count = np.bincount(which, minlength=self.bins).astype(np.float64)
        gap = np.abs(
            np.bincount(which, weights=y, minlength=self.bins)
            - np.bincount(which, weights=p, minlength=self.bins)
        )
        if name == "statistic":
            return float(gap.sum() / n)
        dense = count >= n / (2.0 * self.bins)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_bin = np.where(dense, gap / count, 0.0)
        return float(per_bin.max())


# -- more regression metrics ----------------------------------------------------------------------


class RollingRMSE(_ErrorDetector):
    """Root mean squared error of the last ``window`` labelled numeric predictions.

    Fed ``(prediction, label)`` pairs of numbers as :class:`RollingMAE` (a pair whose error is
    NaN is skipped); stores the squared error.

    Parameters
    ----------
    threshold
        Drift when ``statistic > threshold``. Required: in the units of the target.
    window
        Number of most recent labelled pairs.
    min_samples
        No drift is signalled with fewer pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingRMSE

    >>> rng = np.random.default_rng(5)
    >>> labels = rng.normal(100, 10, size=1000)
    >>> noise = rng.normal(0, np.where(np.arange(1000) < 500, 1.0, 4.0))
    >>> rmse = RollingRMSE(threshold=2.0, window=100)
    >>> for i, pair in enumerate(zip(labels + noise, labels)):
    ...     rmse.update(pair)
    ...     if rmse.drift_detected:
    ...         print(f"Change detected at index {i}, RMSE {rmse.statistic:.2f}")
    ...         break
    Change detected at index 518, RMSE 2.04

    """

    kind = "rmse"
    statistics: ClassVar[tuple[str, ...]] = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

    def _error(self, prediction: np.ndarray, label: np.ndarray) -> np.ndarray:
        squared: np.ndarray = (prediction - label) ** 2
        return squared

    def _compute(self, name: str) -> float:
        return float(math.sqrt(np.mean(self._buffer.values())))


class RollingBias(RollingRMSE):
    """Mean error (prediction minus label) of the last ``window`` labelled numeric predictions.

    A model that drifts into systematically over- or under-estimating keeps a steady MAE long
    after its bias has moved. ``statistic`` is the absolute mean error, so one threshold covers
    both signs; ``mean_error`` keeps the sign (positive: the model over-estimates).

    Parameters
    ----------
    threshold
        Drift when ``statistic > threshold``. Required: in the units of the target.
    window
        Number of most recent labelled pairs.
    min_samples
        No drift is signalled with fewer pairs in the window; None means ``window``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RollingBias

    >>> rng = np.random.default_rng(5)
    >>> labels = rng.normal(100, 10, size=1000)
    >>> offset = np.where(np.arange(1000) < 500, 0.0, -1.5)
    >>> bias = RollingBias(threshold=1.0, window=100)
    >>> for i, pair in enumerate(zip(labels + offset + rng.normal(0, 1, 1000), labels)):
    ...     bias.update(pair)
    ...     if bias.drift_detected:
    ...         print(f"Change detected at index {i}, mean error {bias.read('mean_error'):.2f}")
    ...         break
    Change detected at index 562, mean error -1.01

    """

    kind = "bias"
    statistics = ("statistic", "mean_error")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "mean_error": ">"}

    def _error(self, prediction: np.ndarray, label: np.ndarray) -> np.ndarray:
        error: np.ndarray = prediction - label
        return error

    def _compute(self, name: str) -> float:
        mean = float(np.mean(self._buffer.values()))
        return mean if name == "mean_error" else abs(mean)
