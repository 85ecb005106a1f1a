"""Restart without forgetting: `watchdog serve` as a subprocess, killed with SIGKILL at seeded random
moments while a producer appends to the log it follows, restarted each time. At the end it must have
exactly the incidents, actions and detector state of one uninterrupted run, with no record skipped."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import httpx
import orjson
import pytest

import rules
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.store.store import Store

REPO = Path(__file__).resolve().parents[2]
DATA = Path(str(resources.files("watchdog").joinpath("data")))
POLICY = DATA / "demo_policy.yaml"
LINES = (DATA / "demo.jsonl").read_bytes().splitlines(keepends=True)
RECORDS = sum(1 for ln in LINES if ln.strip())


def uninterrupted(tmp: Path) -> dict:
    """The reference: the same log through an in-process engine, start to end, never stopped."""
    with Store(tmp / "reference.db") as s:
        engine = Engine(rules.load_policy(POLICY), base_dir=DATA,
                        on_decision=Responder(s, None, dry_run=True))
        for n, raw in enumerate(LINES, 1):
            if raw.strip():
                engine.process_line(raw.rstrip(b"\r\n"), n, "records.jsonl")
        return {"incidents": sorted(i.id for i in s.incidents()),
                "actions": sorted((a.incident_id, a.kind) for a in s.actions()),
                "n_seen": {k: d.n_seen for k, d in engine.runtimes["lending-risk"].detectors.items()}}


TOKEN = "test-token-0123456789abcdef"


def serve(tmp: Path, store: str, source: Path, chain: tuple[str, str, str] | None = None,
          http: str = "off") -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    env["WATCHDOG_API_TOKENS"] = TOKEN
    if chain is None:
        extra = ["--dry-run"]
    else:
        url, monitor, key = chain
        extra = ["--rpc-url", url, "--monitor", monitor]
        env["WATCHDOG_PRIVATE_KEY"] = key  # anvil's well-known dev key for account 3
    return subprocess.Popen(
        [sys.executable, "-m", "watchdog", "serve", "--policy", str(POLICY), "--source", str(source), *extra,
         "--http", http, "--store", store, "--checkpoint-interval", "0.2", "--poll-interval", "0.05",
         "--quarantine", str(tmp / "quarantine.jsonl"), "--report-dir", str(tmp / "reports")],
        cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "ab"))


def poll(what, proc: subprocess.Popen, timeout: float = 60.0):
    """Bounded polling of the running process's store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the watchdog")


def count(store: str, sql: str) -> int:
    with Store(store) as s:
        row = s.query_one(sql)
        return 0 if row is None else int(next(iter(row.values())) or 0)


def checkpoint_state(store: str) -> tuple[int, dict]:
    with Store(store) as s:
        row = s.query_one("SELECT records, state FROM checkpoints WHERE instance = 'default'")
        return int(row["records"]), orjson.loads(row["state"])


def kill_and_restart(tmp_path: Path, seed: int, kills: int, chain=None, store: str | None = None) -> tuple[str, Path]:
    """Serve a log that a producer appends to; SIGKILL at seeded moments; restart; finish; SIGTERM."""
    rng = random.Random(seed)
    source = tmp_path / "records.jsonl"
    source.touch()
    store = store or str(tmp_path / "w.db")
    chunks, i = [], 0
    while i < len(LINES):
        n = rng.randint(300, 1500)
        chunks.append(b"".join(LINES[i:i + n]))
        i += n
    pending = iter(chunks)
    for k in range(kills):
        proc = serve(tmp_path, store, source, chain)
        try:
            poll(lambda k=k: count(store, "SELECT COUNT(*) FROM audit WHERE event = 'serve_started'") > k, proc)
            for _ in range(rng.randint(1, 3)):  # the producer appends while the watchdog reads
                with open(source, "ab") as f:
                    f.write(next(pending, b""))
            if k == 0:
                # One checkpoint before the first kill, so a later start has something to resume from: on a loaded
                # machine every seeded moment could fall before the first checkpoint, and the test would prove
                # only replays from the start. The later kills stay anywhere in the work.
                poll(lambda: count(store, "SELECT COUNT(*) FROM checkpoints") > 0, proc)
            time.sleep(rng.uniform(0.0, 0.4))  # the moment of the kill: seeded, anywhere in the work
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    with open(source, "ab") as f:
        f.writelines(pending)
    proc = serve(tmp_path, store, source, chain)
    try:
        poll(lambda: checkpoint_state(store)[0] >= RECORDS if count(
            store, "SELECT COUNT(*) FROM checkpoints") else False, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    return store, source


def assert_same_as_uninterrupted(tmp_path: Path, store: str, source: Path, kills: int) -> dict:
    ref = uninterrupted(tmp_path)
    assert ref["incidents"], "the log must make rules fire, or this test proves little"
    records, state = checkpoint_state(store)
    with Store(store) as s:
        assert sorted(i.id for i in s.incidents()) == ref["incidents"]
        assert sorted((a.incident_id, a.kind) for a in s.actions()) == ref["actions"]
        opened = [r for r in s.audit_log() if r["event"] == "incident_opened"]
        assert sorted(r["incident_id"] for r in opened) == ref["incidents"]  # each opened (and audited) once
        assert all(r["policy_hash"] for r in s.audit_log() if r["incident_id"])  # decisions and actions
        starts = [orjson.loads(r["detail"]) for r in s.audit_log() if r["event"] == "serve_started"]
        (offset,) = s.query("SELECT position FROM source_offsets")
        actions = s.actions()
    assert len(starts) == kills + 1 and any(st["resumed"] for st in starts)
    assert records == RECORDS  # every record processed; the engine's count holds no record twice
    assert orjson.loads(offset["position"])["offset"] == source.stat().st_size
    n_seen = {k: d["state"]["n_seen"] for k, d in state["models"]["lending-risk"]["detectors"].items()}
    assert n_seen == ref["n_seen"]
    return {"actions": actions}


@pytest.mark.e2e
def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(tmp_path, store_url):
    store, source = kill_and_restart(tmp_path, seed=20261126, kills=3, store=store_url)
    got = assert_same_as_uninterrupted(tmp_path, store, source, kills=3)
    assert {a.status for a in got["actions"]} == {"dry_run"}


@pytest.mark.e2e
def test_sigkill_with_a_chain_pauses_exactly_once(tmp_path):
    from web3 import Web3

    from rules import module_id_bytes32
    from tests.anvil import start_anvil
    from watchdog.actions.chain import MonitorClient, Signer, deploy_monitor

    module = module_id_bytes32("lending-risk")
    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        address = deploy_monitor(w3, Signer.from_key(node.accounts[0].private_key),
                                 watchdogs=(node.accounts[3].address,), modules=(module,))
        chain = (node.url, address, node.accounts[3].private_key)
        store, source = kill_and_restart(tmp_path, seed=6, kills=2, chain=chain)
        got = assert_same_as_uninterrupted(tmp_path, store, source, kills=2)
        events = MonitorClient(w3, address).module_paused_events()
    (pause,) = [a for a in got["actions"] if a.kind == "pause"]
    assert len(events) == 1 and "0x" + events[0]["incidentId"].hex().removeprefix("0x") == pause.incident_id
    assert pause.status in ("mined", "confirmed") and pause.tx_hash == events[0]["tx_hash"]


@pytest.mark.e2e
def test_sigterm_drains_checkpoints_and_exits_0(tmp_path, store_url):
    source = tmp_path / "records.jsonl"
    source.touch()
    store = store_url
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = serve(tmp_path, store, source, http=f"127.0.0.1:{port}")
    try:
        poll(lambda: count(store, "SELECT COUNT(*) FROM audit WHERE event = 'serve_started'"), proc)
        source.write_bytes(b"".join(LINES))
        poll(lambda: count(store, "SELECT COUNT(*) FROM checkpoints"), proc)  # reading has begun
        # the API runs in the same process, over the same engine and store
        api = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{api}/healthz", timeout=10).status_code == 200
        status = httpx.get(f"{api}/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
        assert {j["id"] for j in status["scheduler_jobs"]} >= {"checkpoint", "time_conditions", "weekly_report"}
        assert status["records_processed"] > 0 and str(source) in status["sources"]
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, (tmp_path / "serve.log").read_text()[-3000:]
    records, state = checkpoint_state(store)
    with Store(store) as s:
        (row,) = s.query("SELECT position FROM source_offsets")
        events = [r["event"] for r in s.audit_log()]
    offset = orjson.loads(row["position"])["offset"]
    # the checkpoint and the offset agree: exactly the records before the offset were processed
    assert records == sum(1 for ln in source.read_bytes()[:offset].splitlines() if ln.strip()) > 0
    assert state["models"]["lending-risk"]["n_predictions"] > 0
    assert events[-1] == "serve_stopped"
