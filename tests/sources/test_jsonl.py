from __future__ import annotations

import os
import threading

import orjson
import pytest

from watchdog.ingest.sources import JsonlSource, Position


def rec(i: int) -> bytes:
    return orjson.dumps({"i": i}) + b"\n"


def drain(src: JsonlSource) -> tuple[list[bytes], list[int]]:
    lines: list[bytes] = []
    numbers: list[int] = []
    while (b := src.poll()) is not None:
        lines += b.lines
        numbers += b.line_numbers
    return lines, numbers


def test_replay_reads_every_line_with_numbers_and_skips_blank_lines(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(rec(1) + b"\n" + rec(2) + b'{"i": 3}')  # blank line 2, no final newline
    batches = list(JsonlSource(p).batches())
    lines = [ln for b in batches for ln in b.lines]
    numbers = [n for b in batches for n in b.line_numbers]
    assert lines == [b'{"i":1}', b'{"i":2}', b'{"i": 3}'] and numbers == [1, 3, 4]
    assert batches[-1].position.offset == p.stat().st_size and batches[-1].position.line == 4


def test_replay_resumes_from_a_position_and_rereads_nothing_twice(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"".join(rec(i) for i in range(100)))
    src = JsonlSource(p, read_bytes=64, max_line_bytes=64)  # small reads: many batches
    it = src.batches()
    first = [next(it) for _ in range(3)]
    pos = Position.from_json(first[-1].position.to_json())
    seen = [ln for b in first for ln in b.lines]
    rest = [ln for b in JsonlSource(p, read_bytes=64, max_line_bytes=64).batches(pos) for ln in b.lines]
    assert seen + rest == [rec(i).rstrip() for i in range(100)]


def test_line_over_the_limit_is_skipped_without_holding_it_and_reported(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(rec(1) + b'{"x": "' + b"a" * 5000 + b'"}\n' + rec(3))
    batches = list(JsonlSource(p, read_bytes=256, max_line_bytes=256).batches())
    lines = [ln for b in batches for ln in b.lines]
    bad = [q for b in batches for q in b.pre_quarantined]
    assert lines == [b'{"i":1}', b'{"i":3}']
    assert [(q.line, q.reason_code) for q in bad] == [(2, "too_large")] and "5009 bytes" in bad[0].reason


def test_follow_waits_for_a_complete_line_then_survives_rotation_and_truncation(tmp_path):
    p = tmp_path / "live.jsonl"
    src = JsonlSource(p, follow=True, poll_interval=0.01)
    src.open(None)                      # the file does not exist yet
    assert src.poll() is None
    with open(p, "ab") as w:
        w.write(rec(1) + b'{"i": 2')    # a writer mid-line
        w.flush()
        assert drain(src) == ([b'{"i":1}'], [1])
        w.write(b"}\n")
        w.flush()
        assert drain(src)[0] == [b'{"i": 2}']
        os.rename(p, tmp_path / "live.jsonl.1")   # rotation: the writer still appends to the old file
        w.write(rec(3))
        w.flush()
    with open(p, "ab") as w2:
        w2.write(rec(4))
    lines, numbers = drain(src)
    assert lines == [b'{"i":3}', b'{"i":4}'] and numbers == [3, 4]
    ident_before = src.position.ident
    with open(p, "wb") as w3:          # truncation (copytruncate), seen before the writer goes on
        assert drain(src)[0] == []
        w3.write(rec(5))
        w3.flush()
        assert drain(src)[0] == [b'{"i":5}']
    assert src.position.ident == ident_before and src.position.offset == len(rec(5))


def test_follow_iteration_yields_idle_batches_and_ends_on_stop(tmp_path):
    p = tmp_path / "live.jsonl"
    p.write_bytes(rec(1))
    stop = threading.Event()
    got: list[bytes] = []
    idle = 0
    for b in JsonlSource(p, follow=True, poll_interval=0.01, stop=stop).batches():
        got += b.lines
        if not b.lines:
            idle += 1
            if idle == 1:
                with open(p, "ab") as w:
                    w.write(rec(2))
            if idle == 3:
                stop.set()
    assert got == [b'{"i":1}', b'{"i":2}'] and idle == 3


def test_resume_after_the_file_was_replaced_starts_the_new_file_from_its_start(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(rec(1) + rec(2))
    pos = list(JsonlSource(p).batches())[-1].position
    p.unlink()
    p.write_bytes(rec(3))
    assert [ln for b in JsonlSource(p).batches(pos) for ln in b.lines] == [b'{"i":3}']


def test_bad_poll_interval_is_refused(tmp_path):
    with pytest.raises(ValueError, match="poll_interval"):
        JsonlSource(tmp_path / "x", poll_interval=0)
