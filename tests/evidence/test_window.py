"""The records of the detectors' window (engine/ring.py): the line path and the table path keep the same
ones, bounded; they survive a checkpoint; a checkpoint written before they existed still restores. And the
leaf encoding is the documented bytes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
from eth_utils import keccak

from tests.evidence.helpers import by_file, by_lines, operator
from tests.golden import make_golden
from watchdog.engine.checkpoint import dumps
from watchdog.engine.ring import PREDICTION_KEY, RecordRing
from watchdog.evidence.bundle import canonical_json, record_doc, record_leaf, reference_leaf, state_hash

KEYS = {"x": True, "c": False, PREDICTION_KEY: True}


@dataclass(frozen=True)
class Rec:
    id: str
    ts: float
    features: dict[str, object]
    prediction: float


def _rows(n: int, start: int = 0) -> list[tuple[str, float, dict[str, object], float]]:
    return [(f"r{i}", 1000.0 + i, {"x": None if i % 5 == 0 else i * 0.5, "c": "ab"[i % 2]}, i / 10)
            for i in range(start, start + n)]


def _add(ring: RecordRing, rows: list[tuple[str, float, dict[str, object], float]]) -> None:
    for row in rows:
        ring.append(Rec(*row))


def _same(a: RecordRing, b: RecordRing) -> None:
    wa, wb = a.last(), b.last()
    assert wa.ids == wb.ids
    assert wa.ts.tolist() == wb.ts.tolist()
    for k in KEYS:
        va, vb = wa.values[k].tolist(), wb.values[k].tolist()
        assert [None if isinstance(v, float) and math.isnan(v) else v for v in va] == \
               [None if isinstance(v, float) and math.isnan(v) else v for v in vb]


def test_appends_and_table_slices_keep_the_same_last_records() -> None:
    lines, table = RecordRing(7, KEYS), RecordRing(7, KEYS)
    rows = _rows(40)
    _add(lines, rows)
    for at in (0, 3, 4, 21, 40):  # uneven table slices
        part = rows[at:{0: 3, 3: 4, 4: 21, 21: 40, 40: 40}[at]]
        if part:
            table.extend(pa.array([r[0] for r in part]), np.array([r[1] for r in part]),
                         {"x": np.array([math.nan if r[2]["x"] is None else r[2]["x"] for r in part]),
                          "c": np.array([r[2]["c"] for r in part], dtype=object),
                          PREDICTION_KEY: np.array([r[3] for r in part])})
    assert len(lines) == len(table) == 7
    _same(lines, table)
    assert lines.last(3).ids == ["r37", "r38", "r39"]
    restored = RecordRing.restore(orjson.loads(orjson.dumps(lines.snapshot())), 7, KEYS)
    _same(restored, lines)


def test_the_line_path_stays_bounded() -> None:
    ring = RecordRing(5, KEYS)
    for row in _rows(1000):
        ring.append(Rec(*row))
        assert len(ring._open) < 10 and len(ring) <= 5
    assert ring.last().ids == [f"r{i}" for i in range(995, 1000)]


def test_a_reload_resizes_and_a_new_column_is_missing() -> None:
    ring = RecordRing(4, {"x": True})
    _add(ring, _rows(6))
    bigger = ring.resized(8, {"x": True, "c": False})
    w = bigger.last()
    assert w.ids == ["r2", "r3", "r4", "r5"] and w.values["c"].tolist() == [None] * 4


def test_the_leaf_is_keccak_of_the_documented_bytes() -> None:
    doc = record_doc("m", "r-1", 1.5, {"x": 5, "c": "é", "y": math.nan, PREDICTION_KEY: 0.25})
    want = ('{"record":{"features":{"c":"é","x":5.0,"y":null},"id":"r-1","model":"m","prediction":0.25,'
            '"ts_us":1500000}}').encode()
    assert canonical_json(doc) == want
    assert record_leaf("m", "r-1", 1.5, {"x": 5, "c": "é", "y": math.nan, PREDICTION_KEY: 0.25}) == \
        keccak(b"\x00" + want)
    assert reference_leaf("m", "ab") == keccak(b'\x00{"reference":{"model":"m","sha256":"ab"}}')


def test_the_state_hash_ignores_where_a_ring_buffer_starts() -> None:
    class Det:
        def __init__(self, data: list[float], pos: int):
            self.snap = {"params": {"window": 3}, "state": {"window": {"data": data, "pos": pos}, "s": math.nan}}

        def snapshot(self, omit: tuple[str, ...] = ()) -> dict[str, object]:
            return self.snap

    assert state_hash(Det([3.0, 1.0, 2.0], 1)) == state_hash(Det([1.0, 2.0, 3.0], 0))
    assert state_hash(Det([3.0, 1.0, 2.0], 1)) != state_hash(Det([3.0, 1.0, 2.0], 0))


def test_a_checkpoint_without_the_window_still_restores(tmp_path, caplog) -> None:
    """A checkpoint written before the window existed: restored, the window starts empty and fills again."""
    log = make_golden.log_of("demo")
    first, store = operator(make_golden.CASES["demo"], tmp_path / "a.db")
    by_file(first, log[:3000], finish=False)
    snap = orjson.loads(dumps(first.snapshot()))
    for m in snap["models"].values():
        del m["window"]
    store.close()
    second, store = operator(make_golden.CASES["demo"], tmp_path / "b.db")
    assert second.restore(snap) == []
    assert "checkpoint_without_window" in caplog.text
    rt = second.runtimes["lending-risk"]
    assert len(rt.window) == 0
    by_lines(second, log[3000:])
    assert len(rt.window) == rt.max_window
    assert store.incidents(), "the incidents after the restore still open, with the window filled again"
    store.close()
