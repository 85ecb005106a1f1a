"""The recorder and the report on a real PostgreSQL store give the same JSON bytes as on SQLite."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

import rules
from tests.pg import start_postgres
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.report import parse_week, write_report
from watchdog.report.recorder import EvaluationRecorder
from watchdog.service.demo_data import write_log
from watchdog.service.runner import replay_file
from watchdog.store.store import Store

pytestmark = pytest.mark.e2e


def _fill(store: Store, log) -> None:
    with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
        policy = rules.load_policy(p)
    engine = Engine(policy, on_decision=Responder(store, None, clock=lambda: 1_795_000_000.0))
    engine.observers.append(EvaluationRecorder(store))
    replay_file(engine, log, io.BytesIO())


def test_same_report_bytes_on_sqlite_and_postgresql(tmp_path):
    log = tmp_path / "week.jsonl"
    write_log(str(log), n=5000, drift_at=3500, seed=21, malformed=True,
              start=datetime(2026, 11, 16, 1, tzinfo=UTC), step=timedelta(seconds=110))
    week, now = parse_week("2026-W47"), datetime(2026, 12, 1, tzinfo=UTC)
    with Store(tmp_path / "w.db") as lite:
        _fill(lite, log)
        a = write_report(lite, "lending-risk", week, tmp_path / "sqlite", now=now)
    with start_postgres() as pg, Store(pg.create_database("report")) as store:  # fails loudly without PostgreSQL
        _fill(store, log)
        b = write_report(store, "lending-risk", week, tmp_path / "pg", now=now)
    assert a.verdict == "incident"
    assert a.json_path.read_bytes() == b.json_path.read_bytes()
    assert a.report_hash == b.report_hash
