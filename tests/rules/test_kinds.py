"""The detector kinds table: well formed, and in step with detectors.REGISTRY once that exists."""

from __future__ import annotations

import importlib

import pytest

from rules import KINDS
from rules.kinds import OPS


def test_kinds_are_well_formed() -> None:
    assert list(KINDS)[:5] == ["ks", "psi", "chi_square", "accuracy", "mae"]
    for name, kind in KINDS.items():
        assert kind.name == name
        assert "statistic" in kind.statistics
        assert set(kind.statistics.values()) <= set(OPS)
        if "since_alarm" in kind.statistics:  # sequential detectors: no window, their own alarm
            continue
        if kind.input == "time":  # timestamps against the clock: an age or a rate, not a window of values
            assert not kind.is_performance and "window" not in kind.params or name == "volume"
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
