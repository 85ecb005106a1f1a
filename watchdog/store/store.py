"""The store: incidents with their evidence, the action outbox, checkpoints and the audit log.

SQLite in WAL mode is the default (one file, standard library); a ``postgresql://`` URL selects
PostgreSQL (psycopg 3), for replicas that share state. Both run the same migrations and the same
portable SQL (see :mod:`watchdog.store.db` for the translation). Writes that matter for safety are
committed before the step they protect: an action's intent row exists before anything is signed.
Migrations run at open, in order, each recorded by name.

One ``Store`` may be shared by threads (engine, scheduler, HTTP API): every statement and every
``transaction()`` holds the store's re-entrant lock, so a transaction never sees another thread's
statements; transactions nest (the inner one joins the outer).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from watchdog.store.db import StoreError, open_backend, statements  # noqa: F401  (StoreError: re-exported)

DEFAULT_INSTANCE = "default"
"""The watchdog instance a checkpoint, its source offsets and its spool belong to, unless ``--instance`` names
another (several instances may share one store)."""


def _load_migrations() -> tuple[tuple[str, str], ...]:
    """The SQL files in ``watchdog/migrations``, ``NNNN_name.sql``, in order of their number."""
    folder = resources.files("watchdog").joinpath("migrations")
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    return tuple((name.removesuffix(".sql"), folder.joinpath(name).read_text()) for name in files)


MIGRATIONS: tuple[tuple[str, str], ...] = _load_migrations()


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    model: str
    rule: str
    tier: str
    opened_at: float
    record_index: int
    policy_hash: str
    dry_run: bool
    evidence: str
    evidence_hash: str
    state: str

    @property
    def evidence_data(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.evidence)
        return data


@dataclass(frozen=True, slots=True)
class Action:
    id: int
    incident_id: str
    kind: str
    module: str
    status: str
    tx_hash: str | None
    block_number: int | None
    error: str | None
    created_at: float
    updated_at: float


class Store:
    """Incidents, actions and the audit log: a SQLite file (``:memory:`` for throwaway runs) or a
    ``postgresql://user@host:port/db`` URL."""

    def __init__(self, path: str | Path):
        self._backend = open_backend(str(path))
        self.path = self._backend.target  # a PostgreSQL URL without its password: safe to print
        self.backend: str = self._backend.kind  # "sqlite" or "postgresql"
        self._db = self._backend.conn
        #: The driver's integrity error (DB-API): a foreign key or unique constraint was violated.
        self.IntegrityError: type[Exception] = self._backend.IntegrityError
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._migrate()
        except BaseException:
            self._backend.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The number of migrations applied."""
        with self._lock:
            return self._backend.schema_version()

    def _migrate(self) -> None:
        """Apply the migrations not yet applied, in order of number (PostgreSQL: under an advisory lock)."""
        with self._lock:
            self._backend.migrate(MIGRATIONS)

    # generic access for feature modules (outbox, reports, checkpoints) --------------------------
    # SQL uses "?" placeholders and portable types; PostgreSQL gets it translated (see watchdog.db).

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        with self._lock:
            return self._backend.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts (also for ``INSERT ... RETURNING``)."""
        with self._lock:
            return self._backend.query(sql, params)

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Everything inside commits together or not at all; a nested call joins the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._backend.begin()
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._backend.rollback()
                raise
            self._depth = 0
            self._backend.commit()

    # incidents ---------------------------------------------------------------------------------

    def add_incident(self, inc: Incident) -> bool:
        """Insert an incident; returns False when one with the same id already exists (a replay)."""
        return self.execute(
            "INSERT INTO incidents (id, model, rule, tier, opened_at, record_index, policy_hash,"
            " dry_run, evidence, evidence_hash, state) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (inc.id, inc.model, inc.rule, inc.tier, inc.opened_at, inc.record_index, inc.policy_hash,
             int(inc.dry_run), inc.evidence, inc.evidence_hash, inc.state),
        ) == 1

    def incident(self, incident_id: str) -> Incident | None:
        row = self.query_one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return None if row is None else _incident(row)

    def incidents(self, model: str | None = None) -> list[Incident]:
        if model is None:
            rows = self.query("SELECT * FROM incidents ORDER BY opened_at, id")
        else:
            rows = self.query("SELECT * FROM incidents WHERE model = ? ORDER BY opened_at, id", (model,))
        return [_incident(r) for r in rows]

    def set_incident_state(self, incident_id: str, state: str) -> None:
        self.execute("UPDATE incidents SET state = ? WHERE id = ?", (state, incident_id))

    def acknowledge(self, inc: Incident, who: str, note: str, at: float) -> None:
        """A steward acknowledges ``inc`` (the API, the CLI and the console alike): the ack row, the incident
        ``acknowledged`` if it was open, and the audit line, in one transaction; the same ack twice is one row."""
        with self.transaction():
            self.execute("INSERT INTO incident_acks (incident_id, at, who, note) VALUES (?,?,?,?) "
                         "ON CONFLICT DO NOTHING", (inc.id, at, who, note))
            if inc.state == "open":
                self.set_incident_state(inc.id, "acknowledged")
            self.audit(at, "incident_acknowledged", {"who": who, "note": note}, model=inc.model, rule=inc.rule,
                       incident_id=inc.id, policy_hash=inc.policy_hash)

    def acks(self, incident_id: str) -> list[dict[str, Any]]:
        """Stewards' acknowledgements of an incident (``incident_id, who, note, at``), oldest first."""
        return self.query("SELECT incident_id, who, note, at FROM incident_acks WHERE incident_id = ? "
                          "ORDER BY at, who", (incident_id,))

    # actions (the outbox) ----------------------------------------------------------------------

    def add_action(self, incident_id: str, kind: str, module: str, now: float) -> Action:
        """Record an action's intent before anything is signed; idempotent per (incident, kind)."""
        self.execute(
            "INSERT INTO actions (incident_id, kind, module, status, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (incident_id, kind, module, "intent", now, now),
        )
        return self.action(incident_id, kind)  # type: ignore[return-value]

    def action(self, incident_id: str, kind: str) -> Action | None:
        row = self.query_one("SELECT * FROM actions WHERE incident_id = ? AND kind = ?", (incident_id, kind))
        return None if row is None else Action(**row)

    def actions(self, status: str | None = None) -> list[Action]:
        if status is None:
            rows = self.query("SELECT * FROM actions ORDER BY id")
        else:
            rows = self.query("SELECT * FROM actions WHERE status = ? ORDER BY id", (status,))
        return [Action(**r) for r in rows]

    def update_action(self, action_id: int, now: float, *, status: str, tx_hash: str | None = None,
                      block_number: int | None = None, error: str | None = None) -> None:
        self.execute(
            "UPDATE actions SET status = ?, tx_hash = COALESCE(?, tx_hash),"
            " block_number = COALESCE(?, block_number), error = ?, updated_at = ? WHERE id = ?",
            (status, tx_hash, block_number, error, now, action_id),
        )

    # audit -------------------------------------------------------------------------------------

    def audit(self, at: float, event: str, detail: dict[str, Any], *, model: str | None = None,
              rule: str | None = None, incident_id: str | None = None, policy_hash: str | None = None) -> None:
        """Append to the audit log. An entry about an incident that leaves out its model, rule or policy
        hash gets them from the incident, so every action is traceable to the policy in force."""
        detail_json = json.dumps(detail, sort_keys=True)
        if incident_id is None or None not in (model, rule, policy_hash):
            self.execute(
                "INSERT INTO audit (at, event, model, rule, incident_id, policy_hash, detail) VALUES (?,?,?,?,?,?,?)",
                (at, event, model, rule, incident_id, policy_hash, detail_json),
            )
            return
        self.execute(
            "INSERT INTO audit (at, event, model, rule, incident_id, policy_hash, detail) VALUES (?, ?,"
            " COALESCE(?, (SELECT model FROM incidents WHERE id = ?)),"
            " COALESCE(?, (SELECT rule FROM incidents WHERE id = ?)), ?,"
            " COALESCE(?, (SELECT policy_hash FROM incidents WHERE id = ?)), ?)",
            (at, event, model, incident_id, rule, incident_id, incident_id, policy_hash, incident_id, detail_json),
        )

    def audit_log(self) -> Iterator[dict[str, Any]]:
        yield from self.query("SELECT * FROM audit ORDER BY id")




def _incident(row: dict[str, Any]) -> Incident:
    d = dict(row)
    d["dry_run"] = bool(d["dry_run"])
    return Incident(**d)
