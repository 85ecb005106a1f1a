"""``replay_file`` reads a log through ``JsonlSource`` + ``feed`` in batches and keeps what the old per-line loop
promised: every rejected record in the quarantine (its line number, the source path, in line order), the
summary's counts, progress and the ``after_line`` hook after each batch. Checked against that loop, written
out here, on a real file with bad, blank, CRLF and over-long lines."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import orjson
import pytest

import rules
from watchdog.engine.engine import Engine
from watchdog.ingest.records import Quarantined
from watchdog.observe.metrics import Metrics
from watchdog.service.demo_data import write_log
from watchdog.service.runner import Progress, replay_file

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"
LIMIT = 4096  # the engine's longest line here, so that batches can be small


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runner") / "log.jsonl"
    write_log(str(path), n=3000, drift_at=2000, malformed=True)
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    lines.insert(100, b"")  # blank
    lines.insert(200, b"   \t")  # blank too
    lines[300] += b"\r"  # a CRLF line
    lines.insert(1500, b'{"model": "lending-risk", "id": "x", "pad": "' + b"a" * (LIMIT + 100) + b'"}')  # too large
    lines.insert(1520, b"[1, 2]")  # not an object, after the over-long line in the same batch
    lines.insert(2500, lines[2499])  # a duplicate id (or a second label: unmatched, not an error)
    path.write_bytes(b"\n".join(lines))  # no newline after the last line: it is read all the same
    return path


def _engine() -> Engine:
    engine = Engine(rules.load_policy(DEMO_POLICY), base_dir=DEMO_POLICY.parent, metrics=Metrics())
    engine.parser.max_line_bytes = LIMIT
    return engine


def _line_by_line(path: Path) -> tuple[Engine, list[bytes], dict]:
    """What replay_file did before it read in batches: one line at a time through process_line."""
    engine = _engine()
    quarantine: list[bytes] = []
    counts = {"lines": 0, "predictions": 0, "labels": 0, "by_reason": {}}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            counts["lines"] += 1
            rec = engine.process_line(line, lineno, path.name)
            if isinstance(rec, Quarantined):
                counts["by_reason"][rec.reason_code] = counts["by_reason"].get(rec.reason_code, 0) + 1
                quarantine.append(rec.to_json(str(path)))
            elif hasattr(rec, "prediction"):
                counts["predictions"] += 1
            else:
                counts["labels"] += 1
    engine.finish()
    return engine, quarantine, counts


@pytest.mark.parametrize("columnar", [False, True])
def test_batches_keep_the_quarantine_counts_and_decisions_of_the_line_by_line_loop(log: Path, columnar: bool) -> None:
    ref_engine, ref_quarantine, ref = _line_by_line(log)
    assert set(ref["by_reason"]) >= {"bad_json", "non_finite", "wrong_type", "too_large", "not_object"}
    engine, q = _engine(), io.BytesIO()
    ends: list[int] = []
    summary = replay_file(engine, log, q, after_line=ends.append, batch_bytes=64 << 10, columnar=columnar)
    assert (summary.lines, summary.predictions, summary.labels) == (ref["lines"], ref["predictions"], ref["labels"])
    assert summary.quarantined == len(ref_quarantine) and summary.quarantine_by_reason == ref["by_reason"]
    got = q.getvalue().splitlines()
    if columnar:  # the same records, lines, codes and raw text; a sentence may be worded otherwise
        def key(entry: bytes) -> tuple:
            d = orjson.loads(entry)
            return d["source"], d["line"], d["reason_code"], d["raw"]
        assert [key(e) for e in got] == [key(e) for e in ref_quarantine]
    else:
        assert got == ref_quarantine  # byte for byte, in line order
    assert [(d.rule, d.kind, d.record_index) for d in engine.decisions] == \
        [(d.rule, d.kind, d.record_index) for d in ref_engine.decisions] != []
    # after_line: once per batch, with the batch's last line, up to the file's last line
    assert len(ends) > 5 and ends == sorted(set(ends)) and ends[-1] == log.read_bytes().count(b"\n") + 1


def test_progress_is_shown_after_each_batch(log: Path) -> None:
    out = io.StringIO()
    ticks = itertools.count(0.0, 10.0)  # every update is due
    progress = Progress(log.stat().st_size, stream=out, clock=lambda: next(ticks))
    ends: list[int] = []
    replay_file(_engine(), log, None, progress=progress, after_line=ends.append, batch_bytes=64 << 10)
    shown = out.getvalue().splitlines()
    assert len(shown) == len(ends) + 1  # one per batch, and the final one
    assert "100.0%" in shown[-1] and "100.0%" not in shown[0]
    assert shown[-1].split("%")[1].split("lines")[0].strip().replace(",", "") == str(
        sum(1 for ln in log.read_bytes().split(b"\n") if ln.strip()))
