"""``watchdog serve``: one long-running process with the engine, its sources, the HTTP API and the scheduler.

    watchdog serve --policy P [--source records.jsonl [--source more.jsonl ...]]
                   [--rpc-url URL --monitor ADDRESS [--key-file K]] [--dry-run]
                   [--store watchdog.db | postgresql://user@host:5432/db] [--http 127.0.0.1:8080 | off]

JSON Lines sources are followed like ``tail -F``; Parquet and CSV files are replayed once; with
``--http`` no ``--source`` is needed (records come by ``POST /v1/records``). With ``--http off``,
once every source is read to its end (``--no-follow``, or only tables) the service checkpoints and
exits 0. At start
the last checkpoint of ``--instance`` is restored (detectors, rule states, label join, pending batch)
and every source resumes from the position saved with it, so the records after it are read again,
never skipped. Checkpoints are taken every ``--checkpoint-interval`` seconds (when something
changed), when a replayed file ends, and at exit.
SIGTERM (or Ctrl-C) stops reading after the current batch, takes a checkpoint and exits 0. After a
SIGKILL, starting again is enough.

Records taken by ``POST /v1/records`` are written (fsync) to a spool in ``--spool-dir`` before they
are processed or answered (:mod:`watchdog.sources.spool`); the spool's position is saved with every
checkpoint like a file's offset, at start the records after it are processed again before the API
takes new ones, and the segments before it are deleted once the checkpoint is committed.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from watchdog.commands.options import add_signer_arguments, address, signer_options
from watchdog.errors import ConfigError, StartupError
from watchdog.ingest.sources.spool import DEFAULT_SEGMENT_BYTES
from watchdog.observe import notify
from watchdog.service import http_limits
from watchdog.store.store import DEFAULT_INSTANCE

log = logging.getLogger("watchdog.serve")

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log")
TABLE_SUFFIXES = (".parquet", ".csv")
TABLE_BATCH_ROWS = 65_536  # rows per batch: the engine lock is free for checkpoints between batches
HTTP_SOURCE = "http"  # the spool's name among the checkpointed positions


_addr = address("--http", "127.0.0.1:8080")


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def _segment_bytes(text: str) -> int:
    if not text.isdigit() or int(text) < 1024:
        raise argparse.ArgumentTypeError(f"--spool-segment-bytes must be a whole number of at least 1024, got {text!r}")
    return int(text)


def spool_owner(store: Any, instance: str) -> dict[str, Any]:
    """Who a spool belongs to: this store (a SQLite file by its absolute path, PostgreSQL by its URL without
    password, which names the database) as created (its first migration's time: a store deleted and made
    again is another store), and the instance."""
    where = store.path if store.backend != "sqlite" or store.path == ":memory:" else str(Path(store.path).resolve())
    row = store.query_one("SELECT MIN(applied_at) AS created FROM schema_migrations")
    return {"store": where, "created": row["created"] if row else None, "instance": instance}


def spool_dir(args: argparse.Namespace, owner: dict[str, Any], checkpointed: bool = False) -> Path:
    """``--spool-dir``, or by default ``spool/<instance>`` next to a SQLite store (in the working directory for
    a PostgreSQL store) when that spool is this store's or nobody's; a spool of another store there (a
    second store in the same folder, or the spool of a store since deleted) is left alone, and this store's
    spool is ``spool/<instance>-<digest of its owner>``.

    A spool from before spools had owners is this store's only when its checkpoint has a spool position
    (``checkpointed``).
    """
    if args.spool_dir:
        return Path(args.spool_dir)
    import hashlib

    from watchdog.ingest.sources.spool import read_owner
    from watchdog.store.db import is_postgres_url

    base = Path(".") if is_postgres_url(args.store) else Path(args.store).parent
    name = re.sub(r"[^A-Za-z0-9._-]", "_", args.instance)
    plain = base / "spool" / name
    found = read_owner(plain)
    if found == owner or (found is None and (not plain.exists() or checkpointed)):
        return plain
    digest = hashlib.sha256(orjson.dumps(owner, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
    return base / "spool" / f"{name}-{digest}"


def bind_http(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` for the HTTP API, or a :class:`ConfigError` saying why not.

    ``serve`` binds it before it restores a checkpoint or replays its spool, so a busy port fails in a
    moment, not after minutes of work; connections that arrive meanwhile wait in the backlog.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        raise ConfigError(f"--http {host}:{port}: the host cannot be resolved ({e.strerror or e}).") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ConfigError(f"--http {host}:{port} cannot be served: {e.strerror or e}; is another watchdog (or "
                          "another program) listening there? Choose another address, or 'off'.") from None
    sock.set_inheritable(False)
    return sock


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run as a service: sources, engine, HTTP API, scheduler; resumes after a restart")
    p.add_argument("--policy", required=True)
    p.add_argument("--source", action="append", default=[],
                   help="JSON Lines file (followed like tail -F), or a Parquet or CSV file (replayed once); "
                        "repeat for several; none is needed with --http (records by POST /v1/records)")
    p.add_argument("--no-follow", action="store_true",
                   help="read JSON Lines files (and the oracle) to their end, then only serve the API; "
                        "with --http off, checkpoint and exit 0")
    p.add_argument("--oracle", help="address of an oracle contract whose Prediction/Label events are a source")
    p.add_argument("--oracle-rpc-url", help="JSON-RPC endpoint for the oracle (default: the first --rpc-url)")
    p.add_argument("--oracle-confirmations", type=int, default=12,
                   help="blocks on top of a block before its events are read (default: %(default)s)")
    p.add_argument("--oracle-from-block", type=int, default=0, help="first block without a saved position")
    p.add_argument("--rpc-url", action="append", help="JSON-RPC endpoint; repeat for failover")
    p.add_argument("--monitor", help="address of the deployed ModelMonitor")
    p.add_argument("--key-file",
                   help="encrypted JSON keystore (password from WATCHDOG_KEY_PASSWORD or --key-password-file)")
    p.add_argument("--key-password-file")
    p.add_argument("--dry-run", action="store_true", help="evaluate and record everything, send nothing on-chain")
    p.add_argument("--max-fee-gwei", type=float, default=500.0)
    p.add_argument("--store", default="watchdog.db",
                   help="SQLite file or postgresql://user@host:port/db URL (default: %(default)s)")
    p.add_argument("--instance", default=DEFAULT_INSTANCE,
                   help="name of this watchdog's checkpoint in a shared store (default: %(default)s)")
    p.add_argument("--quarantine", default="quarantine.jsonl", help="where invalid records go (default: %(default)s)")
    p.add_argument("--http", type=_addr, default=_addr("127.0.0.1:8080"),
                   help="host:port of the HTTP API (and /metrics), or 'off' (default: 127.0.0.1:8080)")
    p.add_argument("--http-header-timeout", type=_positive, default=10.0,
                   help="seconds a client has to send a request's headers, from its connection or its previous "
                        "response; then it is closed (408 if part came) (default: %(default)s)")
    p.add_argument("--http-body-timeout", type=_positive, default=30.0,
                   help="seconds a client has to send a request's body once its headers came; then 408 and "
                        "closed (default: %(default)s)")
    p.add_argument("--http-max-connections", type=http_limits.connections_arg, default=512,
                   help="open HTTP connections; past it the oldest idle one is closed to let a new one in, or "
                        "with none idle the new one is refused (503); lowered to fit the open-file limit, "
                        "ulimit -n (default: %(default)s)")
    p.add_argument("--api-token-file", help="bearer tokens for /v1/, one a line (or WATCHDOG_API_TOKENS)")
    p.add_argument("--spool-dir", help="where records taken by POST /v1/records are written before they are "
                                        "processed (default: spool/INSTANCE next to a SQLite store, or in the "
                                        "working directory)")
    p.add_argument("--spool-segment-bytes", type=_segment_bytes, default=DEFAULT_SEGMENT_BYTES,
                   help="the spool starts a new segment file after this many bytes (default: %(default)s)")
    p.add_argument("--checkpoint-interval", type=_positive, default=30.0, help="seconds (default: %(default)s)")
    p.add_argument("--tick-interval", type=_positive, default=10.0,
                   help="seconds between evaluations of time-based conditions (default: %(default)s)")
    p.add_argument("--heartbeat-interval", type=float, default=3600.0,
                   help="seconds between on-chain heartbeats, 0 for none (default: %(default)s)")
    p.add_argument("--report-dir", default="reports", help="where the weekly reports go (default: %(default)s)")
    p.add_argument("--poll-interval", type=_positive, default=0.5,
                   help="seconds between polls of an idle source (default: %(default)s)")
    notify.add_arguments(p)
    add_signer_arguments(p)
    p.add_argument("--public-evidence", action="store_true",
                   help="serve GET /evidence/{incident} without a token (read only), so an alert's evidence link "
                        "opens for the person paged")
    p.set_defaults(func=cmd_serve)

    j = sub.add_parser("jobs",
                       help="the scheduled jobs of a watchdog serve, from its store: last run, outcome, next run")
    j.add_argument("--store", default="watchdog.db", help="SQLite file or postgresql:// URL (default: %(default)s)")
    j.set_defaults(func=cmd_jobs)


def cmd_jobs(args: argparse.Namespace) -> int:
    from watchdog.service.scheduler import describe_jobs, scheduler_jobs
    from watchdog.store.db import is_postgres_url

    if not is_postgres_url(args.store) and not Path(args.store).is_file():
        raise ConfigError(f"The store {args.store} does not exist; give the --store of the running watchdog.")
    jobs = scheduler_jobs(args.store)
    print("\n".join(describe_jobs(jobs)) if jobs else "no job has been scheduled in this store yet")
    return 0


class FairLock:
    """A re-entrant lock granted in the order it was asked for.

    The engine's lock is taken by the source threads batch after batch, and by the checkpoint job and
    the HTTP ingest in between; Python's own locks let a thread that releases and re-acquires at
    once win again and again, which would starve checkpoints for as long as a backlog lasts.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[int] = deque()
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._count += 1
                return True
            if self._owner is None and not self._queue:
                self._owner, self._count = me, 1
                return True
            if not blocking:
                return False
            self._queue.append(me)
            try:
                ok = self._cond.wait_for(lambda: self._owner is None and self._queue[0] == me,
                                         None if timeout < 0 else timeout)
                if ok:
                    self._owner, self._count = me, 1
                return ok
            finally:
                self._queue.remove(me)
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("FairLock released by a thread that does not hold it")
            self._count -= 1
            if self._count == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Service:
    """The objects of one running watchdog and the threads that drive them."""

    def __init__(self, args: argparse.Namespace, clock: Any = time.time):
        self.args = args
        self.clock = clock
        self.stop = threading.Event()
        self.engine_lock = FairLock()
        self.positions: dict[str, str] = {}
        self.records = 0
        self.dirty = False
        self.report_dir = Path(args.report_dir)
        self.threads: list[threading.Thread] = []
        self.failed: list[BaseException] = []
        self.server: Any = None
        self.http_socket: socket.socket | None = None
        self.http_thread: threading.Thread | None = None
        self.scheduler: Any = None
        self.store: Any = None
        self.monitor: Any = None
        self.replaying: set[str] = set()  # sources still reading their backlog (no clock ticks meanwhile)
        self.quarantine: Any = None
        self.spool: Any = None
        self.spool_lock: Any = None
        self.restored = False
        self.poisoned = False
        self.recorder: Any = None
        self.reloader: Any = None
        self.close_notify: Any = None
        self.parts: Any = None  # the composed components (watchdog.service.compose)
        self.signer_status: Any = None

    # start -----------------------------------------------------------------------------------------

    def start(self) -> None:
        # web3, pyarrow, the engine: loaded when serving, not for `watchdog --help`
        from watchdog.service.compose import RunOptions, compose, load_policy_or_refuse

        a = self.args
        policy_path = Path(a.policy)
        opts = RunOptions(policy=policy_path, source=Path(a.source[0] if a.source else "-"), rpc_url=a.rpc_url,
                          monitor=a.monitor, key_file=a.key_file, key_password_file=a.key_password_file,
                          store=a.store, dry_run=a.dry_run, max_fee_gwei=a.max_fee_gwei, **notify.options(a),
                          **signer_options(a))
        self.policy = load_policy_or_refuse(policy_path)  # refused before the sources are looked at
        notify.warn_if_evidence_needs_a_token(a.evidence_url, a.http, a.public_evidence)  # a 401 for the paged
        self.sources = self._sources()
        if a.http is not None:  # bound before the checkpoint and the spool are read: a busy port fails at once
            self.http_socket = bind_http(*a.http)
        # a live service knows the time: records stamped too far ahead of it are quarantined
        parts = compose(opts, clock=self.clock, on_reload=self._reloaded, policy=self.policy)
        self.parts = parts
        self.policy, self.metrics, self.store, self.monitor = parts.policy, parts.metrics, parts.store, parts.monitor
        self.responder, self.engine, self.recorder = parts.responder, parts.engine, parts.recorder
        self.close_notify, self.reloader = parts.close_notify, parts.reloader
        self.signer_status = parts.signer_status  # refreshed by the heartbeat job
        # SIGHUP reloads the policy between batches; a bad one is refused and the old one keeps running
        self.reloader.install()
        from watchdog.engine import checkpoint

        try:
            cp = checkpoint.resume(self.store, self.engine, a.instance)
        except checkpoint.CheckpointError as e:
            raise StartupError(
                f"The checkpoint of instance {a.instance!r} in the store cannot be restored ({e}); start "
                "with another --instance, or delete that checkpoint to read the sources from their start."
            ) from None
        self.restored = True  # from here on, a checkpoint holds at least what the store held
        if cp is not None:
            if self.recorder is not None:
                self.recorder.rebase(self.engine)  # volume totals carry on from the last recorded evaluation
            if cp.policy_hash != self.policy.hash:
                log.warning("checkpoint_policy_changed", extra={"was": cp.policy_hash, "now": self.policy.hash})
            self.positions = dict(cp.positions)
            self.records = cp.records
        Path(a.quarantine).parent.mkdir(parents=True, exist_ok=True)
        from watchdog.service.runner import QuarantineWriter

        # what the quarantine holds already (records re-read after a SIGKILL) is not written again
        self.quarantine = QuarantineWriter(a.quarantine)  # open while serving, closed by shutdown()
        replayed = self._open_spool()
        self.store.audit(self.clock(), "serve_started", {
            "instance": a.instance, "sources": [s.name for s in self.sources], "dry_run": a.dry_run,
            "resumed": cp is not None, "records": self.records, "positions": self.positions,
            "spool_replayed": replayed}, policy_hash=self.policy.hash)
        log.info("serve_started", extra={"instance": a.instance, "resumed": cp is not None, "records": self.records})
        self.replaying.update(s.name for s in self.sources)  # before the first tick: each reads its backlog first
        self._start_scheduler()
        if a.http is not None:
            self._start_api(*a.http)
        for src in self.sources:
            t = threading.Thread(target=self._pump, args=(src,), name=f"source-{src.name}", daemon=True)
            t.start()
            self.threads.append(t)

    def _open_spool(self) -> int:
        """Open the HTTP ingest spool and process what it holds after the checkpoint; returns how many records.

        The spool is opened when the API is on or a spool exists (records answered 200 before a restart
        with ``--http off`` are processed all the same). This runs before the API and the sources start.
        """
        from watchdog.errors import SpoolError
        from watchdog.ingest.sources import Position
        from watchdog.ingest.sources.spool import Spool, SpoolLock, claim, read_owner
        from watchdog.service.feed import feed

        saved = self.positions.get(HTTP_SOURCE)
        owner = spool_owner(self.store, self.args.instance)
        where = spool_dir(self.args, owner, checkpointed=saved is not None)
        if self.args.http is None and not where.is_dir():
            return 0
        self.spool_lock = SpoolLock(where)  # held while serving: one writer per spool
        found = read_owner(where)
        if found is None:
            claim(where, owner)
        elif found != owner:
            raise ConfigError(
                f"The spool {where} belongs to the store {found.get('store')} (instance {found.get('instance')}, "
                f"created {found.get('created')}), not to this one ({owner['store']}, instance {owner['instance']}): "
                "its records are not this store's to replay. Give this store its own --spool-dir.")
        start = Position.from_json(saved) if saved else None
        try:
            self.spool = Spool(where, segment_bytes=self.args.spool_segment_bytes, name=HTTP_SOURCE, start=start)
        except SpoolError as e:
            raise StartupError(str(e)) from None
        replayed = 0
        for batch in self.spool.replay(start):
            with self.engine_lock:
                try:
                    res = feed(self.engine, batch, self.quarantine, columnar=False)  # as the API processed them
                except BaseException:
                    self.poisoned = True  # the exit must not checkpoint half a batch
                    raise
                self._ingested(batch, res)
            replayed += res.records
        if replayed:
            log.info("spool_replayed", extra={"records": replayed, "from": saved,
                                              "to": self.positions.get(HTTP_SOURCE)})
        return replayed

    def _ingested(self, batch: Any, res: Any) -> None:
        """An HTTP batch was processed (called under the engine lock): its spool position goes in the next
        checkpoint."""
        self.positions[batch.source] = batch.position.to_json()
        self.records += res.records
        self.dirty = True

    def _ingest_failed(self, e: BaseException) -> None:
        # as for a source: the engine may hold part of the batch, so no checkpoint from here on; the
        # restart processes the batch again from the spool
        self.poisoned = True
        log.error("http_batch_failed", exc_info=e)
        self.failed.append(e)
        self.stop.set()

    def _sources(self) -> list[Any]:
        from watchdog.ingest.sources import JsonlSource

        out, names = [], set()
        for spec in self.args.source:
            path = Path(spec)
            suffix = path.suffix.lower()
            name = str(path.resolve())  # by absolute path: its saved offset is found from any directory
            if suffix in TABLE_SUFFIXES:
                from watchdog.ingest.sources import TableSource

                if not path.is_file():
                    raise ConfigError(f"The source {spec} does not exist or is not a file.")
                src: Any = TableSource(path, batch_rows=TABLE_BATCH_ROWS, name=name)
            elif suffix in JSONL_SUFFIXES:
                if self.args.no_follow and not path.is_file():
                    raise ConfigError(f"The source {spec} does not exist or is not a file.")
                src = JsonlSource(path, follow=not self.args.no_follow, poll_interval=self.args.poll_interval,
                                  stop=self.stop, name=name)
            else:
                raise ConfigError(f"--source {spec}: `watchdog serve` reads JSON Lines ({', '.join(JSONL_SUFFIXES)}), "
                                  f"Parquet (.parquet) and CSV (.csv) files; this one is none of them.")
            if src.name in names:
                raise ConfigError(f"--source {spec} is given twice.")
            names.add(src.name)
            out.append(src)
        if self.args.oracle:
            out.append(self._oracle())
        if not out and self.args.http is None:  # HTTP ingest alone is a source too
            raise ConfigError("Nothing to read: give --source FILE (one or more), --oracle ADDRESS, or --http ADDR "
                              "to take records by POST /v1/records.")
        return out

    def _oracle(self) -> Any:
        from watchdog.actions.chain import connect
        from watchdog.ingest.sources.chain import ChainSource

        a = self.args
        url = a.oracle_rpc_url or (a.rpc_url[0] if a.rpc_url else None)
        if not url:
            raise ConfigError("--oracle needs --oracle-rpc-url or --rpc-url to read its events.")
        features = {m.id: [f.name for f in m.features if f.type == "numeric"] for m in self.policy.models}
        try:
            return ChainSource(connect(url), a.oracle, features, confirmations=a.oracle_confirmations,
                               from_block=a.oracle_from_block, follow=not a.no_follow,
                               poll_interval=max(a.poll_interval, 0.2), stop=self.stop, name=f"chain:{a.oracle}")
        except ValueError as e:
            raise ConfigError(f"--oracle {a.oracle}: {e}") from None

    def _start_scheduler(self) -> None:
        from watchdog.service.scheduler import ScheduleConfig, Scheduler

        a = self.args
        self.scheduler = Scheduler(self, ScheduleConfig(
            tick_seconds=a.tick_interval, checkpoint_seconds=a.checkpoint_interval,
            heartbeat_seconds=a.heartbeat_interval or None))
        self.scheduler.start()

    def _start_api(self, host: str, port: int) -> None:
        from watchdog.service import httpd
        from watchdog.service.api import create_app, load_tokens

        app = create_app(store=self.store, registry=self.metrics.registry,
                         tokens=load_tokens(self.args.api_token_file), engine=self.engine,
                         engine_lock=self.engine_lock, policy=self.policy, public_evidence=self.args.public_evidence,
                         checks={"store": self._store_ok, "rpc": self._rpc_ok}, status=self.status,
                         quarantine=self.quarantine, clock=self.clock, spool=self.spool,
                         on_batch=self._ingested, on_batch_failed=self._ingest_failed,
                         module_info=self.monitor.module_info if self.monitor is not None else None)
        a, m = self.args, self.metrics
        cap = http_limits.fit_to_descriptors(a.http_max_connections)
        if cap < a.http_max_connections:
            log.warning("http_max_connections_lowered", extra={
                "requested": a.http_max_connections, "cap": cap, "nofile": http_limits.nofile_limit(),
                "why": "the open-file limit leaves no room for more; raise `ulimit -n` to allow them"})
        limits = httpd.HttpLimits(header_timeout=a.http_header_timeout, body_timeout=a.http_body_timeout,
                                  max_connections=cap)
        self.server = httpd.GuardedServer(
            app, limits, on_close=lambda reason: m.http_connections_closed.labels(reason).inc(),
            on_accept_error=m.http_accept_errors.inc, host=host, port=port, log_level="warning", access_log=False)
        if self.http_socket is None:
            self.http_socket = bind_http(host, port)
        sockets = [self.http_socket]
        t = self.http_thread = threading.Thread(target=self.server.run, kwargs={"sockets": sockets}, name="http",
                                                daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while not self.server.started and t.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)  # bounded wait for the socket, so a bad address fails at start
        if not self.server.started:
            raise ConfigError(f"The HTTP API could not listen on {host}:{port}; is the port in use?")
        log.info("http_serving", extra={"addr": f"{host}:{port}"})

    # running ---------------------------------------------------------------------------------------

    def _pump(self, source: Any) -> None:
        from watchdog.ingest.sources import Position
        from watchdog.service.feed import feed

        saved = self.positions.get(source.name)
        start = Position.from_json(saved) if saved else None
        if saved is None and self.records:
            log.warning("source_without_offset", extra={
                "source": source.name, "why": "the checkpoint has no position for it: read from its start"})
        try:
            for batch in source.batches(start=start):
                if not len(batch):
                    self.replaying.discard(source.name)  # caught up: the clock may judge the feed now
                if len(batch):
                    with self.engine_lock:
                        res = feed(self.engine, batch, self.quarantine)
                        self.positions[source.name] = batch.position.to_json()
                        self.records += res.records
                        self.dirty = True
                else:  # idle poll; the position may still move (blank lines, rotation)
                    with self.engine_lock:
                        moved = self.positions.get(source.name) != batch.position.to_json()
                        self.positions[source.name] = batch.position.to_json()
                        self.dirty = self.dirty or moved
                if self.stop.is_set():
                    break
        except BaseException as e:  # a source that breaks stops the service (exit 1)
            # The engine may hold part of the failed batch while the offset is still before it: no
            # checkpoint may be taken from here on, the restart resumes from the last good one.
            self.poisoned = True
            log.exception("source_failed", extra={"source": source.name})
            self.failed.append(e)
            self.stop.set()
            return
        self.replaying.discard(source.name)
        if not self.stop.is_set():
            log.info("source_finished", extra={"source": source.name})
            self.checkpoint(self.clock())

    def checkpoint(self, now: float) -> str:
        with self.engine_lock:
            if self.poisoned:
                return "skipped: a batch failed midway; the last good checkpoint stands"
            if not self.dirty:
                return "unchanged"
            from watchdog.engine import checkpoint

            size = checkpoint.save(self.store, self.engine, self.positions, now, instance=self.args.instance,
                                   records=self.records)
            self.dirty = False
            spooled = self.positions.get(HTTP_SOURCE) if self.spool is not None else None
        log.info("checkpoint_saved", extra={"records": self.records, "bytes": size})
        if spooled is not None:  # committed: the spool before this position is not needed again
            from watchdog.ingest.sources import Position

            try:
                self.spool.prune(Position.from_json(spooled))
            except OSError:
                log.warning("spool_prune_failed", exc_info=True)
        return f"{size} bytes"

    def process_outbox(self, now: float) -> str:
        """Advance on-chain actions in flight (receipts, confirmations, stuck transactions)."""
        if self.monitor is None or self.args.dry_run:
            return "skipped"
        with self.engine_lock:  # the outbox has one driver at a time: the engine's actions or this job
            items = self.responder.outbox.process()
        return f"ok: {len(items)} open action(s)"

    def status(self) -> dict[str, Any]:
        from watchdog.service.scheduler import scheduler_jobs

        with self.engine_lock:
            positions, records = dict(self.positions), self.records
        return {"instance": self.args.instance, "records_processed": records,
                "sources": {name: orjson.loads(pos) for name, pos in positions.items()},
                "scheduler_jobs": scheduler_jobs(self.store),
                "pending_quorums": self.scheduler.pending_quorums() if self.scheduler is not None else []}

    def _store_ok(self) -> bool:
        """The store answers a query, and a SQLite store's file is still where it was: an open SQLite
        file whose file or directory was removed keeps answering, but what is written to it is lost."""
        sqlite_file = self.store.backend == "sqlite" and self.store.path != ":memory:"
        if sqlite_file and not os.path.exists(self.store.path):
            return False
        try:
            return self.store.query_one("SELECT 1 AS ok") is not None
        except Exception:
            return False

    def _rpc_ok(self) -> bool:
        if self.monitor is None:
            return True
        try:
            _ = self.monitor.w3.eth.block_number  # a round trip to the node
            return True
        except Exception:
            return False

    def wait(self) -> None:
        """Until a signal, a failure, the API's end, or (with ``--http off``) the end of every source: with
        nothing followed and no API there is nothing left to do, and the exit takes the final checkpoint."""
        while not self.stop.wait(0.5):
            if self.server is not None and self.server.should_exit:
                break
            if self.args.http is None and not any(t.is_alive() for t in self.threads):
                log.info("sources_finished", extra={"why": "every source is read to its end and --http is off"})
                break
            if self.reloader is not None and self.reloader.pending:
                with self.engine_lock:  # between batches, never inside one
                    self.reloader.poll()

    def _reloaded(self, outcome: str, old: Any, new: Any, detail: dict[str, Any]) -> None:
        """After a reload (audited by the composition): the service reports the policy in force."""
        if new is not None:
            self.policy = new

    # stopping --------------------------------------------------------------------------------------

    def shutdown(self) -> int:
        """Drain the current batch, stop the API and the scheduler, checkpoint; returns the exit code."""
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)
        if self.server is not None:  # no ingest after the final checkpoint, no request on a closed store
            self.server.should_exit = True
            if self.http_thread is not None:
                self.http_thread.join(timeout=10)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        code = 1 if self.failed else 0
        if self.store is not None and self.restored:
            try:
                self.dirty = True
                self.checkpoint(self.clock())
                self.store.audit(self.clock(), "serve_stopped", {"records": self.records, "positions": self.positions},
                                 policy_hash=self.policy.hash)
            except Exception:
                log.exception("final_checkpoint_failed")
                code = 1
        if self.close_notify is not None:
            self.close_notify(10.0)  # deliver the alerts and annotations still queued
        if self.reloader is not None:
            self.reloader.uninstall()
        if self.quarantine is not None:
            self.quarantine.close()
        if self.spool is not None:
            self.spool.close()
        if self.spool_lock is not None:
            self.spool_lock.release()
        if self.http_socket is not None:
            self.http_socket.close()
        if self.store is not None:
            with self.engine_lock:
                self.store.close()
        if self.restored:
            log.info("serve_stopped", extra={"records": self.records, "exit_code": code})
        return code


def cmd_serve(args: argparse.Namespace) -> int:
    svc = Service(args)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal_received", extra={"signal": signal.Signals(signum).name})
        svc.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        svc.start()
    except BaseException:
        svc.shutdown()
        raise
    svc.wait()
    return svc.shutdown()
