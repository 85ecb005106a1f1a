"""Blocks of JSON lines that pyarrow reads as one table must get the verdicts the line parser gives."""

from __future__ import annotations

import orjson
import pytest

from watchdog.ingest.sources import Position, RawBatch
from watchdog.service.feed import FeedResult, feed

from .helpers import engine


def process_jsonl(eng, lines: list[bytes], numbers: list[int], source: str, block: int = 32768) -> FeedResult:
    """JSON lines through the columnar path (blocks of lines as tables, the lines pyarrow cannot read one by one)."""
    return feed(eng, RawBatch(source, Position(0), lines=lines, line_numbers=numbers), block=block)


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
    for raw, n in zip(lines, numbers, strict=True):
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


def test_strings_that_spell_numbers_are_the_wrong_type_in_json_as_on_the_line_path():
    """A block split in halves may leave a half where every value of a numeric field is a string: pyarrow
    reads a string column, which must not become numbers (that is for CSV)."""
    good = [rec(i % 60, id=f"n-{i}") for i in range(100)]
    strings = [rec(i % 60, id=f"s-{i}", features={"utilization": "0.5", "collateral_ratio": 1.3,
                                                  "volatility_7d": 0.02, "borrow_rate": 0.04, "asset_class": "btc"})
               for i in range(100)]
    lines = good + strings
    res = process_jsonl(engine(), lines, list(range(1, 201)), "s", block=200)
    line_path = engine()
    want = [getattr(line_path.process_line(raw, n, "s"), "reason_code", None) for n, raw in enumerate(lines, 1)]
    assert want[100:] == ["wrong_type"] * 100
    assert sorted(q.line for q in res.quarantined) == list(range(101, 201))
    assert {q.reason_code for q in res.quarantined} == {"wrong_type"} and res.predictions == 100


def test_duplicates_near_the_edge_of_the_window_get_the_line_paths_verdict():
    """An id is a duplicate while its prediction is among the model's last join_capacity ones, as the
    window slides over the table's own rows: the same verdicts as line by line, whatever the table size."""
    ids = ["a", "b", "c", "a", "d", "e", "f", "g", "h", "a", "b", "b", "i", "j", "k", "l", "m", "c", "a"]
    lines = [rec(i % 60, id=r) for i, r in enumerate(ids)]
    numbers = list(range(1, len(lines) + 1))
    for cap in (1, 3, 5, 8, 100):
        line_path = engine(join_capacity=cap)
        want = [getattr(line_path.process_line(raw, n, "s"), "reason_code", None)
                for n, raw in zip(numbers, lines, strict=True)]
        for block in (2, 7, len(lines)):
            by_block = engine(join_capacity=cap)
            res = process_jsonl(by_block, lines, numbers, "s", block=block)
            got = {q.line: q.reason_code for q in res.quarantined}
            assert [got.get(n) for n in numbers] == want, (cap, block)
        assert want.count("duplicate_id") > 0 or cap == 1


def test_large_string_ids_from_a_table_survive_a_checkpoint(tmp_path):
    import pyarrow as pa

    from watchdog.engine import checkpoint

    def table(start: int, n: int) -> pa.Table:
        return pa.table({
            "model": pa.array(["lending-risk"] * n), "version": pa.array(["1"] * n),
            "ts": pa.array([f"2026-11-16T00:{(start + i) // 60 % 60:02d}:{(start + i) % 60:02d}Z" for i in range(n)]),
            "id": pa.array([f"L-{start + i}" for i in range(n)], pa.large_string()),
            "prediction": pa.array([0.3 + 0.001 * (i % 7) for i in range(n)]),
            **{f"features.{f}": pa.array([0.5 + 0.01 * (i % 5) for i in range(n)])
               for f in ("utilization", "collateral_ratio", "volatility_7d", "borrow_rate")},
            "features.asset_class": pa.array(["btc", "eth"] * (n // 2))})

    e = engine()
    e.process_columns(table(0, 2500))
    e.runtimes["lending-risk"].state.by_id.add("line-1", 0.3, 1.0, True)  # an id from the line path too
    e.process_columns(table(2500, 300))
    state = orjson.loads(checkpoint.dumps(e.snapshot()))
    again = engine()
    again.restore(state)
    res = again.process_columns(table(2700, 200))  # 100 repeats of ids before the checkpoint
    assert [q.reason_code for q in res.quarantined] == ["duplicate_id"] * 100 and res.predictions == 100
