"""The detector kinds table: well formed, in step with detectors.REGISTRY, open to kinds from outside."""

from __future__ import annotations

import importlib

import pytest

from rules import KINDS, DetectorKind, Param, Policy, PolicyError, load_policy_text
from rules.kinds import BUILTIN_KINDS, OPS, register, registered, unregister
from rules.schema import DETECTOR_MODELS


def test_kinds_are_well_formed() -> None:
    assert list(KINDS)[:5] == ["ks", "psi", "chi_square", "accuracy", "mae"]
    for name, kind in KINDS.items():
        assert kind.name == name
        assert "statistic" in kind.statistics
        assert set(kind.statistics.values()) <= set(OPS)
        if "since_alarm" in kind.statistics:  # sequential detectors: no window, their own alarm
            continue
        if kind.input == "time":  # timestamps against the clock: an age or a rate, not a window of values
            assert (not kind.is_performance and "window" not in kind.params) or name == "volume"
            continue
        window = kind.params["window"]
        assert (window.type, window.default, window.minimum) == ("int", 500, 2)
        assert "threshold" in kind.params
    assert KINDS["psi"].params["bins"].default == 10
    assert [k for k, v in KINDS.items() if v.is_performance][:2] == ["accuracy", "mae"]
    assert KINDS["accuracy"].prediction_type == "categorical" and KINDS["mae"].prediction_type == "numeric"
    assert KINDS["chi_square"].value_type == "categorical" and KINDS["ks"].prediction_type is None


def test_kinds_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        KINDS["new"] = KINDS["ks"]  # type: ignore[index]


def test_rules_imports_neither_the_service_nor_detectors() -> None:
    import subprocess
    import sys

    code = (
        "import sys, rules, rules.loader, rules.evaluator, rules.report; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('watchdog', 'detectors')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_kinds_match_the_detector_registry() -> None:
    try:
        detectors = importlib.import_module("detectors")
    except ImportError:
        pytest.skip("detectors is not written yet")
    registry = getattr(detectors, "REGISTRY", None)
    if registry is None:
        pytest.skip("detectors.REGISTRY is not written yet")
    missing = sorted(set(KINDS) - set(registry) - set(getattr(detectors, "TIME_REGISTRY", {})))
    assert not missing, f"policy kinds without a detector: {missing}"


# -- kinds added from outside --------------------------------------------------------------------------------

SPIKE = DetectorKind(
    name="spike_rate",
    input="numeric",
    statistics={"statistic": ">", "spikes": ">"},
    params={
        "window": Param("window", "int", 200, 2, "values counted"),
        "sigmas": Param("sigmas", "float", None, 0, "distance from the reference mean counted as a spike"),
    },
    doc="share of the window more than `sigmas` reference standard deviations from its mean",
)

POLICY = """\
version: 1
name: spikes
models:
  - id: m
    module: m
    prediction: {type: numeric}
    features:
      - {name: price, type: numeric}
      - {name: venue, type: categorical}
    reference: {first_n: 100}
    detectors:
      - {name: spikes_price, kind: spike_rate, feature: price, sigmas: 3.5}
groups:
  - name: g
    rules:
      - name: PriceSpikes
        model: m
        condition: {detector: spikes_price, statistic: spikes, op: ">", threshold: 0.1}
        labels: {severity: routine}
        annotations: {summary: Prices spike.}
        actions: [alert]
"""
DETECTOR_LINE = 12


def _issues(text: str) -> list[str]:
    with pytest.raises(PolicyError) as exc:
        load_policy_text(text, "spikes.yaml")
    return [str(issue) for issue in exc.value.errors]


def test_a_registered_kind_is_accepted_and_validated_as_a_built_in_one() -> None:
    assert "spike_rate" not in KINDS
    with registered(SPIKE) as kind:
        assert KINDS["spike_rate"] is kind and list(KINDS)[-1] == "spike_rate"
        policy = load_policy_text(POLICY, "spikes.yaml")
        detector = policy.model("m").detector("spikes_price")
        assert detector.kind == "spike_rate" and detector.spec is SPIKE
        assert detector.params == {"window": 200, "sigmas": 3.5}  # the default filled in, as for ks's window
        assert policy.min_samples_of(policy.rule("PriceSpikes")) == 200
        fields = set(DETECTOR_MODELS["spike_rate"].model_fields)
        assert fields == {"name", "kind", "feature", "window", "sigmas"}

        def with_detector(rest: str) -> str:
            lines = POLICY.splitlines()
            lines[DETECTOR_LINE - 1] = f"      - {{name: spikes_price, kind: spike_rate, {rest}}}"
            return "\n".join(lines) + "\n"

        # its parameters: typed, bounded, and no others (with the kind's own keys offered)
        assert _issues(with_detector("feature: price, sigmas: -1")) == [
            "spikes.yaml:12: models[0].detectors[0].sigmas: must be at least 0.0, got the number -1"
        ]
        assert _issues(with_detector("feature: price, window: 2.5")) == [
            "spikes.yaml:12: models[0].detectors[0].window: expected a whole number, got the number 2.5"
        ]
        (unknown,) = _issues(with_detector("feature: price, sigma: 3"))
        assert (
            "unknown key 'sigma' (did you mean 'sigmas'?); allowed here: name, kind, feature, window, sigmas"
        ) in unknown
        # its input: a numeric kind on a categorical feature is refused, naming the kinds that fit
        (wrong_type,) = _issues(with_detector("feature: venue"))
        assert "needs a numeric feature, but 'venue' is categorical" in wrong_type
        # its statistics: a rule may read only those it publishes
        (statistic,) = _issues(POLICY.replace("statistic: spikes,", "statistic: spike,"))
        assert "no statistic 'spike' (did you mean 'spikes'?); it publishes: statistic, spikes" in statistic
        # and the JSON Schema offers it
        schema = Policy.model_json_schema(by_alias=True, mode="validation")
        assert "SpikeRateDetector" in schema["$defs"]
    assert "spike_rate" not in KINDS and "spike_rate" not in DETECTOR_MODELS
    (gone,) = _issues(POLICY)
    assert "models[0].detectors[0].kind: unknown detector kind 'spike_rate'" in gone


def test_register_refuses_what_it_cannot_add() -> None:
    with pytest.raises(ValueError, match="'ks' is already registered"):
        register(KINDS["ks"])
    with pytest.raises(ValueError, match="built-in"):
        unregister("ks")
    with pytest.raises(KeyError, match="no detector kind 'nope'"):
        unregister("nope")
    with pytest.raises(TypeError, match="must be a DetectorKind"):
        register({"name": "x"})  # type: ignore[arg-type]
    assert set(BUILTIN_KINDS) == set(KINDS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Spike-Rate"}, "name must be lowercase letters"),
        ({"input": "audio"}, "input must be one of numeric"),
        ({"statistics": {"spikes": ">"}}, "statistics must include 'statistic'"),
        ({"statistics": {"statistic": "!="}}, "statistics must map names to one of"),
        ({"params": {"window": Param("size", "int")}}, "params must map each Param's own name"),
    ],
)
def test_a_malformed_kind_names_its_mistake(change: dict[str, object], message: str) -> None:
    base = {"name": "spike_rate", "input": "numeric", "statistics": {"statistic": ">"}, "params": {}}
    fields = {**base, **change}
    with pytest.raises(ValueError, match=message):
        DetectorKind(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("feature", "int"), "name must be a Python identifier"),
        (("k", "str"), "type must be 'int' or 'float'"),
        (("k", "int", "5"), "default must be a number"),
    ],
)
def test_a_malformed_param_names_its_mistake(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Param(*args)  # type: ignore[arg-type]


def test_a_kind_is_frozen_all_the_way_down() -> None:
    statistics = {"statistic": ">"}
    kind = DetectorKind("frozen_kind", "numeric", statistics, {})
    statistics["other"] = "<"
    assert dict(kind.statistics) == {"statistic": ">"}
    with pytest.raises(TypeError):
        kind.statistics["more"] = ">"  # type: ignore[index]
