"""The spool belongs to its store and is locked: two stores in one folder have a spool each (were: one,
and each replayed the other's records); a store made again next to an old spool does not replay it; a
second serve on the same spool is refused with a sentence naming the holder's pid. A spool of this store
is still replayed after a restart (the e2e test in test_http_spool.py covers the SIGKILL)."""

from __future__ import annotations

import os
import socket
from importlib import resources
from pathlib import Path

import httpx
import pytest

from watchdog.cli import build_parser
from watchdog.commands.serve import Service
from watchdog.ingest.sources.spool import SpoolLock, read_owner

DATA = Path(str(resources.files("watchdog").joinpath("data")))
POLICY = DATA / "demo_policy.yaml"
LINES = [ln for ln in (DATA / "demo.jsonl").read_bytes().splitlines() if ln.strip()]
TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _args(tmp: Path, store: str, port: int, *extra: str) -> list[str]:
    (tmp / "tokens").write_text(TOKEN + "\n")
    return ["serve", "--policy", str(POLICY), "--dry-run", "--http", f"127.0.0.1:{port}",
            "--store", str(tmp / store), "--checkpoint-interval", "3600", "--quarantine", str(tmp / "q.jsonl"),
            "--report-dir", str(tmp / "reports"), "--api-token-file", str(tmp / "tokens"), *extra]


def _start(tmp: Path, store: str, port: int, *extra: str) -> Service:
    svc = Service(build_parser().parse_args(_args(tmp, store, port, *extra)), clock=lambda: 1.80e9)
    try:
        svc.start()
    except BaseException:
        svc.shutdown()
        raise
    return svc


def _post(port: int, lines: list[bytes]) -> None:
    r = httpx.post(f"http://127.0.0.1:{port}/v1/records", content=b"\n".join(lines), timeout=30,
                   headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text


def _kill(svc: Service) -> None:
    """What a SIGKILL leaves: no final checkpoint; only the threads and files are let go (in-process)."""
    svc.restored = False  # shutdown() takes no checkpoint
    svc.shutdown()


def test_two_stores_in_one_folder_have_a_spool_each(tmp_path: Path) -> None:
    port = free_port()
    a = _start(tmp_path, "a.db", port)
    try:
        _post(port, LINES[:30])
    finally:
        _kill(a)  # a's 30 records are in its spool only
    b = _start(tmp_path, "b.db", port)
    try:
        assert b.records == 0  # was: 30, a's records replayed into b
        assert b.spool.directory != a.spool.directory
        _post(port, LINES[30:40])
    finally:
        _kill(b)
    a = _start(tmp_path, "a.db", port)  # a restarts: its own 30 again, none of b's
    try:
        assert a.records == 30
        assert read_owner(a.spool.directory)["store"] == str((tmp_path / "a.db").resolve())
    finally:
        assert a.shutdown() == 0


def test_a_store_made_again_does_not_replay_the_old_spool(tmp_path: Path) -> None:
    port = free_port()
    a = _start(tmp_path, "w.db", port)
    try:
        _post(port, LINES[:30])
    finally:
        _kill(a)
    for p in tmp_path.glob("w.db*"):
        p.unlink()  # a fresh store at the same path
    fresh = _start(tmp_path, "w.db", port)
    try:
        assert fresh.records == 0  # was: 30 records of a store that is gone
    finally:
        assert fresh.shutdown() == 0


def test_a_spool_of_another_store_given_by_spool_dir_is_refused(tmp_path: Path) -> None:
    from watchdog.errors import ConfigError

    port = free_port()
    a = _start(tmp_path, "a.db", port, "--spool-dir", str(tmp_path / "shared"))
    a.shutdown()
    with pytest.raises(ConfigError) as e:
        _start(tmp_path, "b.db", port, "--spool-dir", str(tmp_path / "shared"))
    err = str(e.value)
    assert "belongs to the store" in err and "a.db" in err and "Give this store its own --spool-dir" in err


def test_a_second_serve_on_the_same_spool_is_refused_naming_the_pid(tmp_path: Path) -> None:
    from watchdog.errors import ConfigError

    first = _start(tmp_path, "w.db", free_port())
    try:
        with pytest.raises(ConfigError) as e:
            _start(tmp_path, "w.db", free_port())  # was: started, both writing one spool
        assert f"is in use by another watchdog (pid {os.getpid()}" in str(e.value)
    finally:
        assert first.shutdown() == 0
    again = _start(tmp_path, "w.db", free_port())  # the lock went with its holder
    assert again.shutdown() == 0


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    from watchdog.errors import ConfigError

    lock = SpoolLock(tmp_path / "spool")
    with pytest.raises(ConfigError):
        SpoolLock(tmp_path / "spool")
    lock.release()
    SpoolLock(tmp_path / "spool").release()
    assert not (tmp_path / "spool").exists()  # beside the directory, not in it
