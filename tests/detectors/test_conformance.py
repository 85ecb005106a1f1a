"""Every detector in REGISTRY keeps the common contract (after river's checks/common.py)."""

from __future__ import annotations

import doctest
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import detectors
from detectors import REGISTRY, Detector, PairDetector

Columns = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Case:
    make: Callable[..., Detector]
    stream: Callable[[np.random.Generator, int], Columns]
    # (constructor keyword arguments, name of the parameter the error must name)
    bad_args: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def _numbers(rng: np.random.Generator, size: int) -> Columns:
    x = np.round(rng.normal(np.where(np.arange(size) < size // 2, 0.0, 1.5), 1.0), 1)  # ties on purpose
    x[rng.random(size) < 0.03] = np.nan
    return (x,)


def _categories(rng: np.random.Generator, size: int) -> Columns:
    values = rng.choice(
        np.array(["a", "b", "c", "new", None], dtype=object), size, p=[0.5, 0.3, 0.15, 0.03, 0.02]
    )
    return (values,)


def _classes(rng: np.random.Generator, size: int) -> Columns:
    classes = rng.integers(0, 3, size)
    accuracy = np.where(np.arange(size) < size // 2, 0.9, 0.4)
    predictions = np.where(rng.random(size) < accuracy, classes, rng.integers(0, 3, size))
    labels = classes.astype(float)
    labels[rng.random(size) < 0.05] = np.nan  # label not arrived
    return predictions, labels


def _values(rng: np.random.Generator, size: int) -> Columns:
    labels = rng.normal(10.0, 3.0, size)
    predictions = labels + rng.normal(0.0, np.where(np.arange(size) < size // 2, 1.0, 3.0))
    predictions[rng.random(size) < 0.03] = np.nan
    return predictions, labels


_REF = np.random.default_rng(0).normal(size=400)
_CAT_REF = np.random.default_rng(1).choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2])

_COMMON_BAD = [
    ({"window": 1}, "window"),
    ({"window": 2.5}, "window"),
    ({"min_samples": 0}, "min_samples"),
    ({"min_samples": 51}, "min_samples"),
    ({"threshold": math.nan}, "threshold"),
]

CASES: dict[str, Case] = {
    "ks": Case(
        lambda **kw: detectors.KSDrift(kw.pop("reference", _REF), **{"window": 50, **kw}),
        _numbers,
        [
            *_COMMON_BAD,
            ({"threshold": 0}, "threshold"),
            ({"threshold": 1.5}, "threshold"),
            ({"reference": []}, "reference"),
            ({"reference": [np.nan]}, "reference"),
            ({"reference": ["x"]}, "reference"),
        ],
    ),
    "psi": Case(
        lambda **kw: detectors.PSIDrift(kw.pop("reference", _REF), **{"window": 50, "bins": 5, **kw}),
        _numbers,
        [
            *_COMMON_BAD,
            ({"threshold": 0}, "threshold"),
            ({"bins": 1}, "bins"),
            ({"bins": True}, "bins"),
            ({"eps": 0}, "eps"),
            ({"reference": []}, "reference"),
        ],
    ),
    "chi_square": Case(
        lambda **kw: detectors.ChiSquareDrift(kw.pop("reference", _CAT_REF), **{"window": 50, **kw}),
        _categories,
        [
            *_COMMON_BAD,
            ({"threshold": -1.0}, "threshold"),
            ({"eps": 1.5}, "eps"),
            ({"reference": [None]}, "reference"),
            ({"reference": [{"a": 1}]}, "reference"),
        ],
    ),
    "accuracy": Case(
        lambda **kw: detectors.RollingAccuracy(**{"window": 50, "threshold": 0.6, **kw}),
        _classes,
        [*_COMMON_BAD, ({"threshold": 1.5}, "threshold"), ({"threshold": "high"}, "threshold")],
    ),
    "mae": Case(
        lambda **kw: detectors.RollingMAE(**{"window": 50, "threshold": 2.0, **kw}),
        _values,
        [*_COMMON_BAD, ({"threshold": -1.0}, "threshold")],
    ),
}

KINDS = sorted(REGISTRY)


def _feed_loop(det: Detector, columns: Columns, lo: int, hi: int) -> None:
    for i in range(lo, hi):
        det.update(tuple(c[i] for c in columns) if isinstance(det, PairDetector) else columns[0][i])


def _feed_batch(det: Detector, columns: Columns, lo: int, hi: int) -> None:
    det.update_many(*(c[lo:hi] for c in columns))


def _chunks(rng: np.random.Generator, total: int, longest: int) -> list[tuple[int, int]]:
    bounds, lo = [], 0
    while lo < total:
        hi = min(total, lo + int(rng.integers(0, longest + 1)))
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _outputs(det: Detector) -> dict[str, Any]:
    out: dict[str, Any] = {name: det.read(name) for name in det.statistics}
    out.update(drift=det.drift_detected, n=det.n, n_seen=det.n_seen, threshold=det.threshold)
    return out


def _assert_same_outputs(a: Detector, b: Detector) -> None:
    out_a, out_b = _outputs(a), _outputs(b)
    assert out_a.keys() == out_b.keys()
    for key, value in out_a.items():
        other = out_b[key]
        if isinstance(value, float) and math.isnan(value):
            assert isinstance(other, float) and math.isnan(other), key
        else:
            assert value == other, key


def test_every_kind_has_a_case() -> None:
    assert set(CASES) == set(REGISTRY)


@pytest.mark.parametrize("kind", KINDS)
def test_class_attributes(kind: str) -> None:
    cls = REGISTRY[kind]
    det = CASES[kind].make()
    assert cls.kind == kind
    assert cls.input_kind in ("numeric", "categorical", "classification", "regression")
    assert cls.statistics[0] == "statistic"
    assert set(cls.fires_when) == set(cls.statistics)
    assert set(cls.fires_when.values()) <= {">", "<"}
    assert cls.direction == ("above" if cls.fires_when["statistic"] == ">" else "below")
    assert isinstance(det.threshold, float)
    assert math.isnan(det.statistic) and not det.drift_detected and det.n == det.n_seen == 0


@pytest.mark.parametrize("kind", KINDS)
def test_docstring_example_runs(kind: str) -> None:
    cls = REGISTRY[kind]
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(cls) if t.examples]
    assert tests, f"{cls.__name__} has no Examples section"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_statistic_is_named(kind: str) -> None:
    with pytest.raises(ValueError, match="no_such_statistic"):
        CASES[kind].make().read("no_such_statistic")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(4))
def test_update_many_equals_loop(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = CASES[kind].stream(rng, 700)
    looped, batched = CASES[kind].make(), CASES[kind].make()
    for lo, hi in _chunks(rng, 700, longest=160):  # batches up to three windows long
        _feed_loop(looped, columns, lo, hi)
        _feed_batch(batched, columns, lo, hi)
        if rng.random() < 0.3:  # reading must not disturb the state
            _assert_same_outputs(looped, batched)
    assert looped.snapshot() == batched.snapshot()
    _assert_same_outputs(looped, batched)
    assert looped.n_seen > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(3))
def test_snapshot_restore_round_trip(kind: str, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    columns = CASES[kind].stream(rng, 600)
    original = CASES[kind].make()
    split = int(rng.integers(0, 300))
    _feed_batch(original, columns, 0, split)

    restored = Detector.restore(json.loads(json.dumps(original.snapshot())))
    assert type(restored) is type(original)
    assert (
        type(restored).restore(json.loads(json.dumps(original.snapshot()))).snapshot() == original.snapshot()
    )
    _assert_same_outputs(original, restored)
    for lo, hi in _chunks(rng, 600 - split, longest=60):
        feed = _feed_loop if rng.random() < 0.5 else _feed_batch
        feed(original, columns, split + lo, split + hi)
        feed(restored, columns, split + lo, split + hi)
        _assert_same_outputs(original, restored)
    assert original.snapshot() == restored.snapshot()


def test_restore_rejects_unknown_class_and_wrong_subclass() -> None:
    snap = CASES["ks"].make().snapshot()
    with pytest.raises(ValueError, match="NoSuchDetector"):
        Detector.restore({**snap, "class": "NoSuchDetector"})
    with pytest.raises(TypeError, match="KSDrift"):
        detectors.PSIDrift.restore(snap)


@pytest.mark.parametrize(
    ("kind", "kwargs", "param"),
    [(kind, kwargs, param) for kind in KINDS for kwargs, param in CASES[kind].bad_args],
)
def test_bad_constructor_argument_names_the_parameter(kind: str, kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{param}\b"):
        CASES[kind].make(**kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_constructor_arguments_are_public_attributes(kind: str) -> None:
    det = CASES[kind].make()
    for name in det.snapshot()["params"]:
        assert hasattr(det, name)
    assert det.window == 50 and det.min_samples == 50
