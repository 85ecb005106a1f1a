"""A compound policy rule exported to Prometheus behaves like the watchdog's: at least k of its comparisons,
each behind its own min_samples guard (checked by the real promtool)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from rules import EXAMPLES_DIR
from watchdog.cli import main

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) is needed")

BASE = {"job": "watchdog", "instance": "watchdog:9464", "model": "lending-risk"}


def _series(detector: str, p: float, n: int) -> list[dict[str, str]]:
    labels = {**BASE, "detector": detector, "kind": "ks"}
    sel = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return [{"series": f'watchdog_detector_statistic{{{sel}, statistic="p_value"}}', "values": f"{p!r}x20"},
            {"series": f"watchdog_detector_window_samples{{{sel}}}", "values": f"{n}x20"}]


def _case(name: str, util: tuple[float, int], coll: tuple[float, int], vol: tuple[float, int], fires: bool,
          annotations: dict[str, str]) -> dict:
    series = _series("ks_utilization", *util) + _series("ks_collateral_ratio", *coll) + _series("ks_volatility", *vol)
    exp = [{"exp_labels": {**BASE, "severity": "medium", "tier": "medium", "rule": "InputDriftConsensus",
                           "source": "prometheus"}, "exp_annotations": annotations}] if fires else []
    return {"name": name, "interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": "10m", "alertname": "InputDriftConsensus", "exp_alerts": exp}]}


def test_k_of_n_rule_fires_on_two_of_three_and_respects_each_guard(tmp_path, capsys):
    out = tmp_path / "rules.yml"
    assert main(["alerts", "export", "--policy", str(EXAMPLES_DIR / "lending.yaml"), "--out", str(out)]) == 0
    capsys.readouterr()
    exported = yaml.safe_load(out.read_text())
    (rule,) = [r for g in exported["groups"] for r in g["rules"] if r["alert"] == "InputDriftConsensus"]
    ann = {k: v.replace("{{ $labels.instance }}", BASE["instance"]) for k, v in rule["annotations"].items()}
    tests = {"rule_files": [out.name], "evaluation_interval": "1m", "tests": [
        _case("two of three below the level", (1e-6, 600), (1e-6, 600), (0.5, 600), True, ann),
        _case("only one below", (1e-6, 600), (0.5, 600), (0.5, 600), False, ann),
        _case("two below but one window too small", (1e-6, 100), (1e-6, 600), (0.5, 600), False, ann),
        _case("volatility's own guard is 300", (0.5, 600), (1e-6, 600), (1e-6, 300), True, ann),
    ]}
    test_file = tmp_path / "compound_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    proc = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
