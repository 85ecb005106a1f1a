"""Item 14's alert parts: ``WatchdogOutboxStuck`` does not page while an action only waits for confirmations,
and the example Prometheus configuration scrapes the port ``watchdog serve`` serves ``/metrics`` on."""

from __future__ import annotations

from pathlib import Path

import yaml
from eth_utils import keccak

from dashboards.alerts import AlertOptions, self_rules
from watchdog.cli import build_parser
from watchdog.observe.metrics import Metrics
from watchdog.store.store import Incident, Store

REPO = Path(__file__).resolve().parents[2]


def gauges(m: Metrics) -> dict[str, float | None]:
    names = ("watchdog_outbox_depth", "watchdog_outbox_oldest_progress_timestamp_seconds",
             "watchdog_outbox_oldest_unconfirmed_timestamp_seconds")
    return {n: m.registry.get_sample_value(n) for n in names}


def test_a_mined_action_waiting_for_confirmations_is_not_stuck_progress(tmp_path: Path) -> None:
    with Store(tmp_path / "w.db") as store:
        inc = Incident(id="0x" + keccak(text="i").hex(), model="m", rule="R", tier="critical", opened_at=0.0,
                       record_index=1, policy_hash="0x", dry_run=False, evidence="{}", evidence_hash="0x1",
                       state="open")
        store.add_incident(inc)
        m = Metrics()
        m.attach_store(store)
        a = store.add_action(inc.id, "pause", "mod", 100.0)
        assert gauges(m) == {"watchdog_outbox_depth": 1, "watchdog_outbox_oldest_progress_timestamp_seconds": 100,
                             "watchdog_outbox_oldest_unconfirmed_timestamp_seconds": None}
        store.update_action(a.id, 160.0, status="mined", tx_hash="0x" + "ab" * 32, block_number=7)
        # still open (waiting for blocks), but nothing is late: only the unconfirmed gauge, with its own deadline
        assert gauges(m) == {"watchdog_outbox_depth": 1, "watchdog_outbox_oldest_progress_timestamp_seconds": None,
                             "watchdog_outbox_oldest_unconfirmed_timestamp_seconds": 160}
        store.update_action(a.id, 200.0, status="confirmed")
        assert gauges(m) == {"watchdog_outbox_depth": 0, "watchdog_outbox_oldest_progress_timestamp_seconds": None,
                             "watchdog_outbox_oldest_unconfirmed_timestamp_seconds": None}


def test_the_stuck_rule_holds_unconfirmed_actions_to_their_own_deadline() -> None:
    (rule,) = [r for r in self_rules(AlertOptions(outbox_stuck="5m", unconfirmed="45m"))
               if r["alert"] == "WatchdogOutboxStuck"]
    assert "watchdog_outbox_oldest_progress_timestamp_seconds" in rule["expr"] and "> 300" in rule["expr"]
    assert 'watchdog_outbox_oldest_unconfirmed_timestamp_seconds{job="watchdog"} > 2700' in rule["expr"]
    assert "45m" in rule["annotations"]["description"]


def test_the_example_prometheus_config_scrapes_where_serve_serves_metrics() -> None:
    doc = yaml.safe_load((REPO / "dashboards" / "examples" / "prometheus.yml").read_text())
    (job,) = doc["scrape_configs"]
    host, port = build_parser().parse_args(["serve", "--policy", "p.yaml"]).http
    assert job["job_name"] == AlertOptions().job
    assert job["static_configs"][0]["targets"] == [f"{host}:{port}"]


def test_accepted_counters_start_at_zero_and_labels_stopped_is_generated_for_label_models(demo_policy_path) -> None:
    import rules
    from dashboards.alerts import alert_rules, label_models
    from watchdog.engine.engine import Engine

    policy = rules.load_policy(demo_policy_path)
    m = Metrics()
    m.attach(Engine(policy, base_dir=demo_policy_path.parent, metrics=m))
    for model in policy.models:
        for kind in ("prediction", "label"):
            assert m.registry.get_sample_value("watchdog_records_accepted_total",
                                               {"model": model.id, "kind": kind}) == 0
    expects = label_models(policy)
    assert expects == [md.id for md in policy.models if any(d.kind == "mae" for d in md.detectors)] != []
    (group,) = [g for g in alert_rules(policy)["groups"] if g["name"] == "watchdog-labels"]
    assert [r["alert"] for r in group["rules"]] == ["WatchdogLabelsStopped"] * len(expects)
    assert f'model="{expects[0]}",kind="label"' in group["rules"][0]["expr"]


def test_the_prometheus_copy_of_a_staleness_rule_is_quiet_while_history_is_replayed(tmp_path: Path) -> None:
    """Records with old timestamps pour in (a backlog replayed): the staleness statistic is large at once, but
    records are being accepted, so the feed is not stale. The promtool cases prove both sides; the old rule
    (without the guard) fails the quiet one."""
    import shutil
    import subprocess

    import pytest

    import rules
    from dashboards.alerts import alert_rules, dump, rule_tests
    from tests.watchdog.test_time_conditions import POLICY

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    policy = rules.load_policy_text(POLICY, "time.yaml")
    doc = alert_rules(policy)
    (stale,) = [r for g in doc["groups"] for r in g["rules"] if r["alert"] == "FeedStale"]
    assert 'unless on (job, instance, model) (sum by (job, instance, model) (increase(' in stale["expr"]
    assert "[600s]" in stale["expr"]  # the detector's max_age
    tests = rule_tests(policy, "r.yml")
    assert any(t["name"].startswith("FeedStale stays quiet while records are accepted") for t in tests["tests"])

    def run(rule_doc: dict) -> subprocess.CompletedProcess[str]:
        (tmp_path / "r.yml").write_text(dump(rule_doc))
        (tmp_path / "t.yml").write_text(dump(tests))
        return subprocess.run([promtool, "test", "rules", str(tmp_path / "t.yml")], capture_output=True, text=True,
                              timeout=60, check=False)

    ok = run(doc)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    stale["expr"] = stale["expr"].split(" unless on ")[0].removeprefix("(").removesuffix(")")  # the old rule
    old = run(doc)
    assert old.returncode != 0 and "FeedStale stays quiet while records are accepted" in old.stdout + old.stderr
