"""Records read again after a SIGKILL (serve) or a second run are not written to the quarantine file again
(was: 2,639 duplicates in 22,639 lines): at start the highest line of each source among the file's last
entries is found, and entries at or below it are left out on the re-read."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import orjson
import pytest

from watchdog.cli import build_parser, main
from watchdog.commands.serve import Service
from watchdog.service.runner import QuarantineWriter, quarantined_through

DATA = Path(str(resources.files("watchdog").joinpath("data")))
POLICY = DATA / "demo_policy.yaml"
LINES = [ln for ln in (DATA / "demo.jsonl").read_bytes().splitlines() if ln.strip()]


def _log(tmp: Path) -> Path:
    lines = [orjson.dumps({"model": "nobody", "id": str(i)}) if i % 10 == 0 else ln
             for i, ln in enumerate(LINES[:1000])]
    src = tmp / "records.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    return src


def _entries(q: Path) -> list[tuple[str, int]]:
    return [(r["source"], r["line"]) for r in map(orjson.loads, q.read_bytes().splitlines())]


def test_serve_after_a_kill_writes_each_quarantined_line_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _log(tmp_path)
    args = ["serve", "--policy", str(POLICY), "--dry-run", "--http", "off", "--no-follow", "--source", str(src),
            "--store", str(tmp_path / "w.db"), "--quarantine", str(tmp_path / "q.jsonl"),
            "--report-dir", str(tmp_path / "reports"), "--checkpoint-interval", "3600"]
    real = Service.checkpoint
    monkeypatch.setattr(Service, "checkpoint", lambda self, now: "killed before any checkpoint")
    svc = Service(build_parser().parse_args(args), clock=lambda: 1.80e9)
    svc.start()
    svc.wait()
    svc.restored = False  # as a SIGKILL: no final checkpoint
    svc.shutdown()
    first = _entries(tmp_path / "q.jsonl")
    assert len(first) == 100
    monkeypatch.setattr(Service, "checkpoint", real)
    assert main(args) == 0  # reads everything again, from its start
    assert _entries(tmp_path / "q.jsonl") == first  # was: every entry twice


def test_a_second_run_over_the_same_log_adds_no_duplicate(tmp_path: Path) -> None:
    src = _log(tmp_path)
    args = ["run", "--policy", str(POLICY), "--source", str(src), "--store", str(tmp_path / "w.db"),
            "--quarantine", str(tmp_path / "q.jsonl"), "--metrics-addr", "off", "--no-progress", "--dry-run"]
    assert main(args) == 0
    first = _entries(tmp_path / "q.jsonl")
    assert len(first) == 100
    assert main(args) == 0
    assert _entries(tmp_path / "q.jsonl") == first


def test_the_writer_forgets_a_mark_once_past_it(tmp_path: Path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_bytes(b'{"source":"a","line":5}\n{"source":"b","line":2}\n{"source":"a","line":7}\n{"source"')
    assert quarantined_through(q) == {"a": 7, "b": 2}
    w = QuarantineWriter(q)
    w.write(b'{"source":"a","line":6}\n')  # dropped
    w.write(b'{"source":"a","line":8}\n{"source":"c","line":1}\n')
    w.write(b'{"source":"a","line":7}\n')  # same batch as 8: still dropped
    w.flush()
    w.write(b'{"source":"a","line":1}\n')  # after the batch that passed the mark: a truncated file read again
    w.close()
    assert q.read_bytes().endswith(b'{"source"{"source":"a","line":8}\n{"source":"c","line":1}\n'
                                   b'{"source":"a","line":1}\n')
    assert w.skipped == 2
