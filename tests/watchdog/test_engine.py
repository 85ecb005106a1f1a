"""The engine in-process: decisions, evidence and metrics on seeded logs, no chain."""

from __future__ import annotations

import urllib.request

from prometheus_client import start_http_server

from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.store.store import Store


def _run(tmp_path, policy, log, **kw):
    opts = RunOptions(policy=policy, source=log, store=tmp_path / "w.db", quarantine=tmp_path / "q.jsonl",
                      progress=False, **kw)
    return run(opts)


def test_dry_run_records_would_have_paused_and_sends_nothing(tmp_path, demo_policy):
    log = tmp_path / "d.jsonl"
    write_log(str(log), n=5000, drift_at=3000, seed=3, malformed=False)
    res = _run(tmp_path, demo_policy, log, dry_run=True)
    pauses = [a for a in res.actions if a.kind == "pause"]
    assert len(pauses) == 1 and pauses[0].status == "dry_run" and pauses[0].tx_hash is None
    assert "[dry run]" in res.render()
    with Store(tmp_path / "w.db") as s:
        inc = s.incident(pauses[0].incident_id)
        assert inc.rule == "VolatilityRegimeShift" and inc.policy_hash == res.policy.hash


def test_same_log_same_decisions(tmp_path, demo_policy):
    log = tmp_path / "d.jsonl"
    write_log(str(log), n=4000, drift_at=2500, seed=5, malformed=True)
    a = _run(tmp_path / "a", demo_policy, log, dry_run=True)
    b = _run(tmp_path / "b", demo_policy, log, dry_run=True)
    assert [(i.id, i.evidence_hash) for i in a.incidents] == [(i.id, i.evidence_hash) for i in b.incidents]
    assert a.incidents


def test_metrics_endpoint_serves_detector_statistics_and_counts(tmp_path, demo_policy):
    log = tmp_path / "d.jsonl"
    write_log(str(log), n=4000, drift_at=2500, seed=5, malformed=True)
    servers = []

    def start(registry):
        server, _thread = start_http_server(0, "127.0.0.1", registry=registry)
        servers.append(server)

    try:
        res = run(RunOptions(policy=demo_policy, source=log, store=tmp_path / "w.db", quarantine=tmp_path / "q.jsonl",
                             progress=False, dry_run=True), start_metrics=start)
        port = servers[0].server_address[1]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        for s in servers:
            s.shutdown()
    assert res.summary.quarantined == 3
    assert 'watchdog_records_quarantined_total{reason="bad_json"} 1.0' in text
    assert 'watchdog_records_accepted_total{kind="prediction",model="lending-risk"} 4000.0' in text
    assert ('watchdog_detector_statistic{detector="ks_volatility",feature="volatility_7d",kind="ks",'
            'model="lending-risk",statistic="p_value"}') in text
    assert ('watchdog_rule_state{model="lending-risk",rule="VolatilityRegimeShift",state="firing",'
            'tier="critical"} 1.0') in text
    assert ('watchdog_actions_total{action="pause",model="lending-risk",outcome="skipped",'
            'rule="VolatilityRegimeShift"} 1.0') in text
    assert f'hash="{res.policy.hash}"' in text
