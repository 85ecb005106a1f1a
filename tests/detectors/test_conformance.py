"""Every detector in REGISTRY keeps the common contract (after river's checks/common.py)."""

from __future__ import annotations

import doctest
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import detectors
from detectors import REGISTRY, TIME_REGISTRY, Detector, PairDetector
from detectors.base import is_missing
from detectors.protocol import (
    FEEDS,
    CountFed,
    PairFed,
    Reading,
    TimeFed,
    ValueFed,
    VectorFed,
    is_count_fed,
    is_pair_fed,
    is_time_fed,
    is_value_fed,
    is_vector_fed,
)

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

# Sequential and error-stream detectors (detectors/sequential.py, errorstream.py, evalue.py): no
# reference, no window/min_samples; their own bad arguments.
CASES.update(
    {
        "page_hinkley": Case(
            lambda **kw: detectors.PageHinkley(**{"threshold": 8.0, **kw}),
            _numbers,
            [({"threshold": 0}, "threshold"), ({"alpha": 1.5}, "alpha"), ({"mode": "sideways"}, "mode"),
             ({"min_instances": 0}, "min_instances"), ({"delta": -1.0}, "delta")],
        ),
        "cusum": Case(
            lambda **kw: detectors.CUSUM(**kw),
            _numbers,
            [({"threshold": 0}, "threshold"), ({"sigma": 0.0}, "sigma"), ({"k": -1}, "k"),
             ({"warmup": 1}, "warmup"), ({"mean": math.nan}, "mean")],
        ),
        "kswin": Case(
            lambda **kw: detectors.KSWIN(**{"window_size": 60, "stat_size": 20, "alpha": 0.01, **kw}),
            _numbers,
            [({"alpha": 0}, "alpha"), ({"window_size": 1}, "window_size"), ({"stat_size": 31}, "stat_size"),
             ({"seed": -1}, "seed"), ({"sampling": "python"}, "sampling")],
        ),
        "adwin": Case(
            lambda **kw: detectors.ADWIN(**{"clock": 8, **kw}),
            _numbers,
            [({"delta": 0}, "delta"), ({"delta": 1.0}, "delta"), ({"clock": 0}, "clock"),
             ({"grace_period": 0}, "grace_period")],
        ),
        "e_detector": Case(
            lambda **kw: detectors.EDetector(**{"alpha": 1e-3, "warmup": 30, "whiten": 50, **kw}),
            _numbers,
            [({"alpha": 0}, "alpha"), ({"shifts": []}, "shifts"), ({"shifts": [-1.0]}, "shifts"),
             ({"mode": "x"}, "mode"), ({"sigma": -1.0}, "sigma")],
        ),
        "bocpd": Case(
            lambda **kw: detectors.BOCPD(**{"expected_run_length": 200.0, "threshold": 0.9, **kw}),
            _numbers,
            [({"threshold": 1.0}, "threshold"), ({"min_run": 0}, "min_run")],
        ),
        "ddm": Case(
            lambda **kw: detectors.DDM(**{"warm_start": 20, **kw}),
            _classes,
            [({"warm_start": -1}, "warm_start"), ({"drift_threshold": 0}, "drift_threshold"),
             ({"warning_threshold": 4.0}, "warning_threshold")],
        ),
        "eddm": Case(
            lambda **kw: detectors.EDDM(**{"warm_start": 10, **kw}),
            _classes,
            [({"beta": 0.99}, "beta"), ({"alpha": 2.0}, "alpha"), ({"warm_start": 1.5}, "warm_start")],
        ),
        "hddm_a": Case(
            lambda **kw: detectors.HDDM_A(**kw),
            _classes,
            [({"drift_confidence": 0}, "drift_confidence"),
             ({"warning_confidence": 1e-4}, "warning_confidence"),
             ({"two_sided_test": 1}, "two_sided_test")],
        ),
        "hddm_w": Case(
            lambda **kw: detectors.HDDM_W(**{"two_sided_test": True, **kw}),
            _classes,
            [({"lambda_val": 0}, "lambda_val"), ({"drift_confidence": 2}, "drift_confidence"),
             ({"two_sided_test": "yes"}, "two_sided_test")],
        ),
    }
)

# Two-sample, categorical, performance, quality and multivariate detectors added with issue 3.


def _probabilities(rng: np.random.Generator, size: int) -> Columns:
    labels = rng.integers(0, 2, size).astype(float)
    skill = np.where(np.arange(size) < size // 2, 2.0, 0.2)
    p = np.round(1.0 / (1.0 + np.exp(-(skill * (2 * labels - 1) + rng.normal(size=size)))), 2)  # ties
    labels[rng.random(size) < 0.05] = np.nan  # label not arrived
    return p, labels


def _flags(rng: np.random.Generator, size: int) -> Columns:
    flags = (rng.random(size) < np.where(np.arange(size) < size // 2, 0.01, 0.2)).astype(object)
    flags[rng.random(size) < 0.02] = None
    return (flags,)


def _rows(rng: np.random.Generator, size: int) -> Columns:
    x = rng.normal(size=(size, 3))
    x[:, 1] = np.where(np.arange(size) < size // 2, x[:, 0] * 0.9 + x[:, 1] * 0.3, x[:, 1])
    x[rng.random(size) < 0.03, 2] = np.nan
    return (x,)


_ROWS_REF = np.random.default_rng(2).normal(size=(400, 3))
_ROWS_REF[:, 1] = _ROWS_REF[:, 0] * 0.9 + _ROWS_REF[:, 1] * 0.3
_NUMERIC_REF_BAD = [({"reference": []}, "reference"), ({"reference": ["x"]}, "reference")]
_WINDOW_BAD = [({"tumbling": 1}, "tumbling"), ({"horizon": 0}, "horizon"), ({"horizon": -1.0}, "horizon")]


def _numeric(cls: Callable[..., Detector], **defaults: Any) -> Callable[..., Detector]:
    return lambda **kw: cls(kw.pop("reference", _REF), **{"window": 50, **defaults, **kw})


CASES.update(
    {
        "anderson_darling": Case(
            _numeric(detectors.AndersonDarlingDrift),
            _numbers,
            [*_COMMON_BAD, *_NUMERIC_REF_BAD, *_WINDOW_BAD, ({"threshold": 0}, "threshold")],
        ),
        "wasserstein": Case(
            _numeric(detectors.WassersteinDrift),
            _numbers,
            [*_COMMON_BAD, *_NUMERIC_REF_BAD, *_WINDOW_BAD, ({"scale": "mad"}, "scale"),
             ({"reference": [1.0, 1.0]}, "reference")],
        ),
        "jensen_shannon": Case(
            _numeric(detectors.JensenShannonDrift, bins=5),
            _numbers,
            [*_COMMON_BAD, *_NUMERIC_REF_BAD, *_WINDOW_BAD, ({"bins": 1}, "bins"),
             ({"threshold": 1.5}, "threshold")],
        ),
        "psi_window": Case(
            _numeric(detectors.WindowedPSIDrift, bins=5, tumbling=True),
            _numbers,
            [*_COMMON_BAD, *_NUMERIC_REF_BAD, *_WINDOW_BAD, ({"bins": 1}, "bins"), ({"eps": 0.0}, "eps")],
        ),
        "ks_quantile": Case(
            _numeric(detectors.QuantileKSDrift, quantiles=64),
            _numbers,
            [*_COMMON_BAD, *_NUMERIC_REF_BAD, *_WINDOW_BAD, ({"quantiles": 1}, "quantiles")],
        ),
        "g_test": Case(
            lambda **kw: detectors.GTestDrift(kw.pop("reference", _CAT_REF), **{"window": 50, **kw}),
            _categories,
            [*_COMMON_BAD, ({"eps": 0}, "eps"), ({"reference": [None]}, "reference")],
        ),
        "psi_categorical": Case(
            lambda **kw: detectors.CategoricalPSIDrift(kw.pop("reference", _CAT_REF), **{"window": 50, **kw}),
            _categories,
            [*_COMMON_BAD, ({"threshold": 0}, "threshold"), ({"reference": []}, "reference")],
        ),
        "unseen_share": Case(
            lambda **kw: detectors.UnseenCategoryRate(kw.pop("reference", _CAT_REF), **{"window": 50, **kw}),
            _categories,
            [*_COMMON_BAD, ({"threshold": 1.5}, "threshold"), ({"reference": [{"a": 1}]}, "reference")],
        ),
        "precision": Case(
            lambda **kw: detectors.RollingPrecision(**{"window": 50, "positive": 1, **kw}),
            _classes,
            [*_COMMON_BAD, ({"positive": None}, "positive"), ({"threshold": 2.0}, "threshold")],
        ),
        "recall": Case(
            lambda **kw: detectors.RollingRecall(**{"window": 50, "positive": 2, **kw}),
            _classes,
            [*_COMMON_BAD, ({"positive": [1]}, "positive")],
        ),
        "roc_auc": Case(
            lambda **kw: detectors.RollingROCAUC(**{"window": 50, **kw}),
            _probabilities,
            [*_COMMON_BAD, ({"threshold": -0.1}, "threshold")],
        ),
        "log_loss": Case(
            lambda **kw: detectors.RollingLogLoss(**{"window": 50, **kw}),
            _probabilities,
            [*_COMMON_BAD, ({"eps": 0}, "eps"), ({"eps": 0.6}, "eps")],
        ),
        "brier": Case(
            lambda **kw: detectors.RollingBrier(**{"window": 50, **kw}),
            _probabilities,
            [*_COMMON_BAD, ({"threshold": -0.5}, "threshold")],
        ),
        "ece": Case(
            lambda **kw: detectors.RollingECE(**{"window": 50, "bins": 5, **kw}),
            _probabilities,
            [*_COMMON_BAD, ({"bins": 0}, "bins")],
        ),
        "rmse": Case(
            lambda **kw: detectors.RollingRMSE(**{"window": 50, "threshold": 2.0, **kw}),
            _values,
            [*_COMMON_BAD, ({"threshold": -1.0}, "threshold")],
        ),
        "bias": Case(
            lambda **kw: detectors.RollingBias(**{"window": 50, "threshold": 1.0, **kw}),
            _values,
            [*_COMMON_BAD, ({"threshold": -1.0}, "threshold")],
        ),
        "missing_rate": Case(
            lambda **kw: detectors.MissingRate(**{"window": 50, **kw}),
            _numbers,
            [*_COMMON_BAD, ({"threshold": 1.5}, "threshold")],
        ),
        "out_of_range": Case(
            lambda **kw: detectors.OutOfRangeRate(
                kw.pop("reference", _REF), **{"window": 50, "upper": 0.95, **kw}
            ),
            _numbers,
            [*_COMMON_BAD, *_NUMERIC_REF_BAD, ({"lower": 0.99}, "lower"), ({"upper": 2.0}, "upper")],
        ),
        "type_error_rate": Case(
            lambda **kw: detectors.TypeErrorRate(**{"window": 50, **kw}),
            _flags,
            [*_COMMON_BAD, ({"threshold": -0.5}, "threshold")],
        ),
        "pca_reconstruction": Case(
            lambda **kw: detectors.PCAReconstructionDrift(
                kw.pop("reference", _ROWS_REF), **{"window": 50, **kw}
            ),
            _rows,
            [*_COMMON_BAD, ({"reference": [1.0, 2.0]}, "reference"), ({"n_components": 3}, "n_components"),
             ({"variance": 0}, "variance"), ({"reference": [[1.0, 2.0]] * 3}, "reference")],
        ),
    }
)

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
    out.update(drift=det.drift_detected, n=det.n, n_seen=det.n_seen, threshold=det.threshold, ready=det.ready)
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
    if isinstance(det, detectors.SequentialDetector):  # no window to fill, nothing to compare with
        return
    assert det.window == 50 and det.min_samples == 50


def test_policy_kinds_match_the_detector_classes() -> None:
    # rules.kinds is the policy's copy of each kind (rules may not import detectors): keep them in step.
    import inspect

    from rules import KINDS as POLICY_KINDS

    for name, kind in POLICY_KINDS.items():
        cls = REGISTRY.get(name) or TIME_REGISTRY[name]
        # "time" kinds read timestamps against a clock; their classes take them as numbers
        assert (kind.input == cls.input_kind or (kind.input == "time" and hasattr(cls, "observe_time"))
                or (kind.input == "records" and hasattr(cls, "add_counts"))), name
        assert dict(kind.statistics) == dict(cls.fires_when), name
        signature = inspect.signature(cls.__init__).parameters
        for param in kind.params.values():
            assert param.name in signature, (name, param.name)
            default = signature[param.name].default
            if param.default is not None and default is not inspect.Parameter.empty:
                assert default == param.default, (name, param.name)


# -- the protocol the service relies on (detectors/protocol.py) -------------------------------------------
#
# The service builds every detector with ``build(params, reference, column=...)``, feeds it by its ``feeds``
# and reads it through ``Reading``; the tests below do exactly that, for every registered kind.


def _times(rng: np.random.Generator, size: int) -> Columns:
    """Record timestamps (one a second, then one every four; a few missing) and the clock after each."""
    gaps = rng.exponential(np.where(np.arange(size) < size // 2, 1.0, 4.0))
    ts = 1_000.0 + np.cumsum(gaps)
    now = ts + rng.exponential(2.0, size)  # the clock runs a little ahead of the records
    ts[rng.random(size) < 0.03] = np.nan
    return ts, now


TIME_CASES: dict[str, Case] = {
    "staleness": Case(lambda **kw: detectors.Staleness(**{"max_age": 6.0, **kw}), _times),
    "volume": Case(
        lambda **kw: detectors.VolumeDrift(**{"rate": 1.0, "interval": 60.0, "window": 500, **kw}), _times
    ),
}
ALL_CASES = {**CASES, **TIME_CASES}
ALL_KINDS = sorted(ALL_CASES)
ALL_CLASSES = {**REGISTRY, **TIME_REGISTRY}
PROTOCOLS: dict[str, type] = {
    "values": ValueFed, "pairs": PairFed, "counts": CountFed, "time": TimeFed, "vectors": VectorFed
}


class ColumnReference:
    """A model's reference as the service holds it: columns with missing values, and the timestamps."""

    def __init__(self, columns: dict[str | None, np.ndarray], ts: np.ndarray) -> None:
        self.columns, self.ts = columns, ts

    def values(self, column: str | None) -> np.ndarray:
        values = self.columns[column]
        return values[[not is_missing(v) for v in values.tolist()]]

    def timestamps(self) -> np.ndarray:
        return self.ts


# The case references with missing values put in; the prediction (column None) is categorical here.
REFERENCE = ColumnReference(
    {"x": np.insert(_REF, [0, 7, 300], np.nan), None: np.insert(_CAT_REF.astype(object), [5, 90], None)},
    np.arange(0.0, 800.0, 2.0),
)


def _column_of(cls: type[Detector]) -> str | None:
    return None if cls.input_kind == "categorical" else "x"


def _case_params(kind: str) -> dict[str, Any]:
    """The constructor parameters of a case's detector, as a policy entry would give them."""
    return dict(ALL_CASES[kind].make().snapshot(omit=("reference",))["params"])


def _build(kind: str) -> Detector:
    """The case's detector, built as the service builds it."""
    cls = ALL_CLASSES[kind]
    if cls.feeds == "vectors":  # no reference sample gives rows (see test_vector_fed_is_not_built)
        return ALL_CASES[kind].make()
    return cls.build(_case_params(kind), REFERENCE, column=_column_of(cls))


def _feed(det: Reading, columns: Columns, lo: int, hi: int) -> None:
    """Feed rows ``lo:hi`` of a case's stream the way the service does: by ``feeds`` alone."""
    if is_value_fed(det):
        values = columns[0][lo:hi]
        if not det.reads_missing:
            values = values[[not is_missing(v) for v in values.tolist()]]
        det.update_many(values)
    elif is_pair_fed(det):
        det.update_many(columns[0][lo:hi], columns[1][lo:hi])
    elif is_count_fed(det):
        flags = [v for v in columns[0][lo:hi].tolist() if not is_missing(v)]
        det.add_counts(ok=flags.count(False), errors=flags.count(True))
    elif is_time_fed(det):
        ts, now = columns
        det.update_many(ts[lo:hi])
        if hi > lo:
            det.observe_time(max(float(now[hi - 1]), det.now))
    else:
        assert is_vector_fed(det)
        det.update_many(columns[0][lo:hi])


def test_every_time_kind_has_a_case() -> None:
    assert set(TIME_CASES) == set(TIME_REGISTRY)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_satisfies_the_protocol_its_feeds_names(kind: str) -> None:
    cls = ALL_CLASSES[kind]
    det = _build(kind)
    assert cls.feeds in FEEDS and cls.kind == kind
    assert isinstance(det, Reading) and isinstance(det, PROTOCOLS[cls.feeds])
    assert cls.reads_missing is (kind == "missing_rate")
    assert cls.takes_reference is ("reference" in inspect.signature(cls).parameters)
    assert det.ready is (kind != "volume")  # a rate needs one whole interval of time first
    assert isinstance(det.snapshot(omit=("reference",)), dict)
    if is_value_fed(det):
        assert det.keeps_last is None or det.keeps_last == getattr(det, "window", None)
    if is_time_fed(det):
        assert det.now == det.last_record == -math.inf


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_build_makes_the_detector_the_constructor_makes(kind: str) -> None:
    cls = ALL_CLASSES[kind]
    if cls.feeds == "vectors":
        return
    built = _build(kind)
    assert type(built) is cls
    assert built.snapshot() == ALL_CASES[kind].make().snapshot()
    if cls.takes_reference:
        with pytest.raises(ValueError, match=rf"{cls.__name__} is built on a reference sample.* none was"):
            cls.build(_case_params(kind), None, column=_column_of(cls))
        columns = {"x": np.array([0.5, np.nan]), None: np.array(["a", None], dtype=object)}
        one = ColumnReference(columns, REFERENCE.ts)
        with pytest.raises(ValueError, match=r"needs at least 2 reference values .*the reference has 1\."):
            cls.build(_case_params(kind), one, column=_column_of(cls))
    else:
        assert cls.build(_case_params(kind), None).snapshot() == built.snapshot()


def test_volume_is_built_on_the_reference_rate() -> None:
    params = {"interval": 60.0, "window": 500}
    volume = TIME_REGISTRY["volume"].build(params, REFERENCE)
    assert isinstance(volume, detectors.VolumeDrift) and volume.rate == pytest.approx(0.5)
    expected = detectors.VolumeDrift.from_reference(REFERENCE.timestamps(), **params)
    assert volume.snapshot() == expected.snapshot()
    with pytest.raises(ValueError, match="no reference was given; give one, or a rate"):
        TIME_REGISTRY["volume"].build(params, None)
    flat = ColumnReference({}, np.array([5.0, 5.0, np.nan]))
    with pytest.raises(ValueError, match="at least 2 distinct times; the reference has 1"):
        TIME_REGISTRY["volume"].build(params, flat)


def test_vector_fed_is_not_built_from_a_column_reference() -> None:
    with pytest.raises(ValueError, match="built on whole rows"):
        detectors.PCAReconstructionDrift.build({"window": 50}, REFERENCE, column="x")


def test_time_fed_keep_their_private_names_for_now() -> None:
    # The service still calls _ready() and _last_record(); they answer as ready and last_record.
    volume, stale = detectors.VolumeDrift(rate=1.0, interval=10.0), detectors.Staleness(max_age=5.0)
    for det in (volume, stale):
        assert det._ready() is det.ready and det._last_record() == det.last_record == -math.inf
        det.update_many([1.0, 4.0])
        det.observe_time(8.0)
        assert det._ready() is det.ready and det._last_record() == det.last_record == 4.0
    assert not volume.ready and stale.ready
    volume.observe_time(11.0)
    assert volume.ready and volume._ready()


# -- checkpoints as the service takes them: without the reference, put back on restore ---------------------
#
# Every kind, the time-fed ones too, is checkpointed with ``snapshot(omit=("reference",))`` and restored
# with the reference it was built on put back into ``params``; the restored detector must read and behave
# exactly as a twin that was never interrupted.

# Where the checkpoint is taken: half a window in (nothing reported yet) and three windows in.
_SPLITS = {"mid_window": 25, "window_full": 170}


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("split", sorted(_SPLITS))
def test_checkpoint_without_reference_restores_an_identical_detector(kind: str, split: str) -> None:
    rng = np.random.default_rng(200 + ALL_KINDS.index(kind))
    columns = ALL_CASES[kind].stream(rng, 600)
    original = _build(kind)
    at = _SPLITS[split]
    for lo, hi in _chunks(rng, at, longest=40):
        _feed(original, columns, lo, hi)
    if split == "window_full":  # taken while it reports (or, for a sequential detector, after alarms)
        sequential = isinstance(original, detectors.SequentialDetector) and original.n_alarms > 0
        assert sequential or not math.isnan(original.statistic)

    snap = original.snapshot(omit=("reference",))
    assert "reference" not in snap["params"]
    loaded = json.loads(json.dumps(snap, allow_nan=False))  # a checkpoint is stored as strict JSON
    if original.takes_reference:
        reference = _ROWS_REF if original.feeds == "vectors" else REFERENCE.values(_column_of(type(original)))
        loaded = {**loaded, "params": {**loaded["params"], "reference": reference}}
    restored = Detector.restore(loaded)
    assert type(restored) is type(original)
    _assert_same_outputs(original, restored)
    assert restored.snapshot(omit=("reference",)) == snap

    for lo, hi in _chunks(rng, 600 - at, longest=60):  # a further seeded stream, fed to both
        _feed(original, columns, at + lo, at + hi)
        _feed(restored, columns, at + lo, at + hi)
        _assert_same_outputs(original, restored)
    assert restored.snapshot() == original.snapshot()


# Snapshots written by the code before the checkpoint fix (commit 1d40213), reference left out: the repaired
# families kept their format, so these still restore, to the state they were taken of.
_OLD_SNAPSHOTS = [
    '{"class": "AndersonDarlingDrift", "kind": "anderson_darling", "version": 1, "params": {"window": 3, '
    '"tumbling": true, "horizon": null, "threshold": 9.782667448346052, "min_samples": 3}, "state": '
    '{"n_seen": 5, "window": {"data": [3.5, 9.0], "pos": 2}, "last_block": [0.5, 1.5, 2.5]}}',
    '{"class": "WassersteinDrift", "kind": "wasserstein", "version": 1, "params": {"window": 3, '
    '"tumbling": false, "horizon": 10.0, "threshold": 0.1, "scale": "std", "min_samples": 1}, "state": '
    '{"n_seen": 3, "window": {"data": [0.5, 1.5, 4.0], "pos": 0}, '
    '"ts": {"data": [1.0, 2.0, 20.0], "pos": 0}}}',
    '{"class": "RollingBrier", "kind": "brier", "version": 1, "params": {"window": 3, "threshold": 0.25, '
    '"min_samples": 3}, "state": {"n_seen": 3, "window": {"data": [0.6400000000000001, 0.009999999999999995, '
    '0.16000000000000003], "pos": 0}, "n_rejected": 1}}',
    '{"class": "VolumeDrift", "kind": "volume", "version": 1, "params": {"rate": 1.0, "interval": 5.0, '
    '"threshold": 0.5, "window": 4}, "state": {"n_seen": 3, "ts": {"data": [1.0, 2.0, 3.0], "pos": 3}, '
    '"now": 7.0, "start": 1.0}}',
]


def test_snapshots_of_the_old_format_still_restore() -> None:
    a = detectors.AndersonDarlingDrift([0.0, 1.0, 2.0, 3.0], window=3, tumbling=True)
    a.update_many([0.5, 1.5, 2.5, 3.5, 9.0])
    w = detectors.WassersteinDrift([0.0, 1.0, 2.0, 3.0], window=3, horizon=10.0)
    w.update_many([0.5, 1.5, 4.0], ts=[1.0, 2.0, 20.0])
    b = detectors.RollingBrier(window=3)
    b.update_many([0.2, 1.5, 0.9, 0.4], [1, 0, 1, 0])
    v = detectors.VolumeDrift(rate=1.0, interval=5.0, window=4)
    v.update_many([1.0, 2.0, 3.0])
    v.observe_time(7.0)
    for old, now in zip(_OLD_SNAPSHOTS, (a, w, b, v), strict=True):
        snap = json.loads(old)
        if now.takes_reference:
            snap["params"]["reference"] = [0.0, 1.0, 2.0, 3.0]
        assert snap == json.loads(json.dumps(now.snapshot()))  # the format today is the old one
        restored = Detector.restore(snap)
        _assert_same_outputs(restored, now)
