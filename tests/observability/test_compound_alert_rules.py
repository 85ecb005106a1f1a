"""A compound policy rule exported to Prometheus behaves like the watchdog's: at least k of its comparisons,
each behind its own min_samples guard (checked by the real promtool)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from rules import EXAMPLES_DIR
from watchdog.cli import main

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian prometheus) is needed"
)

BASE = {"job": "watchdog", "instance": "watchdog:9464", "model": "lending-risk"}


def _series(detector: str, p: float, n: int) -> list[dict[str, str]]:
    labels = {**BASE, "detector": detector, "kind": "ks"}
    sel = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return [{"series": f'watchdog_detector_statistic{{{sel}, statistic="p_value"}}', "values": f"{p!r}x20"},
            {"series": f"watchdog_detector_window_samples{{{sel}}}", "values": f"{n}x20"}]


def _case(name: str, util: tuple[float, int], coll: tuple[float, int], vol: tuple[float, int], fires: bool,
          annotations: dict[str, str]) -> dict:
    series = [
        *_series("ks_utilization", *util),
        *_series("ks_collateral_ratio", *coll),
        *_series("ks_volatility", *vol),
    ]
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


CORRECTED = """
version: 1
name: corrected
models:
  - id: lending-risk
    module: lending-risk
    prediction: {type: numeric}
    features: [{name: a, type: numeric}, {name: b, type: numeric}, {name: c, type: numeric}]
    reference: {first_n: 100}
    detectors:
      - {name: ks_utilization, kind: ks, feature: a, window: 50}
      - {name: ks_collateral_ratio, kind: ks, feature: b, window: 50}
      - {name: ks_volatility, kind: ks, feature: c, window: 50}
groups:
  - name: g
    rules:
      - name: InputDriftConsensus
        model: lending-risk
        condition:
          correction: bonferroni
          any:
            - {detector: ks_utilization, statistic: p_value, op: "<", threshold: 1e-6}
            - {detector: ks_collateral_ratio, statistic: p_value, op: "<", threshold: 1e-6}
            - {detector: ks_volatility, statistic: p_value, op: "<", threshold: 1e-6}
        labels: {severity: medium}
        annotations: {summary: An input drifted.}
        actions: [alert]
"""


def test_bonferroni_rule_fires_below_the_corrected_level_only(tmp_path, capsys):
    policy = tmp_path / "corrected.yaml"
    policy.write_text(CORRECTED)
    out = tmp_path / "rules.yml"
    assert main(["alerts", "export", "--policy", str(policy), "--out", str(out)]) == 0
    capsys.readouterr()
    exported = yaml.safe_load(out.read_text())
    (rule,) = [r for g in exported["groups"] for r in g["rules"] if r["alert"] == "InputDriftConsensus"]
    ann = {k: v.replace("{{ $labels.instance }}", BASE["instance"]) for k, v in rule["annotations"].items()}
    assert "ks_utilization.p_value < 3.33333e-07 (1e-06 / 3, Bonferroni)" in ann["description"]
    tests = {"rule_files": [out.name], "evaluation_interval": "1m", "tests": [
        _case("one p-value below the corrected level", (1e-7, 60), (0.5, 60), (0.5, 60), True, ann),
        _case("under the level written, not the corrected", (5e-7, 60), (5e-7, 60), (5e-7, 60), False, ann),
    ]}
    test_file = tmp_path / "corrected_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    proc = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
