"""The report's numbers from a real SQLite store filled by the watchdog itself (no chain)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import rules
from watchdog.errors import ConfigError
from watchdog.report import (
    build_report,
    parse_week,
    previous_week,
    report_hash,
    weekly_report_job,
    write_report,
)
from watchdog.report.anchor import file_hash
from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.store.store import Store

WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday of 2026-W47
AFTER = datetime(2026, 12, 1, tzinfo=UTC)


def _run(tmp_path: Path, policy: Path, **kw) -> Path:
    log = tmp_path / "week.jsonl"
    write_log(str(log), seed=5, **kw)
    run(RunOptions(policy=policy, source=log, store=tmp_path / "w.db", quarantine=tmp_path / "q.jsonl",
                   progress=False))
    return tmp_path / "w.db"


def test_iso_weeks_are_utc_monday_to_monday():
    w = parse_week("2026-W47")
    assert (w.start, w.end) == (WEEK_START, WEEK_START + timedelta(days=7))
    assert parse_week("2026-W01").start == datetime(2025, 12, 29, tzinfo=UTC)  # ISO year != calendar year
    assert previous_week(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)).label == "2026-W47"
    assert previous_week(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)).label == "2026-W47"
    with pytest.raises(ConfigError, match="2026-W47"):
        parse_week("2026-47")
    assert parse_week("2026-W53").end == datetime(2027, 1, 4, tzinfo=UTC)  # 2026 has 53 weeks
    with pytest.raises(ConfigError, match="has no week 53"):
        parse_week("2025-W53")


def test_clean_week_is_healthy_and_counts_match_the_store(tmp_path, demo_policy):
    db = _run(tmp_path, demo_policy, n=3000, drift_at=None, malformed=True, start=WEEK_START + timedelta(hours=1),
              step=timedelta(seconds=150))
    with Store(db) as store:
        rep = build_report(store, "lending-risk", parse_week("2026-W47"), now=AFTER)
        rows = store.query("SELECT * FROM evaluations WHERE model = ?", ("lending-risk",))
    assert rep["verdict"]["status"] == "healthy", rep["verdict"]
    assert rep["incidents"] == []
    assert rep["volume"]["evaluations"] == len(rows) == 10  # 3000 predictions, 2000 reference, every 100
    assert rep["volume"]["predictions"] == 3000 == sum(r["predictions"] for r in rows)
    assert rep["quarantine"]["total"] == 3
    assert rep["quarantine"]["by_reason"] == {"bad_json": 1, "non_finite": 1, "wrong_type": 1}
    lines = len((tmp_path / "week.jsonl").read_bytes().splitlines())
    assert lines == 3 + 3000 + rep["volume"]["labels_joined"] + rep["volume"]["labels_unmatched"]
    assert rep["quarantine"]["ratio"] == 3 / lines
    assert rep["model_versions"] == ["1.4.0"]
    assert len(rep["policy"]["hashes_in_force"]) == 1
    ks = next(d for d in rep["detectors"] if d["detector"] == "ks_volatility")
    assert ks["section"] == "feature_drift" and ks["feature"] == "volatility_7d"
    p = next(s for s in ks["statistics"] if s["statistic"] == "p_value")
    assert p["rules"] == [{"rule": "VolatilityRegimeShift", "op": "<", "threshold": 1e-8, "min_samples": 500}]
    assert p["summary"]["breaches"] == {"VolatilityRegimeShift": 0}
    assert {d["detector"]: d["section"] for d in rep["detectors"]}["mae_risk"] == "performance"
    assert {d["detector"]: d["section"] for d in rep["detectors"]}["ks_prediction"] == "prediction_drift"
    # staleness at the end of the week: from the last evaluation to Monday 00:00
    last = datetime.fromisoformat(rep["volume"]["last_data_at"])
    assert rep["volume"]["staleness_seconds"] == (parse_week("2026-W47").end - last).total_seconds()


def test_records_outside_the_week_are_left_out_and_replays_add_nothing(tmp_path, demo_policy):
    # starts Sunday night of W46: the first evaluations fall in W46, the rest in W47
    db = _run(tmp_path, demo_policy, n=4000, drift_at=None, malformed=False,
              start=WEEK_START - timedelta(hours=4), step=timedelta(seconds=5))
    run(RunOptions(policy=demo_policy, source=tmp_path / "week.jsonl", store=db, quarantine=tmp_path / "q.jsonl",
                   progress=False))  # the same log again
    with Store(db) as store:
        w46 = build_report(store, "lending-risk", parse_week("2026-W46"), now=AFTER)
        w47 = build_report(store, "lending-risk", parse_week("2026-W47"), now=AFTER)
        total = store.query_one("SELECT COUNT(*) AS n FROM evaluations")["n"]
    assert w46["volume"]["evaluations"] > 0 and w47["volume"]["evaluations"] > 0
    assert w46["volume"]["evaluations"] + w47["volume"]["evaluations"] == total == 20
    # every prediction and every late label counted once, the replay included
    assert w46["volume"]["predictions"] + w47["volume"]["predictions"] == 4000
    assert w46["volume"]["labels_joined"] + w47["volume"]["labels_joined"] == 3200
    assert w46["volume"]["last_data_at"] < "2026-11-16T00:00:00Z" <= w47["volume"]["first_data_at"]


def test_a_week_without_data_says_so(tmp_path, demo_policy):
    db = _run(tmp_path, demo_policy, n=2500, drift_at=None, malformed=False, start=WEEK_START,
              step=timedelta(seconds=60))
    with Store(db) as store:
        files = write_report(store, "lending-risk", parse_week("2026-W50"), tmp_path / "out", now=AFTER)
    assert files.verdict == "no data"
    rep = json.loads(files.json_path.read_bytes())
    assert rep["verdict"]["status"] == "no data"
    assert "No evaluation of model lending-risk was recorded in 2026-W50" in rep["verdict"]["reasons"][0]
    html = files.html_path.read_text()
    assert "no data" in html and "No evaluation of model lending-risk" in html and "<img" not in html


def test_json_is_canonical_and_hash_is_keccak_of_its_bytes(tmp_path, demo_policy):
    db = _run(tmp_path, demo_policy, n=2600, drift_at=None, malformed=False, start=WEEK_START,
              step=timedelta(seconds=60))
    with Store(db) as store:
        a = write_report(store, "lending-risk", parse_week("2026-W47"), tmp_path / "a", now=AFTER)
        b = write_report(store, "lending-risk", parse_week("2026-W47"), tmp_path / "b", now=AFTER,
                         explorer_url="https://explorer.example")
    data = a.json_path.read_bytes()
    assert data == b.json_path.read_bytes()  # presentation options never change the hashed numbers
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert a.report_hash == report_hash(data) == file_hash(a.json_path)
    assert a.report_hash in a.html_path.read_text()
    with pytest.raises(ConfigError, match="covers the JSON"):
        file_hash(a.html_path)
    with pytest.raises(ConfigError, match="explorer-url"), Store(db) as store:
        write_report(store, "lending-risk", parse_week("2026-W47"), tmp_path / "c",
                     explorer_url='javascript:alert(1)')


def test_data_is_html_escaped_and_acks_are_shown(tmp_path, demo_policy):
    db = _run(tmp_path, demo_policy, n=5000, drift_at=3000, malformed=False, start=WEEK_START,
              step=timedelta(seconds=60))
    evil = '<script>alert("x")</script>'
    with Store(db) as store:
        inc = store.incidents("lending-risk")[0]
        store.execute("INSERT INTO incident_acks (incident_id, who, note, at) VALUES (?,?,?,?)",
                      (inc.id, "steward-ana", evil, 1_790_000_000.0))
        store.execute("UPDATE incidents SET rule = ? WHERE id = ?", (evil, inc.id))
        files = write_report(store, "lending-risk", parse_week("2026-W47"), tmp_path / "out", now=AFTER)
    html = files.html_path.read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    rep = json.loads(files.json_path.read_bytes())
    acked = next(i for i in rep["incidents"] if i["id"] == inc.id)["acknowledgements"]
    assert acked == [{"by": "steward-ana", "note": evil, "at": "2026-09-21T14:13:20Z"}]  # RFC 3339, as every time
    assert "steward-ana" in html


def test_weekly_job_writes_last_weeks_report_for_every_model(tmp_path, demo_policy):
    db = _run(tmp_path, demo_policy, n=2600, drift_at=None, malformed=False, start=WEEK_START,
              step=timedelta(seconds=60))
    files = weekly_report_job(db, demo_policy, tmp_path / "weekly", now=datetime(2026, 11, 23, 0, 5, tzinfo=UTC))
    assert [f.json_path.name for f in files] == ["lending-risk-2026-W47.json"]
    rep = json.loads(files[0].json_path.read_bytes())
    assert rep["policy"]["given"]["in_force"] is True
    assert rep["verdict"]["status"] == "healthy"


def test_every_comparison_of_a_compound_condition_is_recorded_as_a_threshold(tmp_path):
    policy = tmp_path / "lending.yaml"
    shutil.copyfile(rules.EXAMPLES_DIR / "lending.yaml", policy)
    db = _run(tmp_path, policy, n=2600, drift_at=None, malformed=False, start=WEEK_START,
              step=timedelta(seconds=60))
    with Store(db) as store:
        rep = build_report(store, "lending-risk", parse_week("2026-W47"), now=AFTER)
    ruled = {(d["detector"], s["statistic"]): s["rules"] for d in rep["detectors"] for s in d["statistics"]}
    # InputDriftConsensus is k_of_n over three KS p-values: each of them carries its comparison
    for det in ("ks_utilization", "ks_collateral_ratio", "ks_volatility"):
        assert {"rule": "InputDriftConsensus", "op": "<", "threshold": 1e-4} in [
            {k: r[k] for k in ("rule", "op", "threshold")} for r in ruled[(det, "p_value")]]


@pytest.mark.parametrize("snapshot_at, stop_at", [(4200, 4200), (3000, 4200)], ids=["clean-stop", "crash"])
def test_a_resumed_engine_counts_each_record_once(tmp_path, demo_policy, snapshot_at, stop_at):
    from watchdog.actions.responder import Responder
    from watchdog.engine.engine import Engine
    from watchdog.report.recorder import EvaluationRecorder

    log = tmp_path / "week.jsonl"
    write_log(str(log), n=3000, drift_at=None, seed=5, malformed=True, start=WEEK_START, step=timedelta(seconds=60))
    lines = log.read_bytes().splitlines()
    pol = rules.load_policy(demo_policy)
    with Store(tmp_path / "w.db") as store:
        first = Engine(pol, on_decision=Responder(store, None, clock=lambda: 1.0))
        first.observers.append(EvaluationRecorder(store))
        state = None
        for i, raw in enumerate(lines[:stop_at], 1):
            first.process_line(raw, i)
            if i == snapshot_at:
                state = first.snapshot()
        # a crash loses what came after the checkpoint; the new process re-reads from there
        second = Engine(pol, on_decision=Responder(store, None, clock=lambda: 1.0))
        recorder = EvaluationRecorder(store)
        second.observers.append(recorder)
        second.restore(state)
        recorder.rebase(second)
        for i, raw in enumerate(lines[snapshot_at:], snapshot_at + 1):
            second.process_line(raw, i)
        second.finish()
        rep = build_report(store, "lending-risk", parse_week("2026-W47"), now=AFTER)
    assert rep["volume"]["predictions"] == 3000
    assert rep["volume"]["labels_joined"] + rep["volume"]["labels_unmatched"] == 2400
    assert rep["quarantine"]["total"] == 3
