"""Scheduler jobs: logic called with frozen times (no sleeping), runs recorded in the store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

import rules
from watchdog.engine import checkpoint
from watchdog.engine.engine import Engine
from watchdog.service import scheduler
from watchdog.service.scheduler import ScheduleConfig, Scheduler, scheduler_jobs
from watchdog.store.store import Store

DATA = Path(str(resources.files("watchdog").joinpath("data")))
NOW = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)  # a Monday


class Runtime:
    """The objects jobs act on, as `watchdog serve` wires them."""

    def __init__(self, store: Store, monitor=None):
        self.store = store
        self.policy = rules.load_policy(DATA / "demo_policy.yaml")
        self.engine = Engine(self.policy, base_dir=DATA)
        self.engine_lock = threading.Lock()
        self.monitor = monitor
        self.report_dir = Path(store.path).parent / "reports"
        self.replaying: set[str] = set()
        self.checkpoints: list[float] = []

    def checkpoint(self, now: float) -> None:
        with self.engine_lock:
            checkpoint.save(self.store, self.engine, {"x.jsonl": '{"offset": 0}'}, now)
        self.checkpoints.append(now)


@pytest.fixture
def runtime(tmp_path):
    with Store(tmp_path / "w.db") as s:
        yield Runtime(s)


def test_jobs_follow_the_house_rules(runtime):
    sched = Scheduler(runtime, ScheduleConfig(tick_seconds=5, checkpoint_seconds=7))
    jobs = {j.id: j for j in sched.aps.get_jobs()}
    assert set(jobs) == {"time_conditions", "checkpoint", "weekly_report"}  # no chain: no heartbeat
    for j in jobs.values():
        assert (j.coalesce, j.max_instances, j.misfire_grace_time) == (True, 1, 60)
        assert j.func_ref.startswith("watchdog.service.scheduler:job_")
    assert "day_of_week='mon'" in str(jobs["weekly_report"].trigger)


def test_started_scheduler_announces_its_jobs_in_the_store(runtime):
    sched = Scheduler(runtime, ScheduleConfig(tick_seconds=3600, checkpoint_seconds=3600))
    sched.start()
    try:
        jobs = {j["id"]: j for j in scheduler_jobs(runtime.store)}
        assert set(jobs) == {"time_conditions", "checkpoint", "weekly_report"}
        assert all(j["outcome"] == "scheduled" and j["next_run"] and j["runs"] == 0 for j in jobs.values())
        assert {j["id"] for j in sched.jobs()} == set(jobs)
    finally:
        sched.shutdown()
    assert scheduler._ACTIVE is None


def test_a_job_run_at_a_frozen_time_is_recorded(runtime, tmp_path):
    sched = Scheduler(runtime)
    assert sched.run_job("checkpoint", scheduler._checkpoint, NOW) == "ok"
    assert runtime.checkpoints == [NOW.timestamp()]
    assert checkpoint.load(runtime.store).taken_at == NOW.timestamp()
    (job,) = scheduler_jobs(str(tmp_path / "w.db"))  # also from a path, as `watchdog status` would
    assert job == {"id": "checkpoint", "last_run": "2026-11-23T00:05:00Z", "next_run": None, "outcome": "ok",
                   "error": None, "runs": 1, "failures": 0}
    assert scheduler.describe_jobs([job]) == [
        "job checkpoint: last 2026-11-23T00:05:00Z ok, next - (1 runs, 0 failed)"]


def test_a_failing_job_is_recorded_and_does_not_raise(runtime):
    sched = Scheduler(runtime)

    def broken(rt, now):
        raise RuntimeError("disk full")

    assert sched.run_job("checkpoint", broken, NOW) == "error"
    sched.run_job("checkpoint", broken, NOW)
    (job,) = scheduler_jobs(runtime.store)
    assert (job["outcome"], job["error"], job["runs"], job["failures"]) == ("error", "RuntimeError: disk full", 2, 2)


def test_time_conditions_reach_the_engine_with_the_given_time(runtime):
    seen: list[datetime] = []
    runtime.engine.tick_hooks.append(lambda engine, now: seen.append(now))
    assert scheduler.evaluate_time_conditions(runtime.engine, NOW, runtime.engine_lock)
    assert seen == [NOW]
    assert not scheduler.evaluate_time_conditions(object(), NOW)  # an engine without the hook


def test_no_clock_tick_while_a_source_reads_its_backlog(runtime):
    """A backlog's records are hours old: a tick with the wall clock would call the feed stale while it pours in
    (issue #16, item 14). The job waits until every source has caught up, then ticks."""
    seen: list[datetime] = []
    runtime.engine.tick_hooks.append(lambda engine, now: seen.append(now))
    runtime.replaying = {"records.jsonl"}
    assert scheduler._time_conditions(runtime, NOW) == "deferred: records.jsonl still reading its backlog"
    assert seen == []
    runtime.replaying.clear()
    assert scheduler._time_conditions(runtime, NOW) == "ok" and seen == [NOW]


def test_heartbeat_without_a_signer_is_skipped():
    assert scheduler.heartbeat(None, NOW) == "skipped"


def test_weekly_report_job_writes_last_weeks_reports(runtime, tmp_path):
    outcome = scheduler.weekly_report(runtime.store, runtime.policy, tmp_path / "reports", NOW)
    assert outcome.startswith("ok: 1 report(s)")
    assert any(p.suffix == ".html" for p in (tmp_path / "reports").iterdir())


@pytest.mark.e2e
def test_heartbeat_is_mined_on_anvil():
    from web3 import Web3

    from tests.anvil import start_anvil
    from watchdog.actions.chain import MonitorClient, Signer, deploy_monitor

    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        address = deploy_monitor(w3, Signer.from_key(node.accounts[0].private_key),
                                 watchdogs=(node.accounts[3].address,))
        client = MonitorClient(w3, address, Signer.from_key(node.accounts[3].private_key))
        outcome = scheduler.heartbeat(client, NOW)
        assert outcome.startswith("ok: tx 0x")
        assert client.contract.functions.lastHeartbeatBy().call() == node.accounts[3].address
        assert client.contract.functions.lastHeartbeatAt().call() > 0


def test_jobs_command_lists_the_recorded_jobs(runtime, tmp_path, capsys):
    from watchdog.cli import main

    Scheduler(runtime).run_job("checkpoint", scheduler._checkpoint, NOW)
    assert main(["jobs", "--store", str(tmp_path / "w.db")]) == 0
    assert capsys.readouterr().out.strip() == "job checkpoint: last 2026-11-23T00:05:00Z ok, next - (1 runs, 0 failed)"
    assert main(["jobs", "--store", str(tmp_path / "missing.db")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_status_shows_the_scheduled_jobs_recorded_in_the_store(tmp_path, capsys):
    from watchdog.cli import main
    from watchdog.service.scheduler import record_run
    from watchdog.store.store import Store

    store = tmp_path / "w.db"
    with Store(store) as s:
        record_run(s, "checkpoint", last_run=1_795_000_000.0, next_run=1_795_000_030.0, outcome="ok")
        record_run(s, "weekly_report", last_run=1_795_000_000.0, next_run=None, outcome="error", error="disk full")
    policy = Path(str(resources.files("watchdog").joinpath("data", "demo_policy.yaml")))
    assert main(["status", "--policy", str(policy), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "scheduled jobs (from watchdog serve):" in out
    assert "job checkpoint: last 2026-" in out and "ok" in out
    assert "job weekly_report: last" in out and "[disk full]" in out and "1 failed" in out
