"""The JSONL source's lines are spans of its read buffer: the same lines, numbers and verdicts as cut-out bytes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from watchdog.ingest.columnar import json_blocks
from watchdog.ingest.lines import Lines, joined
from watchdog.ingest.sources import JsonlSource

_LINE = st.one_of(
    st.just(b""), st.just(b"   "), st.just(b'{"a":1}'), st.just(b'{"a":[1,[2]]}'), st.just(b"not json"),
    st.binary(max_size=12).filter(lambda b: b"\n" not in b),
    st.builds(lambda n: b'{"x":"' + b"y" * n + b'"}', st.integers(0, 80)),
)


def _naive(text: bytes, limit: int) -> tuple[list[bytes], list[int]]:
    lines, numbers = [], []
    for i, raw in enumerate(text.split(b"\n")[:-1] if text.endswith(b"\n") else text.split(b"\n"), start=1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if raw.strip() and len(raw) <= limit:
            lines.append(raw)
            numbers.append(i)
    return lines, numbers


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_LINE, st.sampled_from([b"\n", b"\r\n"])), max_size=40), st.booleans())
def test_the_source_gives_the_lines_a_naive_split_gives(tmp_path_factory, parts, last_newline):
    text = b"".join(a + b for a, b in parts)
    if not last_newline and text.endswith(b"\n"):
        text = text[:-1]
    path = tmp_path_factory.mktemp("l") / "x.jsonl"
    path.write_bytes(text)
    lines: list[bytes] = []
    numbers: list[int] = []
    for batch in JsonlSource(path, read_bytes=64, max_line_bytes=60).batches():
        lines.extend(batch.lines)
        numbers.extend(batch.line_numbers)
    assert (lines, numbers) == _naive(text, 60)


def test_joined_is_one_slice_only_where_newlines_alone_separate_the_lines():
    data = b'{"a":1}\n{"a":2}\r\n{"a":3}\n'
    contiguous = Lines(data, np.array([0, 8]), np.array([7, 15]))
    assert contiguous.joined() == b'{"a":1}\n{"a":2}'
    crlf = Lines(data, np.array([0, 8, 17]), np.array([7, 15, 24]))  # \r\n between the 2nd and the 3rd
    assert crlf.joined() == b'{"a":1}\n{"a":2}\n{"a":3}' == joined(list(crlf))
    assert crlf[1:] == [b'{"a":2}', b'{"a":3}'] and crlf[-1] == b'{"a":3}' and len(crlf[:0]) == 0


def test_blocks_of_spans_and_of_bytes_give_the_same_tables():
    rows = [b'{"model":"m","ts":"2026-01-01T00:00:%02dZ","features":{"x":%d},"prediction":0.5}' % (i, i)
            for i in range(50)]
    data = b"\n".join(rows) + b"\n"
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    spans = Lines(data, np.concatenate([[0], ends[:-1] + 1]), ends)
    numbers = list(range(1, 51))
    a = [(t.to_pylist() if t is not None else None, list(p), n) for t, p, n in json_blocks(spans, numbers, 16)]
    b = [(t.to_pylist() if t is not None else None, list(p), n) for t, p, n in json_blocks(rows, numbers, 16)]
    assert a == b and len(a) == 4


def test_a_last_line_without_its_newline_over_the_limit_is_too_large(tmp_path):
    """Found by the property above: the final line of a file that ends without a newline skipped the size limit."""
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a":1}\n{"x":"' + b"y" * 54 + b'"}')  # 62 bytes: over 60, under one read of 64
    batches = list(JsonlSource(path, read_bytes=64, max_line_bytes=60).batches())
    assert [ln for b in batches for ln in b.lines] == [b'{"a":1}']
    (q,) = [q for b in batches for q in b.pre_quarantined]
    assert q.line == 2 and q.reason_code == "too_large"
