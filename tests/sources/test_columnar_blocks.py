"""Blocks of JSON lines that pyarrow reads as one table must get the verdicts the line parser gives."""

from __future__ import annotations

import orjson
import pytest

from watchdog.columnar import process_jsonl

from .helpers import engine


def rec(i: int, **over: object) -> bytes:
    r = {"model": "lending-risk", "version": "1.4.0", "ts": f"2026-11-16T00:00:{i:02d}Z", "id": f"b-{i}",
         "features": {"utilization": 0.5, "collateral_ratio": 1.3, "volatility_7d": 0.02, "borrow_rate": 0.04,
                      "asset_class": "btc"}, "prediction": 0.3}
    r.update(over)
    return orjson.dumps(r)


BLOCKS = {
    "features arrays": [rec(i, features=[1, 2]) for i in range(3)],
    "features strings": [rec(i, features="high") for i in range(3)],
    "nested object for a number": [rec(i, features={"utilization": {"v": 1}}) for i in range(3)],
    "booleans for numbers": [rec(i, features={"utilization": True}) for i in range(3)],
    "integer ids and versions": [rec(i, id=i, version=2) for i in range(3)],
    "empty features": [rec(i, features={}) for i in range(3)],
    "integer category": [rec(i, features={"asset_class": 3}) for i in range(3)],
    "float category": [rec(i, features={"asset_class": 3.5}) for i in range(3)],
    "empty id": [rec(i, id="") for i in range(3)],
    "prediction array": [rec(i, prediction=[1]) for i in range(3)],
    "labels only": [orjson.dumps({"model": "lending-risk", "id": f"b-{i}", "label": 0.1}) for i in range(3)],
    "label without value": [orjson.dumps({"model": "lending-risk", "id": f"b-{i}"}) for i in range(3)],
    "mixed good and late labels": [rec(0), orjson.dumps({"model": "lending-risk", "id": "b-0", "label": 0.1}), rec(1)],
    "ts offsets and no zone": [rec(0, ts="2026-11-16T02:00:00+02:00"), rec(1, ts="2026-11-16 00:00:00"),
                               rec(2, ts="2026-13-16T00:00:00Z")],
    "missing model": [orjson.dumps({"id": "x", "label": 1.0}) for _ in range(2)],
    "unknown model": [rec(i, model="nope") for i in range(2)],
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_verdicts_match_the_line_parser(name):
    lines = BLOCKS[name]
    numbers = list(range(1, len(lines) + 1))
    by_line, by_block = engine(), engine()
    want = []
    for raw, n in zip(lines, numbers):
        r = by_line.process_line(raw, n, "s")
        want.append((n, r.reason_code) if hasattr(r, "reason_code") else (n, type(r).__name__))
    res = process_jsonl(by_block, lines, numbers, "s")
    bad = {q.line: q.reason_code for q in res.quarantined}
    got = [(n, bad[n]) if n in bad else (n, None) for n in numbers]
    want_codes = [(n, c if c not in ("Prediction", "Label") else None) for n, c in want]
    assert got == want_codes
    kinds = [c for _, c in want]
    assert res.predictions == kinds.count("Prediction") and res.labels == kinds.count("Label")
    assert by_block.runtimes["lending-risk"].n_predictions == by_line.runtimes["lending-risk"].n_predictions


def test_a_bad_line_in_a_large_block_costs_its_neighbours_nothing():
    """One line of bad UTF-8 inside a string (pyarrow would read it) and one of bad JSON among 1,000 good
    ones: each bad one is quarantined with the line parser's reason, every good one counted, and the good
    ones still go the columnar way (the halves without a bad line are read as tables)."""
    lines = [rec(i % 60, id=f"g-{i}") for i in range(1000)]
    lines[137] = lines[137].replace(b'"version":"1.4.0"', b'"version":"1.4.\xff"')
    lines[801] = lines[801][:-5]
    numbers = list(range(1, 1001))
    eng = engine()
    calls = []
    original = eng.process_line
    eng.process_line = lambda raw, n, s="": calls.append(n) or original(raw, n, s)  # count the line-path lines
    res = process_jsonl(eng, lines, numbers, "s", block=1000)
    assert sorted((q.line, q.reason_code) for q in res.quarantined) == [(138, "bad_utf8"), (802, "bad_json")]
    assert res.predictions == 998 and eng.runtimes["lending-risk"].n_predictions == 998
    assert 138 in calls and 802 in calls and len(calls) <= 2 * 64  # two small blocks went line by line
