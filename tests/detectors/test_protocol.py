"""The detector protocol (detectors/protocol.py): a detector written outside the package fits it."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import numpy as np
import pytest
from numpy.typing import ArrayLike

from detectors import Detector, UnivariateDetector
from detectors.base import check_min_samples, check_real, check_window
from detectors.protocol import (
    CountFed,
    Feed,
    Reading,
    ReferenceSample,
    TimeFed,
    ValueFed,
    is_value_fed,
)


class MeanShift(UnivariateDetector):
    """Distance of the window's mean from the reference's, in reference standard deviations.

    Not a pure sliding window (no ``_slides``): tests/detectors/test_sliding_skip.py lists every one of those.
    """

    kind = "test_mean_shift"
    input_kind = "numeric"
    feeds: ClassVar[Feed] = "values"
    statistics = ("statistic", "mean")
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "mean": ">"}

    def __init__(
        self,
        reference: ArrayLike,
        *,
        window: int = 100,
        threshold: float = 0.5,
        min_samples: int | None = None,
    ) -> None:
        self.window = check_window(window)
        self.reference = np.asarray(reference, dtype=np.float64)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._mu, self._sd = float(self.reference.mean()), float(self.reference.std())
        self._reset()

    def _encode_one(self, x: Any) -> Any:
        value = math.nan if x is None else float(x)
        return None if math.isnan(value) else value

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        kept: np.ndarray = array[~np.isnan(array)]
        return kept

    def _compute(self, name: str) -> float:
        mean = float(np.mean(self._buffer.values()))
        return mean if name == "mean" else abs(mean - self._mu) / self._sd


class Columns:
    """A reference held as columns with missing values (None: the prediction)."""

    def __init__(self, columns: dict[str | None, np.ndarray]) -> None:
        self.columns = columns

    def values(self, column: str | None) -> np.ndarray:
        values = self.columns[column]
        kept: np.ndarray = values[~np.isnan(values)]
        return kept

    def timestamps(self) -> np.ndarray:
        return np.arange(float(len(next(iter(self.columns.values())))))


def _reference() -> Columns:
    rng = np.random.default_rng(4)
    price = rng.normal(10.0, 2.0, 1000)
    price[::50] = np.nan
    return Columns({"price": price, None: rng.random(1000)})


def test_a_new_detector_satisfies_the_protocol_and_builds() -> None:
    reference = _reference()
    assert isinstance(reference, ReferenceSample)
    det = MeanShift.build({"window": 50, "threshold": 0.8}, reference, column="price")
    assert isinstance(det, Reading) and isinstance(det, ValueFed) and is_value_fed(det)
    assert not isinstance(det, TimeFed) and not isinstance(det, CountFed)
    assert det.feeds == "values" and not det.reads_missing and det.takes_reference and det.ready
    assert det.reference.shape == (980,)  # the column without its missing values
    assert det.keeps_last is None  # it needs every value of a batch

    rng = np.random.default_rng(5)
    stream = rng.normal(np.repeat([10.0, 12.0], 200), 2.0)
    alarm = None
    for i in range(0, 400, 20):
        det.update_many(stream[i : i + 20])
        if det.drift_detected and alarm is None:
            alarm = i + 19
    assert alarm is not None and alarm >= 200  # the shift of one standard deviation, found after it began
    assert det.read("mean") == pytest.approx(np.mean(stream[-50:]))


def test_a_new_detector_checkpoints_without_its_reference() -> None:
    reference = _reference()
    det = MeanShift.build({"window": 50}, reference, column="price")
    rng = np.random.default_rng(6)
    det.update_many(rng.normal(10.0, 2.0, 70))
    snap = json.loads(json.dumps(det.snapshot(omit=("reference",))))
    params = {**snap["params"], "reference": reference.values("price")}
    restored = Detector.restore({**snap, "params": params})
    assert isinstance(restored, MeanShift)
    more = rng.normal(11.0, 2.0, 30)
    det.update_many(more)
    restored.update_many(more)
    assert restored.snapshot() == det.snapshot()
    assert [restored.read(s) for s in MeanShift.statistics] == [det.read(s) for s in MeanShift.statistics]


def test_building_a_new_detector_without_enough_reference_is_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"^MeanShift is built on a reference sample of column 'price', and"):
        MeanShift.build({}, None, column="price")
    sparse = Columns({None: np.array([1.0, np.nan, np.nan])})
    with pytest.raises(ValueError, match=r"^MeanShift needs at least 2 reference values of the prediction "):
        MeanShift.build({}, sparse)
    with pytest.raises(ValueError, match="window"):
        MeanShift.build({"window": 1}, _reference(), column="price")


def test_a_detector_class_must_name_its_feed() -> None:
    with pytest.raises(TypeError, match=r"Unfed\.feeds must be one of"):

        class Unfed(Detector):  # a kind, but no feeds: the service could not feed it
            kind = "test_unfed"
            input_kind = "numeric"
            statistics = ("statistic",)
            fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

            def _compute(self, name: str) -> float:
                return 0.0


def test_protocols_tell_the_feeds_apart() -> None:
    # Run-time checks see the members' names (mypy checks their signatures, in detectors/__init__.py).
    det = MeanShift(np.arange(10.0), window=5)
    assert isinstance(det, ValueFed)
    assert not isinstance(det, TimeFed)  # no observe_time, now, last_record
    assert not isinstance(det, CountFed)  # no add_counts
