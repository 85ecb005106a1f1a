"""Error-stream detectors: river's DDM, EDDM, HDDM_A, HDDM_W in our shape, at river's alarm positions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from river.drift import binary

from detectors import DDM, EDDM, HDDM_A, HDDM_W, Detector

PAIRS = [
    (DDM, binary.DDM, {}),
    (DDM, binary.DDM, {"warm_start": 100, "drift_threshold": 4.0}),
    (EDDM, binary.EDDM, {}),
    (HDDM_A, binary.HDDMA, {}),
    (HDDM_A, binary.HDDMA, {"two_sided_test": True}),
    (HDDM_W, binary.HDDMW, {}),
    (HDDM_W, binary.HDDMW, {"two_sided_test": True, "lambda_val": 0.1}),
]


def _errors(seed: int) -> np.ndarray:
    """An error stream whose rate goes 10% -> 30% -> 5% -> 20%."""
    rng = np.random.default_rng(seed)
    rate = np.repeat([0.1, 0.3, 0.05, 0.2], 1500)
    return rng.random(rate.shape[0]) < rate


@pytest.mark.parametrize(("ours", "theirs", "params"), PAIRS)
@pytest.mark.parametrize("seed", range(2))
def test_fires_where_river_does(ours: type[Detector], theirs: type, params: dict, seed: int) -> None:
    errors = _errors(seed)
    river_det = theirs(**params)
    expected = []
    for i, e in enumerate(errors.tolist()):
        river_det.update(e)
        if river_det.drift_detected:
            expected.append(i)
    det = ours(**params)
    det.update_many(
        errors.astype(int), np.zeros(errors.shape[0], dtype=int)
    )  # error 1 = prediction 1, label 0
    assert det.alarms == expected and expected
    assert det.read("warning") == float(river_det.warning_detected)


def test_pairs_become_errors_and_missing_labels_are_skipped() -> None:
    preds = np.array(["a", "b", None, "a", "c"], dtype=object)
    labels = np.array(["a", "a", "b", None, "c"], dtype=object)
    det = DDM()
    det.update_many(preds, labels)
    assert det.n_seen == 4  # the pair without a label is skipped
    assert det.statistic == pytest.approx(2 / 4)  # "b" != "a", a missing prediction is an error
    looped = DDM()
    for pair in zip(preds, labels, strict=True):
        looped.update(pair)
    assert looped.snapshot() == det.snapshot()
    with pytest.raises(ValueError, match="same length"):
        det.update_many([1, 2], [1])


def test_snapshot_holds_no_code_and_rejects_foreign_objects() -> None:
    det = HDDM_W()
    det.update_many(_errors(3).astype(int), np.zeros(6000, dtype=int))
    snap = json.loads(json.dumps(det.snapshot()))
    restored = Detector.restore(snap)
    tail = _errors(4)[:2000].astype(int)
    det.update_many(tail, np.zeros(2000, dtype=int))
    restored.update_many(tail, np.zeros(2000, dtype=int))
    assert restored.alarms == det.alarms and restored.snapshot() == det.snapshot()
    snap["state"]["run"]["river"]["_total"]["object"] = "os.system"
    with pytest.raises(ValueError, match="not allowed"):
        Detector.restore(snap)


def test_warning_precedes_the_alarm() -> None:
    det = DDM()
    errors = _errors(5)[:3000]
    warned = False
    for e in errors:
        det.update((int(e), 0))
        warned = warned or det.read("warning") == 1.0
        if det.drift_detected:
            break
    assert det.drift_detected and warned
