"""The store: incidents with their evidence, the action outbox and the audit log, in one SQLite file.

SQLite in WAL mode is the default (one file, standard library). Writes that matter for safety are
committed before the step they protect: an action's intent row exists before anything is signed.
The schema carries a version; migrations run at open, in order.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

MIGRATIONS: tuple[str, ...] = (
    # 1: incidents, actions (the outbox), audit log
    """
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        rule TEXT NOT NULL,
        tier TEXT NOT NULL,
        opened_at REAL NOT NULL,
        record_index INTEGER NOT NULL,
        policy_hash TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        evidence TEXT NOT NULL,
        evidence_hash TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'open'
    );
    CREATE INDEX incidents_model ON incidents(model, opened_at);
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL REFERENCES incidents(id),
        kind TEXT NOT NULL,
        module TEXT NOT NULL,
        status TEXT NOT NULL,
        tx_hash TEXT,
        block_number INTEGER,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (incident_id, kind)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        event TEXT NOT NULL,
        model TEXT,
        rule TEXT,
        incident_id TEXT,
        policy_hash TEXT,
        detail TEXT NOT NULL
    );
    """,
)


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
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"The store {self.path} has schema version {current}, newer than this watchdog knows "
                f"({len(MIGRATIONS)}); upgrade the watchdog or point it at another store."
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in MIGRATIONS[version - 1].split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version={version}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # incidents ---------------------------------------------------------------------------------

    def add_incident(self, inc: Incident) -> bool:
        """Insert an incident; returns False when one with the same id already exists (a replay)."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO incidents (id, model, rule, tier, opened_at, record_index, policy_hash,"
            " dry_run, evidence, evidence_hash, state) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
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
            "INSERT OR IGNORE INTO actions (incident_id, kind, module, status, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?)",
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


def _incident(row: sqlite3.Row) -> Incident:
    d = dict(row)
    d["dry_run"] = bool(d["dry_run"])
    return Incident(**d)
