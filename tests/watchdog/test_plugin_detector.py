"""A detector defined outside the package runs in the service: it touches detectors' REGISTRY and a kind in
rules, nothing of watchdog/. The engine builds it from the policy and the reference, feeds it, checkpoints it
and lets a rule fire on it, all through the declared protocol."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, ClassVar

import numpy as np
import orjson
import pytest
from numpy.typing import ArrayLike

import detectors
import rules
from detectors import UnivariateDetector
from detectors.base import check_min_samples, check_real, check_window
from rules.kinds import DetectorKind, Param
from watchdog.engine import checkpoint
from watchdog.engine.engine import Engine

from .test_every_kind import BASE


class PluginMeanShift(UnivariateDetector):
    """Distance of the window's mean from the reference's, in reference standard deviations."""

    kind = "plugin_mean_shift"
    input_kind = "numeric"
    feeds: ClassVar[Any] = "values"
    statistics = ("statistic",)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">"}

    def __init__(self, reference: ArrayLike, *, window: int = 50, threshold: float = 1.0,
                 min_samples: int | None = None) -> None:
        self.window = check_window(window)
        self.reference = np.asarray(reference, dtype=np.float64)
        self.threshold = check_real("threshold", threshold, 0.0, math.inf, low_open=True)
        self.min_samples = check_min_samples(min_samples, self.window)
        self._mu, self._sd = float(self.reference.mean()), float(self.reference.std())
        self._reset()

    def _encode_one(self, x: Any) -> Any:
        return None if x is None or math.isnan(float(x)) else float(x)

    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        a = np.asarray(values, dtype=np.float64)
        return a[~np.isnan(a)]

    def _compute(self, name: str) -> float:
        return abs(float(np.mean(self._buffer.values())) - self._mu) / self._sd


KIND = DetectorKind(name="plugin_mean_shift", input="numeric", statistics={"statistic": ">"},
                    params={"window": Param("window", "int", 50, 2, "values in the window")})

POLICY = """
version: 1
name: plugin
models:
  - id: m
    module: m
    prediction: {type: numeric}
    features: [{name: x, type: numeric}]
    reference: {first_n: 200}
    detectors:
      - {name: shift, kind: plugin_mean_shift, feature: x, window: 50}
groups:
  - name: g
    interval_records: 25
    rules:
      - name: Shifted
        model: m
        condition: {detector: shift, statistic: statistic, op: ">", threshold: 1.5}
        for: 1
        labels: {severity: routine}
        annotations: {summary: x moved}
        actions: [alert]
"""


def _line(i: int, x: float) -> bytes:
    iso = dt.datetime.fromtimestamp(BASE + 60 * i, tz=dt.UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"model": "m", "version": "1", "ts": iso, "id": f"r{i}", "features": {"x": x},
                         "prediction": 0.5})


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(detectors.REGISTRY, PluginMeanShift.kind, PluginMeanShift)
    with rules.kinds.registered(KIND):
        yield


def test_a_detector_defined_here_runs_through_the_engine(plugin: Any) -> None:
    policy = rules.load_policy_text(POLICY)
    engine = Engine(policy)
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0, 1, 400), rng.normal(3, 1, 200)])
    for i, x in enumerate(values[:450]):
        engine.process_line(_line(i, float(x)), i + 1)
    state = orjson.loads(checkpoint.dumps(engine.snapshot()))  # the reference is left out of its snapshot
    assert "reference" not in state["models"]["m"]["detectors"]["shift"]["params"]
    again = Engine(policy)
    assert again.restore(state) == []
    for eng in (engine, again):
        for i, x in enumerate(values[450:], start=450):
            eng.process_line(_line(i, float(x)), i + 1)
    fired = [(d.rule, d.kind, d.record_index) for d in engine.decisions]
    assert fired and fired[0][:2] == ("Shifted", "fire") and fired[0][2] > 400
    # the restored engine makes exactly the decisions the uninterrupted one made after the checkpoint
    assert [f for f in fired if f[2] > 450] == [(d.rule, d.kind, d.record_index) for d in again.decisions]
    assert engine.runtimes["m"].detectors["shift"].statistic == again.runtimes["m"].detectors["shift"].statistic
