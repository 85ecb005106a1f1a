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


def _checkpointed(store: Path) -> int:
    from watchdog.store.store import Store

    with Store(str(store)) as s:
        row = s.query_one("SELECT records FROM checkpoints WHERE instance = 'default'")
    return int(row["records"]) if row else -1


@pytest.mark.e2e
def test_no_follow_without_http_reads_to_the_end_checkpoints_and_exits_0(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    source = tmp_path / "records.jsonl"
    source.write_bytes(b"\n".join(LINES[:2000]) + b"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    proc = subprocess.run([sys.executable, "-m", "watchdog", *_serve_args(tmp_path, "--source", str(source),
                                                                          "--no-follow", "--http", "off")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)  # was: never exited
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _checkpointed(tmp_path / "w.db") == 2000


def test_http_ingest_alone_needs_no_source(tmp_path: Path) -> None:
    import httpx

    from watchdog.cli import build_parser

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "tokens").write_text("test-token-0123456789abcdef\n")
    args = build_parser().parse_args(_serve_args(tmp_path, "--http", f"127.0.0.1:{port}",
                                                 "--api-token-file", str(tmp_path / "tokens")))
    svc = serve_cmd.Service(args, clock=lambda: 1.80e9)
    try:
        svc.start()  # was: "Nothing to read: give --source FILE ..."
        r = httpx.post(f"http://127.0.0.1:{port}/v1/records", content=b"\n".join(LINES[:20]), timeout=30,
                       headers={"Authorization": "Bearer test-token-0123456789abcdef",
                                "Content-Type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        assert svc.records == 20
    finally:
        assert svc.shutdown() == 0
    assert _checkpointed(tmp_path / "w.db") == 20


def test_nothing_to_read_without_http_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_serve_args(tmp_path, "--http", "off")) == 2
    assert "Nothing to read: give --source FILE" in capsys.readouterr().err
