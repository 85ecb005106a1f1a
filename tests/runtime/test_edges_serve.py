"""Edges of ``watchdog serve``'s start and end: a busy ``--http`` port fails at once with a sentence and exit 2,
before the checkpoint is restored or the spool replayed (was: after the replay)."""

from __future__ import annotations

import socket
from importlib import resources
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.commands import serve as serve_cmd
from watchdog.ingest.sources.spool import Spool

DATA = Path(str(resources.files("watchdog").joinpath("data")))
POLICY = DATA / "demo_policy.yaml"
LINES = [ln for ln in (DATA / "demo.jsonl").read_bytes().splitlines() if ln.strip()]


def _serve_args(tmp: Path, *extra: str) -> list[str]:
    return ["serve", "--policy", str(POLICY), "--dry-run", "--store", str(tmp / "w.db"),
            "--checkpoint-interval", "3600", "--quarantine", str(tmp / "q.jsonl"),
            "--report-dir", str(tmp / "reports"), "--poll-interval", "0.05", *extra]


def test_a_busy_http_port_fails_before_any_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(LINES[:50])  # work the start would do before the API, were the port looked at last
    spool.close()
    source = tmp_path / "empty.jsonl"
    source.touch()
    replays: list[int] = []
    monkeypatch.setattr(serve_cmd.Service, "_open_spool", lambda self: replays.append(1) or 0)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(_serve_args(tmp_path, "--source", str(source), "--http", f"127.0.0.1:{port}",
                                "--spool-dir", str(tmp_path / "spool")))
    assert code == 2
    err = capsys.readouterr().err
    assert f"--http 127.0.0.1:{port} cannot be served" in err and "Choose another address" in err
    assert replays == []


def test_bind_http_gives_a_listening_socket(tmp_path: Path) -> None:
    sock = serve_cmd.bind_http("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass  # accepted by the backlog before any server runs
    finally:
        sock.close()
