"""Change detection on a classifier's error stream: DDM, EDDM, HDDM_A, HDDM_W (river's, in our shape).

These detectors watch the stream of errors of a classifier whose labels arrive (late or not) and
raise an alarm when the error rate rises. They are river's ``drift.binary`` detectors, driven
value by value (river's are pure Python; their cost is about a microsecond per value), wrapped in
the shape of :mod:`detectors.sequential`: ``update`` / ``update_many``, ``alarms``,
``drift_detected`` for the last value, snapshots.

Input: ``(prediction, label)`` pairs, like the performance detectors, so the engine feeds them
what it already joins. The error is ``prediction != label``; a pair whose label is missing
(None or NaN) is skipped, a missing prediction counts as an error. A caller with a ready 0/1
error stream passes it against a label of all zeros, ``update_many(errors, np.zeros_like(errors))``:
an error of 1 is then a prediction of 1 against a label of 0.

Statistics: ``statistic`` is the error rate the detector estimates since its last reset (HDDM_W:
its exponentially weighted error rate), ``warning`` is 1 while the detector is in its warning zone
(DDM, EDDM, HDDM_A, HDDM_W all have one), and ``n_alarms`` / ``since_alarm`` as for every
sequential detector. ``threshold`` is the detector's own level parameter (named in each class),
given for information: the alarm is the detector's decision, read from ``drift_detected``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from detectors.base import PairDetector, _pair_arrays, check_int, check_real
from detectors.performance import _correct_many, _correct_one
from detectors.protocol import Feed
from detectors.sequential import _COMMON_FIRES_WHEN, _COMMON_STATISTICS, SequentialDetector

__all__ = ["DDM", "EDDM", "HDDM_A", "HDDM_W"]


def _river_class(name: str) -> Any:
    from river.drift import binary

    return getattr(binary, name)


# -- snapshots of river objects: their attributes, for an allow-list of classes ----------------


def _allowed() -> dict[str, Any]:
    from river import stats
    from river.drift.binary.hddm_w import SampleInfo

    return {
        "river.stats.mean.Mean": stats.Mean,
        "river.stats.var.Var": stats.Var,
        "river.stats.ewmean.EWMean": stats.EWMean,
        "river.drift.binary.hddm_w.SampleInfo": SampleInfo,
    }


def _dump(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    kind = type(value)
    if kind.__name__ == "RsEWMean":  # river's compiled EW mean serialises itself
        return {"rust": "RsEWMean", "state": base64.b64encode(bytes(value.__getstate__())).decode()}
    name = f"{kind.__module__}.{kind.__qualname__}"
    if name not in _allowed():
        raise TypeError(f"cannot snapshot a {name}")
    return {"object": name, "attrs": {k: _dump(v) for k, v in vars(value).items()}}


def _load(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "float" in value:
        return float(value["float"])
    if value.get("rust") == "RsEWMean":
        from river._river_rust.stats import RsEWMean

        obj = RsEWMean(0.5)
        obj.__setstate__(base64.b64decode(value["state"]))
        return obj
    cls = _allowed().get(value.get("object", ""))
    if cls is None:
        raise ValueError(f"snapshot names an object that is not allowed: {value.get('object')!r}")
    obj = cls.__new__(cls)
    for k, v in value["attrs"].items():
        setattr(obj, k, _load(v))
    return obj


class _ErrorStreamDetector(SequentialDetector, PairDetector):
    input_kind = "classification"
    feeds: ClassVar[Feed] = "pairs"  # SequentialDetector, first in the order, is fed values
    statistics = ("statistic", "warning", *_COMMON_STATISTICS)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "warning": ">", **_COMMON_FIRES_WHEN}
    _river_name: ClassVar[str]

    def _restart(self) -> None:
        params = {name: getattr(self, name) for name in self._param_names()}
        self._river = _river_class(self._river_name)(**params)
        self._count = 0

    @property
    def n(self) -> int:
        """Values since the last reset."""
        return self._count

    # -- input: (prediction, label) pairs ---------------------------------------------------------

    def update(self, pair: tuple[Any, Any]) -> None:
        """Feed one ``(prediction, label)`` pair (skipped when the label is missing)."""
        prediction, label = pair
        code = self._encode_one(prediction, label)
        if code is not None:
            self._feed(np.array([code], dtype=np.float64))

    def update_many(self, predictions: ArrayLike, labels: ArrayLike) -> None:  # type: ignore[override]
        """Feed pairs given as two arrays of equal length; same final state as the loop."""
        self._feed(self._encode_many(*_pair_arrays(predictions, labels)).astype(np.float64))

    def _encode_one(self, prediction: Any, label: Any) -> Any:
        correct = _correct_one(prediction, label)
        return None if correct is None else int(not correct)

    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return (~_correct_many(predictions, labels)).astype(np.int64)

    # -- running ----------------------------------------------------------------------------------

    def _run(self, x: np.ndarray) -> int | None:
        river = self._river
        update = river.update
        for i, error in enumerate(x.astype(np.int64).tolist()):
            update(error)
            if river._drift_detected:
                self._count += i + 1
                return i
        self._count += x.shape[0]
        return None

    def _compute(self, name: str) -> float:
        if self._count == 0:
            return math.nan
        if name == "warning":
            return 1.0 if self._river.warning_detected else 0.0
        return float(self._error_rate())

    def _error_rate(self) -> float:
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        river = {k: _dump(v) for k, v in vars(self._river).items() if not callable(v)}
        return {"count": self._count, "river": river}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self._count = int(state["count"])
        for k, v in state["river"].items():
            if not hasattr(self._river, k):
                raise ValueError(f"snapshot of {type(self).__name__} sets an unknown attribute {k!r}")
            setattr(self._river, k, _load(v))


class DDM(_ErrorStreamDetector):
    r"""Drift Detection Method (Gama et al. 2004), river's ``DDM``.

    Tracks the error rate :math:`p_i` and its standard deviation :math:`s_i = \sqrt{p_i(1-p_i)/i}`
    since the last reset, remembers the minimum of :math:`p_i + s_i`, and raises an alarm when
    :math:`p_i + s_i > p_{min} + 3 s_{min}` (``drift_threshold``), a warning above
    ``warning_threshold`` standard deviations. Suited to abrupt rises of the error rate.

    Parameters
    ----------
    warm_start
        Values before the detector may signal.
    warning_threshold
        Standard deviations above the minimum for a warning.
    drift_threshold
        Standard deviations above the minimum for an alarm (this is ``threshold``).

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import DDM

    >>> rng = np.random.default_rng(42)
    >>> labels = rng.integers(0, 2, 2000)
    >>> wrong = rng.random(2000) < np.where(np.arange(2000) < 1000, 0.1, 0.4)
    >>> predictions = np.where(wrong, 1 - labels, labels)
    >>> ddm = DDM()
    >>> for i, pair in enumerate(zip(predictions, labels)):
    ...     ddm.update(pair)
    ...     if ddm.drift_detected:
    ...         print(f"Change detected at index {i}")
    Change detected at index 432
    Change detected at index 1017

    The first alarm is a false one: DDM's minimum is noisy early on (river gives the same).

    """

    kind = "ddm"
    _river_name = "DDM"

    def __init__(
        self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0
    ) -> None:
        self.warm_start = check_int("warm_start", warm_start, 0)
        self.warning_threshold = check_real(
            "warning_threshold", warning_threshold, 0.0, math.inf, low_open=True
        )
        self.drift_threshold = check_real("drift_threshold", drift_threshold, 0.0, math.inf, low_open=True)
        if self.warning_threshold > self.drift_threshold:
            raise ValueError(
                f"warning_threshold must not exceed drift_threshold ({self.drift_threshold}), "
                f"got {warning_threshold!r}"
            )
        self.threshold = self.drift_threshold
        self._reset()

    def _error_rate(self) -> float:
        return float(self._river._p.get())


class EDDM(_ErrorStreamDetector):
    r"""Early Drift Detection Method (Baena-García et al. 2006), river's ``EDDM``.

    Watches the distance between consecutive errors: with :math:`p'` and :math:`s'` their mean and
    standard deviation, an alarm is raised when :math:`(p' + 2s') / \max(p' + 2s') < \beta`, a
    warning below :math:`\alpha`. Better than DDM at slow, gradual rises of the error rate.

    Parameters
    ----------
    warm_start
        Errors (and values) needed before the detector may signal.
    alpha
        Warning level of the ratio.
    beta
        Alarm level of the ratio (this is ``threshold``); at most ``alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import EDDM

    >>> rng = np.random.default_rng(42)
    >>> errors = rng.random(3000) < np.where(np.arange(3000) < 1500, 0.05, 0.3)
    >>> eddm = EDDM()
    >>> eddm.update_many(errors, np.zeros(3000, dtype=bool))
    >>> eddm.alarms[:3]
    [642, 1531, 1628]

    EDDM is sensitive: one false alarm at 642, then it keeps signalling the higher error rate.

    """

    kind = "eddm"
    _river_name = "EDDM"

    def __init__(self, warm_start: int = 30, alpha: float = 0.95, beta: float = 0.9) -> None:
        self.warm_start = check_int("warm_start", warm_start, 0)
        self.alpha = check_real("alpha", alpha, 0.0, 1.0, low_open=True)
        self.beta = check_real("beta", beta, 0.0, 1.0, low_open=True)
        if self.beta > self.alpha:
            raise ValueError(f"beta must be at most alpha ({self.alpha}), got {beta!r}")
        self.threshold = self.beta
        self._reset()

    def _error_rate(self) -> float:
        return self._river._n_errors / self._river._n if self._river._n else math.nan


class _HDDM(_ErrorStreamDetector):
    """The two Hoeffding detectors: a drift and a warning confidence, the first being ``threshold``."""

    drift_confidence: float
    warning_confidence: float

    def _init_confidences(self, drift_confidence: Any, warning_confidence: Any) -> None:
        self.drift_confidence = check_real("drift_confidence", drift_confidence, 0.0, 1.0, low_open=True)
        self.warning_confidence = check_real(
            "warning_confidence", warning_confidence, 0.0, 1.0, low_open=True
        )
        if self.warning_confidence < self.drift_confidence:
            raise ValueError(
                f"warning_confidence must be at least drift_confidence ({self.drift_confidence}), "
                f"got {warning_confidence!r}"
            )


class HDDM_A(_HDDM):
    r"""Hoeffding drift detection on averages (Frías-Blanco et al. 2015), river's ``HDDMA``.

    Compares the mean error since the last reset with the mean up to the cut point that minimises
    it, with a Hoeffding bound at confidence ``drift_confidence`` (this is ``threshold``); a
    warning at ``warning_confidence``. ``two_sided_test`` also signals a fall of the error rate.

    Parameters
    ----------
    drift_confidence
        Confidence level of the alarm test.
    warning_confidence
        Confidence level of the warning test; at least ``drift_confidence``.
    two_sided_test
        Also signal decreases of the error rate.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import HDDM_A

    >>> rng = np.random.default_rng(42)
    >>> errors = rng.random(3000) < np.where(np.arange(3000) < 1500, 0.1, 0.3)
    >>> hddm = HDDM_A()
    >>> hddm.update_many(errors, np.zeros(3000, dtype=bool))
    >>> hddm.alarms
    [1627]

    """

    kind = "hddm_a"
    _river_name = "HDDMA"

    def __init__(
        self, drift_confidence: float = 0.001, warning_confidence: float = 0.005, two_sided_test: bool = False
    ) -> None:
        self._init_confidences(drift_confidence, warning_confidence)
        if not isinstance(two_sided_test, bool):
            # ValueError, not TypeError: the policy loader reports ValueErrors
            raise ValueError(f"two_sided_test must be True or False, got {two_sided_test!r}")
        self.two_sided_test = two_sided_test
        self.threshold = self.drift_confidence
        self._reset()

    def _error_rate(self) -> float:
        return float(self._river._z.get())


class HDDM_W(_HDDM):
    r"""Hoeffding drift detection on weighted averages (Frías-Blanco et al. 2015), river's ``HDDMW``.

    Like :class:`HDDM_A` on exponentially weighted moving averages (weight ``lambda_val`` on the
    newest value) with McDiarmid bounds; reacts faster to recent changes. ``statistic`` is the
    weighted error rate.

    Parameters
    ----------
    drift_confidence
        Confidence level of the alarm test (this is ``threshold``).
    warning_confidence
        Confidence level of the warning test; at least ``drift_confidence``.
    lambda_val
        Weight of the newest value in the moving averages, in (0, 1].
    two_sided_test
        Also signal decreases of the error rate.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import HDDM_W

    >>> rng = np.random.default_rng(42)
    >>> errors = rng.random(3000) < np.where(np.arange(3000) < 1500, 0.1, 0.3)
    >>> hddm = HDDM_W()
    >>> hddm.update_many(errors, np.zeros(3000, dtype=bool))
    >>> hddm.alarms
    [1653]

    """

    kind = "hddm_w"
    _river_name = "HDDMW"

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        lambda_val: float = 0.05,
        two_sided_test: bool = False,
    ) -> None:
        self._init_confidences(drift_confidence, warning_confidence)
        self.lambda_val = check_real("lambda_val", lambda_val, 0.0, 1.0, low_open=True)
        if not isinstance(two_sided_test, bool):
            # ValueError, not TypeError: the policy loader reports ValueErrors
            raise ValueError(f"two_sided_test must be True or False, got {two_sided_test!r}")
        self.two_sided_test = two_sided_test
        self.threshold = self.drift_confidence
        self._reset()

    def _error_rate(self) -> float:
        return float(self._river._total.ewma)
