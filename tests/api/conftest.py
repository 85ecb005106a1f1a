"""A live API: uvicorn on a free loopback port in a thread, around a real engine and SQLite store."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from watchdog.engine.engine import Engine
from watchdog.service.api import create_app
from watchdog.store.store import Incident, Store

from ..sources.helpers import engine as make_engine

TOKEN = "test-token-0123456789abcdef"


@dataclass
class Live:
    url: str
    engine: Engine
    store: Store
    quarantine: io.BytesIO
    checks: dict[str, bool]
    public_url: str = ""  # the same store behind an app made with public_evidence=True

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def serve(app: Any) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # bounded polling of a real server
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def add_incident(store: Store, iid: str, model: str = "lending-risk", state: str = "open") -> None:
    store.add_incident(Incident(id=iid, model=model, rule="VolatilityRegimeShift", tier="critical", opened_at=1.0e9,
                                record_index=7, policy_hash="0xabc", dry_run=False,
                                evidence='{"condition": {"observed": 1e-9}}', evidence_hash="0xdef", state=state))


def add_manual_pause(store: Store, iid: str) -> None:
    """A steward's `watchdog pause` as watchdog/commands/chain.py stores it (no rule, line 0, no policy hash)."""
    evidence = ('{"action":"pause","at":"2001-09-09T01:46:41Z","by":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",'
                '"manual":true,"module":"lending-risk","reason":"drill","target_version":null}')
    store.add_incident(Incident(id=iid, model="lending-risk", rule="manual-pause", tier="manual", opened_at=1.0e9 + 1,
                                record_index=0, policy_hash="", dry_run=False, evidence=evidence,
                                evidence_hash="0x1234", state="open"))


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    where: Path = tmp_path_factory.mktemp("api")
    eng = make_engine(clock=lambda: 1.80e9)
    checks = {"store": True, "rpc": True}
    with Store(where / "w.db") as store:
        add_incident(store, "0x01")
        add_incident(store, "0x02", model="other", state="resolved")
        add_manual_pause(store, "0x03")
        store.add_action("0x01", "pause", "lending-risk", 1.0e9 + 2)
        q = io.BytesIO()
        app = create_app(engine=eng, store=store, registry=eng.metrics.registry, tokens=[TOKEN],
                         checks={"store": lambda: checks["store"], "rpc": lambda: checks["rpc"]},
                         status=lambda: {"sources": {"http": "live"}}, quarantine=q, clock=lambda: 1.79e9,
                         max_body_bytes=64 << 10, max_batch_records=50)
        public = create_app(engine=eng, store=store, registry=eng.metrics.registry, tokens=[TOKEN],
                            public_evidence=True)
        for url in serve(app):
            for public_url in serve(public):
                yield Live(url, eng, store, q, checks, public_url)
