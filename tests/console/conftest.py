"""A live console: the real API app (``create_app``) under uvicorn on a free loopback port, around a SQLite
store that a real ``watchdog run`` wrote from a generated log with a regime change (incidents, evaluation
statistics), plus a pause held in its veto window."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import rules
from tests.pg import PostgresError, shared_server
from watchdog.actions.outbox import Outbox
from watchdog.service.api import create_app
from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.store.store import Store

from ..api.conftest import serve

TOKEN = "console-token-0123456789abcdef"
DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"
HELD_RULE = "UtilizationDrift"  # a medium-tier rule: its pause waits out a veto window


@dataclass
class Console:
    url: str
    store: Store
    held: str  # the incident whose pause is held
    incidents: dict[str, str]  # rule -> incident id


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of one dry run over 6,000 generated records with a change at prediction 4,000."""
    where = tmp_path_factory.mktemp("console")
    log = where / "log.jsonl"
    write_log(str(log), n=6000, drift_at=4000, malformed=False)
    run(RunOptions(policy=policy_file(where), source=log, store=where / "w.db", quarantine=where / "q",
                   dry_run=True, progress=False, settle_seconds=0.0))
    return where / "w.db"


def policy_file(where: Path) -> Path:
    """The demo policy with the medium-tier UtilizationDrift asking for a pause as well as an alert."""
    text = DEMO_POLICY.read_text()
    rule = text.index(f"- name: {HELD_RULE}")
    at = text.index("actions: [alert]", rule)
    path = where / "policy.yaml"
    path.write_text(text[:at] + "actions: [alert, pause]" + text[at + len("actions: [alert]"):])
    return path


COPIED = {"incidents": None, "evaluation_stats": None,
          "audit": ("at", "event", "model", "rule", "incident_id", "policy_hash", "detail")}


def copy_rows(template: Path, store: Store) -> None:
    """The template's incidents, evaluation statistics and audit lines into another (empty) store."""
    with Store(template) as src, store.transaction():
        for table, columns in COPIED.items():
            for row in src.query(f"SELECT * FROM {table}"):
                names = columns or tuple(row)
                store.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                              [row[n] for n in names])


def live(tmp_path: Path, template: Path, *, public: bool = False, url: str | None = None) -> Iterator[Console]:
    """The console over a copy of the template store (each test its own: they ack and veto); ``url``: copy
    the rows into that store (PostgreSQL) instead of the SQLite file."""
    if url is None:
        shutil.copyfile(template, tmp_path / "w.db")
    policy = rules.load_policy(template.parent / "policy.yaml")
    with Store(url or tmp_path / "w.db") as store:
        if url is not None:
            copy_rows(template, store)
        ids = {i.rule: i.id for i in store.incidents()}
        inc = store.incident(ids[HELD_RULE])
        assert inc is not None
        # The dry run recorded the pause as dry_run; a run with a chain leaves it held in the medium tier's
        # veto window, as here.
        store.execute("DELETE FROM actions WHERE incident_id = ? AND kind = 'pause'", (inc.id,))
        now = time.time()
        item = Outbox(store, None).enqueue(incident_id=inc.id, kind="pause", module="lending-risk",
                                           module_id=rules.module_id_bytes32("lending-risk"),
                                           evidence_hash=inc.evidence_hash, not_before=now + 3600)
        # what the outbox's step writes when the veto window is still open (it needs a chain client to run)
        store.update_action(item.action_id, now, status="held")
        app = create_app(store=store, registry=CollectorRegistry(), tokens=[TOKEN], policy=policy,
                         public_evidence=public)
        for url in serve(app):
            yield Console(url=url, store=store, held=inc.id, incidents=ids)


@pytest.fixture
def console(tmp_path: Path, template: Path) -> Iterator[Console]:
    yield from live(tmp_path, template)


@pytest.fixture
def public_console(tmp_path: Path, template: Path) -> Iterator[Console]:
    yield from live(tmp_path, template, public=True)


@pytest.fixture
def pg_console(tmp_path: Path, template: Path) -> Iterator[Console]:
    try:
        server = shared_server()
    except PostgresError as e:  # no server binaries on this machine: say so, loudly
        pytest.fail(f"PostgreSQL could not be started for the console tests: {e}")
    yield from live(tmp_path, template, url=server.create_schema(f"console_{tmp_path.name[-40:]}".replace("-", "_")))
