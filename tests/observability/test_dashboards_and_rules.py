"""Exported dashboards, provisioning YAML, alert rules with their promtool tests, example configs."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

import dashboards
import rules
from dashboards import alerts
from watchdog.cli import main

from .conftest import AMTOOL, PROMTOOL, REPO


@pytest.fixture
def policy(demo_policy_path):
    return rules.load_policy(demo_policy_path)


def test_uids_are_stable_valid_and_survive_threshold_edits(policy, demo_policy_path, tmp_path):
    first = dashboards.build_dashboards(policy)
    edited = tmp_path / "policy.yaml"
    edited.write_text(demo_policy_path.read_text().replace("threshold: 1.0e-8", "threshold: 1.0e-9"))
    changed = rules.load_policy(edited)
    assert changed.hash != policy.hash
    assert list(dashboards.build_dashboards(changed)) == list(first)
    for uid, board in first.items():
        assert board["uid"] == uid and 8 <= len(uid) <= 40 and uid.replace("-", "").isalnum()
        ids = [p["id"] for p in dashboards._walk_panels(board["panels"])]
        assert len(ids) == len(set(ids))


def test_model_dashboard_shows_each_rule_against_its_threshold_and_action_annotations(policy):
    board = dashboards.build_dashboards(policy)[dashboards.model_uid(policy, "lending-risk")]
    queries = dashboards.panel_queries(board)
    for g in policy.groups:
        for r in g.rules:
            exprs = [q for title, q in queries if title.startswith(r.name + " ")]
            assert any(
                f'detector="{r.condition.detector}"' in q and "watchdog_detector_statistic" in q
                for q in exprs
            )
            assert any(f'rule="{r.name}"' in q and "watchdog_rule_threshold" in q for q in exprs)
    (ann,) = board["annotations"]["list"]
    assert ann["target"]["tags"] == ["watchdog", "model:lending-risk"]
    assert ann["datasource"]["type"] == "grafana"
    titles = {title for title, _ in queries}
    assert {"mae_risk (mae)", "Drift p-values", "Label join backlog", "Actions"} <= titles


def test_overview_covers_every_model(policy):
    board = dashboards.build_dashboards(policy)[dashboards.overview_uid(policy)]
    titles = {t for t, _ in dashboards.panel_queries(board)}
    assert {
        "Records per second",
        "Quarantine rate",
        "Active model version",
        "Paused by the watchdog",
        "Open incidents",
    } <= titles


def test_export_writes_json_and_provisioning(policy, demo_policy_path, tmp_path, capsys):
    out = tmp_path / "dash"
    assert (
        main(
            [
                "dashboards",
                "export",
                "--policy",
                str(demo_policy_path),
                "--out",
                str(out),
                "--datasource-uid",
                "prom-main",
            ]
        )
        == 0
    )
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(
        [f"{u}.json" for u in dashboards.build_dashboards(policy)] + ["watchdog-dashboards.yaml"]
    )
    board = json.loads((out / f"{dashboards.overview_uid(policy)}.json").read_text())
    assert {p["datasource"]["uid"] for p in board["panels"] if "datasource" in p} == {"prom-main"}
    prov = yaml.safe_load((out / "watchdog-dashboards.yaml").read_text())
    (provider,) = prov["providers"]
    assert prov["apiVersion"] == 1 and provider["type"] == "file"
    assert provider["options"]["path"] == str(out.resolve())
    again = tmp_path / "again"
    main(["dashboards", "export", "--policy", str(demo_policy_path), "--out", str(again)])
    main(["dashboards", "export", "--policy", str(demo_policy_path), "--out", str(out)])
    assert {p.name: p.read_bytes() for p in again.glob("*.json")} == {
        p.name: p.read_bytes() for p in out.glob("*.json")
    }


def test_export_refuses_a_bad_policy(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nmodels: []\n")
    assert main(["dashboards", "export", "--policy", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "refusing to start" in capsys.readouterr().err


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_alerts_export_passes_promtool_check_and_its_shipped_tests(demo_policy_path, tmp_path, capsys):
    out = tmp_path / "rules" / "watchdog-rules.yml"
    assert main(["alerts", "export", "--policy", str(demo_policy_path), "--out", str(out)]) == 0
    tests = out.with_name("watchdog-rules_test.yml")
    check = subprocess.run(
        check=False, args=[PROMTOOL, "check", "rules", str(out)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 13 rules found" in check.stdout
    test = subprocess.run(
        check=False, args=[PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60
    )
    assert test.returncode == 0, test.stdout + test.stderr
    doc = yaml.safe_load(out.read_text())
    names = {r["alert"] for g in doc["groups"] for r in g["rules"]}
    assert set(alerts.SELF_ALERTS) <= names
    tested = {
        t["alertname"] for case in yaml.safe_load(tests.read_text())["tests"] for t in case["alert_rule_test"]
    }
    assert tested == names  # every rule has a test


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_shipped_tests_catch_a_wrong_threshold(policy, tmp_path):
    rule_file = tmp_path / "r.yml"
    doc = alerts.alert_rules(policy)
    rule_file.write_text(alerts.dump(doc).replace("< 1e-08", "< 1e-12"))
    (tmp_path / "t.yml").write_text(alerts.dump(alerts.rule_tests(policy, "r.yml")))
    res = subprocess.run(
        check=False,
        args=[PROMTOOL, "test", "rules", str(tmp_path / "t.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0 and "VolatilityRegimeShift" in res.stdout + res.stderr


def test_alerts_export_to_stdout_and_bad_duration(demo_policy_path, capsys):
    assert main(["alerts", "export", "--policy", str(demo_policy_path), "--for", "30s", "--job", "wd"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    vol = next(r for g in doc["groups"] for r in g["rules"] if r["alert"] == "VolatilityRegimeShift")
    assert vol["for"] == "30s" and 'job="wd"' in vol["expr"] and ">= 500" in vol["expr"]
    assert main(["alerts", "export", "--policy", str(demo_policy_path), "--for", "5x"]) == 2
    assert "must be a duration like 30s, 5m or 1h, got '5x'" in capsys.readouterr().err


@pytest.mark.skipif(AMTOOL is None, reason="amtool is not installed")
def test_example_alertmanager_config_passes_amtool():
    res = subprocess.run(
        check=False,
        args=[AMTOOL, "check-config", str(REPO / "dashboards" / "examples" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_example_prometheus_config_is_valid():
    res = subprocess.run(
        check=False,
        args=[
            PROMTOOL,
            "check",
            "config",
            "--syntax-only",
            str(REPO / "dashboards" / "examples" / "prometheus.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_package_docstring_example_runs():
    import doctest

    assert doctest.testmod(dashboards, raise_on_error=False).failed == 0
