"""The store: incidents with their evidence, the action outbox and the audit log, in one SQLite file.

SQLite in WAL mode is the default (one file, standard library). Writes that matter for safety are
committed before the step they protect: an action's intent row exists before anything is signed.
The schema carries a version; migrations run at open, in order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

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
        return json.loads(self.evidence)


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
    """Incidents, actions and the audit log in one SQLite file (``:memory:`` for throwaway runs)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Apply the migrations not yet applied, each in its own transaction, in order of number."""
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"The store {self.path} has schema version {current}, newer than this watchdog knows "
                f"({len(MIGRATIONS)}); upgrade the watchdog or point it at another store."
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            name, sql = MIGRATIONS[version - 1]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _statements(sql):
                    self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version={version}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # generic access for feature modules (outbox, reports, checkpoints) --------------------------
    # SQL uses "?" placeholders and portable types; other backends translate (see PostgreSQL support).

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        return self._db.execute(sql, tuple(params)).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(sql, tuple(params))]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self._db.execute(sql, tuple(params)).fetchone()
        return None if row is None else dict(row)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # incidents ---------------------------------------------------------------------------------

    def add_incident(self, inc: Incident) -> bool:
        """Insert an incident; returns False when one with the same id already exists (a replay)."""
        cur = self._db.execute(
            "INSERT INTO incidents (id, model, rule, tier, opened_at, record_index, policy_hash,"
            " dry_run, evidence, evidence_hash, state) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (inc.id, inc.model, inc.rule, inc.tier, inc.opened_at, inc.record_index, inc.policy_hash,
             int(inc.dry_run), inc.evidence, inc.evidence_hash, inc.state),
        )
        return cur.rowcount == 1

    def incident(self, incident_id: str) -> Incident | None:
        row = self._db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return None if row is None else _incident(row)

    def incidents(self, model: str | None = None) -> list[Incident]:
        if model is None:
            rows = self._db.execute("SELECT * FROM incidents ORDER BY opened_at, id")
        else:
            rows = self._db.execute("SELECT * FROM incidents WHERE model = ? ORDER BY opened_at, id", (model,))
        return [_incident(r) for r in rows]

    def set_incident_state(self, incident_id: str, state: str) -> None:
        self._db.execute("UPDATE incidents SET state = ? WHERE id = ?", (state, incident_id))

    # actions (the outbox) ----------------------------------------------------------------------

    def add_action(self, incident_id: str, kind: str, module: str, now: float) -> Action:
        """Record an action's intent before anything is signed; idempotent per (incident, kind)."""
        self._db.execute(
            "INSERT INTO actions (incident_id, kind, module, status, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (incident_id, kind, module, "intent", now, now),
        )
        return self.action(incident_id, kind)  # type: ignore[return-value]

    def action(self, incident_id: str, kind: str) -> Action | None:
        row = self._db.execute(
            "SELECT * FROM actions WHERE incident_id = ? AND kind = ?", (incident_id, kind)
        ).fetchone()
        return None if row is None else Action(**dict(row))

    def actions(self, status: str | None = None) -> list[Action]:
        if status is None:
            rows = self._db.execute("SELECT * FROM actions ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM actions WHERE status = ? ORDER BY id", (status,))
        return [Action(**dict(r)) for r in rows]

    def update_action(self, action_id: int, now: float, *, status: str, tx_hash: str | None = None,
                      block_number: int | None = None, error: str | None = None) -> None:
        self._db.execute(
            "UPDATE actions SET status = ?, tx_hash = COALESCE(?, tx_hash),"
            " block_number = COALESCE(?, block_number), error = ?, updated_at = ? WHERE id = ?",
            (status, tx_hash, block_number, error, now, action_id),
        )

    # audit -------------------------------------------------------------------------------------

    def audit(self, at: float, event: str, detail: dict[str, Any], *, model: str | None = None,
              rule: str | None = None, incident_id: str | None = None, policy_hash: str | None = None) -> None:
        self._db.execute(
            "INSERT INTO audit (at, event, model, rule, incident_id, policy_hash, detail) VALUES (?,?,?,?,?,?,?)",
            (at, event, model, rule, incident_id, policy_hash, json.dumps(detail, sort_keys=True)),
        )

    def audit_log(self) -> Iterator[sqlite3.Row]:
        yield from self._db.execute("SELECT * FROM audit ORDER BY id")


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside literals in our migrations)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [st.strip() for st in "\n".join(lines).split(";") if st.strip()]


def _incident(row: sqlite3.Row) -> Incident:
    d = dict(row)
    d["dry_run"] = bool(d["dry_run"])
    return Incident(**d)
