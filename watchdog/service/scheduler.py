"""What time alone triggers: time-based conditions, checkpoints, the weekly report, heartbeats.

Jobs follow the APScheduler 3.x user guide: each is an importable module-level function
(``watchdog.scheduler:job_<id>``) added with an explicit ``id``, ``replace_existing=True``,
``coalesce=True``, ``max_instances=1`` and a ``misfire_grace_time``. The job functions only read the
clock and hand ``now`` to the logic functions below, which tests call with frozen times:

==================  =====================================  ==========================================
job id              trigger                                logic
==================  =====================================  ==========================================
``time_conditions`` every ``tick_seconds``                 :func:`evaluate_time_conditions`: ``Engine.tick(now)``
``checkpoint``      every ``checkpoint_seconds``           the runtime's ``checkpoint(now)``
``weekly_report``   Mondays 00:05 UTC                      :func:`weekly_report`: ``watchdog.report.weekly_report_job``
``heartbeat``       every ``heartbeat_seconds`` (chain)    :func:`heartbeat`: ``ModelMonitor.heartbeat(bytes32)``
``outbox``          every ``outbox_seconds`` (chain)       the runtime's ``process_outbox(now)``: receipts,
                                                           confirmations, stuck transactions
``quorum``          every ``quorum_seconds`` (chain)       :func:`watch_quorums`: ``QuorumWatch.poll(now)``
                                                           (watchdog/actions/quorum.py): the operators' k-of-n
                                                           votes, ``vote_disagreement`` alerts, pending quorums
==================  =====================================  ==========================================

Every run is recorded in the store's ``job_runs`` table (last run, next run, outcome, error), so
``watchdog status`` and ``GET /v1/status`` can show the jobs of a running watchdog from the store alone:
:func:`scheduler_jobs` reads them.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from watchdog.fmt import iso_utc
from watchdog.store.store import Store

log = logging.getLogger("watchdog.scheduler")

ZERO_HASH = b"\x00" * 32
JOB_IDS = ("time_conditions", "checkpoint", "weekly_report", "heartbeat", "outbox", "quorum")


class JobRuntime(Protocol):
    """What the jobs act on (``watchdog serve`` provides it)."""

    store: Store
    engine: Any
    engine_lock: Any
    policy: Any
    monitor: Any  # MonitorClient or None
    signer_status: Any  # SignerStatus (the key's funds) or None
    report_dir: Path
    replaying: Any  # the sources still reading their backlog (a set of names; empty once caught up)

    def checkpoint(self, now: float) -> Any: ...


# logic: takes `now`, never reads the clock ------------------------------------------------------


def evaluate_time_conditions(engine: Any, now: datetime, lock: Any = None) -> bool:
    """Let the engine evaluate what depends on time alone (staleness, volume); False without the hook."""
    tick = getattr(engine, "tick", None)
    if tick is None:
        return False
    if lock is None:
        tick(now)
    else:
        with lock:
            tick(now)
    return True


def weekly_report(store: Store, policy: Any, out_dir: Path, now: datetime) -> str:
    """Write last week's report for every model; returns the outcome (``skipped`` without the report package)."""
    try:
        from watchdog.report import weekly_report_job
    except ImportError as e:
        log.info("weekly_report_skipped", extra={"why": f"watchdog.report is not available: {e}"})
        return "skipped"
    files = weekly_report_job(store, policy, out_dir, now)
    return f"ok: {len(files)} report(s) in {out_dir}"


def heartbeat(monitor: Any, now: datetime, report_hash: bytes = ZERO_HASH) -> str:
    """Prove on-chain that the watchdog is alive (``heartbeat(bytes32)``); ``skipped`` without a signer."""
    if monitor is None or getattr(monitor, "signer", None) is None:
        return "skipped"
    res = monitor.transact("heartbeat", report_hash)
    log.info("heartbeat_mined", extra={"tx_hash": res.tx_hash, "block": res.block_number, "at": now.isoformat()})
    return f"ok: tx {res.tx_hash} block {res.block_number}"


def watch_quorums(watch: Any, now: datetime) -> str:
    """Poll the k-of-n watch at ``now`` (votes, disagreements, pending quorums); ``skipped`` without one.

    No engine lock: the watch only reads the chain and writes the notes of ``voted`` actions, which the outbox
    never steps again, so ingestion does not wait on these reads."""
    if watch is None:
        return "skipped"
    return str(watch.poll(now.timestamp()))


# job runs in the store ---------------------------------------------------------------------------


def record_run(store: Store, job_id: str, *, last_run: float | None, next_run: float | None,
               outcome: str, error: str | None = None, counted: bool = True) -> None:
    """Upsert one job's row in ``job_runs`` (``counted=False``: only announce the next run)."""
    failed = 1 if outcome == "error" else 0
    runs = 1 if counted else 0
    store.execute(
        "INSERT INTO job_runs (job_id, last_run, next_run, outcome, error, runs, failures) VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT (job_id) DO UPDATE SET last_run = COALESCE(excluded.last_run, job_runs.last_run),"
        " next_run = excluded.next_run, outcome = excluded.outcome, error = excluded.error,"
        " runs = job_runs.runs + excluded.runs, failures = job_runs.failures + excluded.failures",
        (job_id, last_run, next_run, outcome, error, runs, failed),
    )


def scheduler_jobs(store_or_config: Store | str | Path) -> list[dict[str, Any]]:
    """The scheduler's jobs as last recorded: ``id``, ``last_run``, ``next_run`` (ISO 8601 UTC or None),
    ``outcome``, ``error``, ``runs``, ``failures``. Takes a Store, or a store path or URL."""
    if isinstance(store_or_config, Store):
        return _jobs(store_or_config)
    with Store(store_or_config) as s:
        return _jobs(s)


def describe_jobs(jobs: list[dict[str, Any]]) -> list[str]:
    """One line per job for ``watchdog status``: ``job checkpoint: last 2026-...Z ok, next 2026-...Z (12 runs)``."""
    out = []
    for j in jobs:
        last = f"last {j['last_run']} {j['outcome']}" if j["last_run"] else "not run yet"
        err = f" [{j['error']}]" if j["error"] else ""
        out.append(f"job {j['id']}: {last}{err}, next {j['next_run'] or '-'} "
                   f"({j['runs']} runs, {j['failures']} failed)")
    return out


def _jobs(store: Store) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM job_runs ORDER BY job_id")
    return [{"id": r["job_id"], "last_run": iso_utc(r["last_run"]), "next_run": iso_utc(r["next_run"]),
             "outcome": r["outcome"], "error": r["error"], "runs": int(r["runs"]), "failures": int(r["failures"])}
            for r in rows]


# the APScheduler edge --------------------------------------------------------------------------

_ACTIVE: Scheduler | None = None


def _run(job_id: str, logic: Callable[[JobRuntime, datetime], str]) -> None:
    sched = _ACTIVE
    if sched is None:
        log.warning("job_without_runtime", extra={"job": job_id})
        return
    sched.run_job(job_id, logic, datetime.now(UTC))


def _time_conditions(rt: JobRuntime, now: datetime) -> str:
    # While a source still reads its backlog, the records' data times lag the wall clock by the backlog's age:
    # a tick then would call a healthy feed stale at once. The records' own times drive the evaluation then.
    behind = sorted(rt.replaying)
    if behind:
        return f"deferred: {', '.join(behind)} still reading its backlog"
    return "ok" if evaluate_time_conditions(rt.engine, now, rt.engine_lock) else "skipped"


def _checkpoint(rt: JobRuntime, now: datetime) -> str:
    res = rt.checkpoint(now.timestamp())
    return "ok" if res is None else f"ok: {res}"


def _weekly_report(rt: JobRuntime, now: datetime) -> str:
    return weekly_report(rt.store, rt.policy, rt.report_dir, now)


def _heartbeat(rt: JobRuntime, now: datetime) -> str:
    # Under the engine's lock: the outbox signs actions under it too, so the two never race for a nonce.
    with rt.engine_lock:
        outcome = heartbeat(rt.monitor, now)
        if rt.signer_status is not None:
            rt.signer_status.refresh()  # the key's funds, for /metrics (a ChainError keeps the old values)
        return outcome


def job_time_conditions() -> None:
    _run("time_conditions", _time_conditions)


def job_checkpoint() -> None:
    _run("checkpoint", _checkpoint)


def job_weekly_report() -> None:
    _run("weekly_report", _weekly_report)


def job_heartbeat() -> None:
    _run("heartbeat", _heartbeat)


def _outbox(rt: JobRuntime, now: datetime) -> str:
    return str(rt.process_outbox(now.timestamp()))  # type: ignore[attr-defined]


def job_outbox() -> None:
    _run("outbox", _outbox)


def _quorum(rt: JobRuntime, now: datetime) -> str:
    return watch_quorums(_ACTIVE.quorum_watch if _ACTIVE is not None else None, now)


def job_quorum() -> None:
    _run("quorum", _quorum)


@dataclass
class ScheduleConfig:
    tick_seconds: float = 10.0
    checkpoint_seconds: float = 30.0
    heartbeat_seconds: float | None = 3600.0  # None: no heartbeat job
    outbox_seconds: float = 5.0
    quorum_seconds: float | None = 5.0  # None: no quorum job
    weekly_report: bool = True
    misfire_grace_seconds: int = 60
    extra: dict[str, Any] = field(default_factory=dict)


class Scheduler:
    """An APScheduler ``BackgroundScheduler`` running the jobs above against one runtime."""

    def __init__(self, runtime: JobRuntime, config: ScheduleConfig | None = None,
                 clock: Callable[[], float] = time.time):
        from apscheduler.schedulers.background import BackgroundScheduler

        self.runtime = runtime
        self.config = config or ScheduleConfig()
        self.clock = clock
        self.aps = BackgroundScheduler(timezone=UTC)
        self.quorum_watch: Any = None  # watchdog.actions.quorum.QuorumWatch with a monitor
        self._add_jobs()

    def _add_jobs(self) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        c = self.config
        common = {"replace_existing": True, "coalesce": True, "max_instances": 1,
                  "misfire_grace_time": c.misfire_grace_seconds}
        self.aps.add_job("watchdog.service.scheduler:job_time_conditions", IntervalTrigger(seconds=c.tick_seconds),
                         id="time_conditions", name="time-based conditions (staleness, volume)", **common)
        self.aps.add_job("watchdog.service.scheduler:job_checkpoint", IntervalTrigger(seconds=c.checkpoint_seconds),
                         id="checkpoint", name="engine checkpoint with source offsets", **common)
        if c.weekly_report:
            self.aps.add_job("watchdog.service.scheduler:job_weekly_report",
                             CronTrigger(day_of_week="mon", hour=0, minute=5, timezone=UTC),
                             id="weekly_report", name="weekly model health report", **common)
        if c.heartbeat_seconds and self.runtime.monitor is not None:
            self.aps.add_job("watchdog.service.scheduler:job_heartbeat", IntervalTrigger(seconds=c.heartbeat_seconds),
                             id="heartbeat", name="on-chain heartbeat", **common)
        if self.runtime.monitor is not None and hasattr(self.runtime, "process_outbox"):
            self.aps.add_job("watchdog.service.scheduler:job_outbox", IntervalTrigger(seconds=c.outbox_seconds),
                             id="outbox", name="on-chain actions in flight", **common)
        if c.quorum_seconds and self.runtime.monitor is not None:
            self.quorum_watch = make_quorum_watch(self.runtime)
            self.aps.add_job("watchdog.service.scheduler:job_quorum", IntervalTrigger(seconds=c.quorum_seconds),
                             id="quorum", name="k-of-n pause votes of every operator", **common)

    def pending_quorums(self) -> list[dict[str, Any]]:
        """The k-of-n incidents awaiting votes as the ``quorum`` job last saw them (for ``GET /v1/status``)."""
        watch = self.quorum_watch
        if watch is None:
            return []
        return [{"module": p.module, "incident_id": p.incident_id, "quorum": p.quorum, "votes": p.votes,
                 "vote_window_seconds": p.vote_window, "first_evidence_hash": p.first_evidence_hash,
                 "counting": {ev: list(ops) for ev, ops in p.counting.items()}, "disagreeing": list(p.disagreeing)}
                for p in watch.pending]

    def jobs(self) -> list[dict[str, Any]]:
        """The jobs as APScheduler sees them now (id, name, trigger, next run)."""
        return [{"id": j.id, "name": j.name, "trigger": str(j.trigger),
                 "next_run": j.next_run_time.isoformat() if getattr(j, "next_run_time", None) else None}
                for j in self.aps.get_jobs()]

    def start(self) -> None:
        global _ACTIVE
        _ACTIVE = self
        self.aps.start()
        for j in self.aps.get_jobs():
            record_run(self.runtime.store, j.id, last_run=None, next_run=_ts(j.next_run_time),
                       outcome="scheduled", counted=False)

    def shutdown(self, wait: bool = True) -> None:
        global _ACTIVE
        if self.aps.running:
            self.aps.shutdown(wait=wait)
        if _ACTIVE is self:
            _ACTIVE = None

    def run_job(self, job_id: str, logic: Callable[[JobRuntime, datetime], str], now: datetime) -> str:
        """Run one job's logic at ``now`` and record the run; an exception is recorded, never raised."""
        error = None
        try:
            outcome = logic(self.runtime, now)
        except Exception as e:  # a failing job must not kill the scheduler; the error is kept
            outcome, error = "error", f"{type(e).__name__}: {e}"
            log.error("job_failed", extra={"job": job_id, "error": error,
                                           "trace": traceback.format_exc(limit=5)})
        job = self.aps.get_job(job_id) if self.aps.running else None
        try:
            record_run(self.runtime.store, job_id, last_run=now.timestamp(),
                       next_run=_ts(getattr(job, "next_run_time", None)), outcome=outcome, error=error)
        except Exception:
            log.exception("job_run_not_recorded", extra={"job": job_id})
        return outcome


def make_quorum_watch(rt: JobRuntime) -> Any:
    """The runtime's k-of-n watch: its alerts go to the responder's listeners, its numbers to ``/metrics``."""
    from watchdog.actions.quorum import QuorumWatch

    responder = getattr(rt, "responder", None)
    listeners = responder.listeners if responder is not None else []  # the same list: later listeners hear too
    watch = QuorumWatch(rt.monitor, rt.store, listeners=listeners)
    metrics = getattr(rt, "metrics", None)
    if metrics is not None and hasattr(metrics, "attach_quorum"):
        metrics.attach_quorum(watch)
    return watch


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()
