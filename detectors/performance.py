"""Model performance over the last ``window`` labelled predictions: accuracy and MAE."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from detectors.base import PairDetector, check_min_samples, check_real, check_window, is_missing

__all__ = ["RollingAccuracy", "RollingMAE"]


def _missing_mask(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.fromiter((is_missing(v) for v in values), dtype=bool, count=values.shape[0])
    return np.zeros(values.shape[0], dtype=bool)


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

    def __init__(self, *, window: int = 500, threshold: float = 0.5, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, 1.0)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._n_codes = 2  # 0 wrong, 1 correct
        self._reset()

    def _encode_one(self, prediction: Any, label: Any) -> Any:
        if is_missing(label):
            return None
        return int(bool(prediction == label))

    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        keep = ~_missing_mask(labels)
        p, y = predictions[keep], labels[keep]
        if (p.dtype.kind in "biuf" and y.dtype.kind in "biuf") or (
            p.dtype.kind in "U" and y.dtype.kind in "U"
        ):
            correct = p == y
        else:  # mixed or object dtypes: compare element by element, as update() does
            correct = np.fromiter(
                (bool(a == b) for a, b in zip(p.tolist(), y.tolist())), dtype=bool, count=p.shape[0]
            )
        return correct.astype(np.int64)

    def _compute(self, name: str) -> float:
        assert self._counts is not None
        return float(self._counts[1] / self._buffer._count)


class RollingMAE(PairDetector):
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
    input_kind = "regression"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

    def __init__(self, *, threshold: float, window: int = 500, min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._reset()

    def _encode_one(self, prediction: Any, label: Any) -> Any:
        if prediction is None or label is None:
            return None
        error = abs(float(prediction) - float(label))
        return None if math.isnan(error) else error

    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        errors = np.abs(np.asarray(predictions, dtype=np.float64) - np.asarray(labels, dtype=np.float64))
        return errors[~np.isnan(errors)]

    def _compute(self, name: str) -> float:
        # Summed oldest first on every read, so the value depends only on the window's contents.
        return float(np.mean(self._buffer.values()))
