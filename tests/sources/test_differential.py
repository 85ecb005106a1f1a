"""The line path and the table path give every record the same verdict (Hypothesis, bounded).

Generated JSON lines, good and bad among each other, go through ``feed`` twice: line by line (orjson and the
record parser) and as tables (pyarrow and the table validator). Each line must get the same reason code (or
none) on both, and the same counts of predictions and labels must be taken. Before the change, no
``features``, ``features: null``, ``version: ""``, a BOM before the object and a deep extra field were
accepted by the table path and refused by the line path, and a whole float id the other way round.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.ingest.sources import Position, RawBatch
from watchdog.service.feed import feed

from .helpers import engine

MODEL = "lending-risk"
FEATURES = ("utilization", "collateral_ratio", "volatility_7d", "borrow_rate")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5), st.just(""))
values = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=3), scalars, max_size=2))


@st.composite
def record(draw: st.DrawFn, i: int) -> bytes:
    ts = f"2026-11-16T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
    rec: dict = {"model": MODEL, "version": "1.4.0", "ts": ts, "id": f"d-{i}",
                 "features": {f: round(0.1 + 0.01 * (i % 50), 4) for f in FEATURES} | {"asset_class": "btc"},
                 "prediction": 0.3}
    kind = draw(st.sampled_from(["good", "good", "good", "label", "field", "feature", "drop", "extra", "raw"]))
    if kind == "label":
        return json.dumps({"model": MODEL, "id": f"d-{draw(st.integers(0, i))}", "label": draw(scalars)}).encode()
    if kind == "field":
        rec[draw(st.sampled_from(["model", "version", "ts", "id", "prediction", "label", "features"]))] = draw(values)
    elif kind == "feature":
        rec["features"][draw(st.sampled_from([*FEATURES, "asset_class"]))] = draw(values)
    elif kind == "drop":
        rec.pop(draw(st.sampled_from(["model", "version", "ts", "id", "prediction", "features"])))
    elif kind == "extra":
        rec["junk"] = draw(values)
    text = json.dumps(rec).encode()  # the standard library writes integers past 64 bits
    if kind == "raw":
        text = draw(st.sampled_from([b"\xef\xbb\xbf" + text, text + b" x", b"[1]", b"nul", b"{}", text[:-1]]))
    return text


@st.composite
def blocks(draw: st.DrawFn) -> list[bytes]:
    n = draw(st.integers(1, 40))
    return [draw(record(i)) for i in range(n)]


def verdicts(lines: list[bytes], columnar: bool) -> tuple[list[tuple[int, str]], int, int]:
    eng = engine()
    res = feed(eng, RawBatch("s", Position(0), lines=lines, line_numbers=list(range(1, len(lines) + 1))),
               columnar=columnar)
    return sorted((q.line, q.reason_code) for q in res.quarantined), res.predictions, res.labels


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(blocks())
def test_both_paths_give_each_line_the_same_verdict(lines: list[bytes]) -> None:
    table, line = verdicts(lines, columnar=True), verdicts(lines, columnar=False)
    assert table == line, [lines[n - 1] for n in {n for n, _ in table[0]} ^ {n for n, _ in line[0]}] or lines


GOOD = {"model": MODEL, "version": "1.4.0", "ts": "2026-11-16T00:00:00Z", "id": "x-1",
        "features": {f: 0.5 for f in FEATURES} | {"asset_class": "btc"}, "prediction": 0.3}


def _without(key: str) -> bytes:
    return json.dumps({k: v for k, v in GOOD.items() if k != key}).encode()


CASES = {
    "no features": _without("features"),
    "features null": json.dumps({**GOOD, "features": None}).encode(),
    "empty version": json.dumps({**GOOD, "version": ""}).encode(),
    "empty model": json.dumps({**GOOD, "model": ""}).encode(),
    "a BOM before the object": b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
    "a deep extra field": json.dumps(GOOD).encode()[:-1] + b', "x": ' + b"[" * 40 + b"]" * 40 + b"}",
    "a whole float id": json.dumps({**GOOD, "id": 12.0}).encode(),
    "a fractional float id": json.dumps({**GOOD, "id": 12.5}).encode(),
}


def test_the_cases_the_paths_used_to_disagree_on() -> None:
    for name, bad in CASES.items():
        lines = [json.dumps({**GOOD, "id": f"g-{i}"}).encode() for i in range(5)] + [bad]
        assert verdicts(lines, columnar=True) == verdicts(lines, columnar=False), name


def test_a_bom_on_a_blocks_first_line_gets_the_line_paths_verdict() -> None:
    lines = [b"\xef\xbb\xbf" + json.dumps(GOOD).encode()] + [json.dumps({**GOOD, "id": f"g-{i}"}).encode()
                                                           for i in range(5)]
    got = verdicts(lines, columnar=True)
    assert got == verdicts(lines, columnar=False) and got[0] == [(1, "bad_json")]
