"""The malformed corpus through every source: no crash, each bad record quarantined with its reason,
every good record processed, counts exported as metrics."""

from __future__ import annotations

import io
import math
import re

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from watchdog.ingest.sources import JsonlSource, TableSource
from watchdog.service.api import create_app
from watchdog.service.feed import feed
from watchdog.store.store import Store

from ..api.conftest import TOKEN, serve
from ..sources.helpers import engine as make_engine
from ..sources.helpers import flat
from .corpus import MODEL, NOW, cases, expected_counts

CASES = cases()
N_PRED = sum(1 for c in CASES if c.code is None and c.kind == "prediction")
N_LABEL = sum(1 for c in CASES if c.code is None and c.kind == "label")


def engine():
    return make_engine(clock=lambda: NOW)


def check(eng, got: dict[int, str], cases_in_order, first_line: int = 1) -> None:
    """``got`` maps line (1-based position in ``cases_in_order``) to the reason code it was given."""
    want = {i: c.code for i, c in enumerate(cases_in_order, first_line) if c.code}
    assert got == want
    rt = eng.runtimes[MODEL]
    assert rt.n_predictions == sum(1 for c in cases_in_order if c.code is None and c.kind == "prediction")
    assert rt.n_labels_joined + rt.n_labels_unmatched == sum(1 for c in cases_in_order if c.kind == "label")
    for code, n in expected_counts(cases_in_order).items():
        assert eng.metrics.registry.get_sample_value("watchdog_records_quarantined_total", {"reason": code}) == n
    assert (eng.metrics.registry.get_sample_value("watchdog_labels_unmatched_total", {"model": MODEL}) or 0) == \
        rt.n_labels_unmatched


def write(path, cs) -> None:
    path.write_bytes(b"".join(c.raw + b"\n" for c in cs))


def test_jsonl_replay(tmp_path):
    p = tmp_path / "corpus.jsonl"
    write(p, CASES)
    eng = engine()
    q = io.BytesIO()
    got = {}
    for b in JsonlSource(p).batches():
        got.update({x.line: x.reason_code for x in feed(eng, b, q).quarantined})
    check(eng, got, CASES)
    rows = [orjson.loads(ln) for ln in q.getvalue().splitlines()]
    assert len(rows) == len(got) and all(r["reason"] and r["source"] == "corpus.jsonl" for r in rows)
    assert max(len(r["raw"]) for r in rows) <= 2048


def test_jsonl_follow_while_the_file_grows(tmp_path):
    p = tmp_path / "live.jsonl"
    p.write_bytes(b"")
    eng = engine()
    src = JsonlSource(p, follow=True, poll_interval=0.01)
    src.open(None)
    got = {}
    third = len(CASES) // 3
    with open(p, "ab") as w:
        for part in (CASES[:third], CASES[third:2 * third], CASES[2 * third:]):
            w.writelines(c.raw + b"\n" for c in part)
            w.flush()
            while (b := src.poll()) is not None:
                got.update({x.line: x.reason_code for x in feed(eng, b).quarantined})
    check(eng, got, CASES)


@pytest.mark.e2e
def test_http_ingest(tmp_path):
    eng = engine()
    with Store(tmp_path / "w.db") as store:
        app = create_app(engine=eng, store=store, registry=eng.metrics.registry, tokens=[TOKEN],
                         max_body_bytes=16 << 20, max_batch_records=1000)
        for url in serve(app):
            body = b"".join(c.raw + b"\n" for c in CASES)
            r = httpx.post(f"{url}/v1/records", content=body, timeout=30,
                           headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"})
            assert r.status_code == 200, r.text[:500]
            out = r.json()
    got = {x["index"] + 1: x["reason_code"] for x in out["rejected"]}
    check(eng, got, CASES)
    assert out["predictions"] == N_PRED and out["labels"] == N_LABEL
    fields = {x["reason_code"]: x["field"] for x in out["rejected"]}
    assert fields["future_timestamp"] == "ts" and fields["duplicate_id"] == "id"


def _tabular(kind: str):
    keep = [c for c in CASES if c.tabular == "both" or (kind == "csv" and c.tabular == "csv")]
    rows = []
    for c in keep:
        # CSV cells are text: what JSON cannot hold becomes the cell's text
        obj = orjson.loads(re.sub(rb'"utilization":(1e999|NaN|10+)([,}])', rb'"utilization":"\1"\2', c.raw)) \
            if kind == "csv" else None
        if kind == "parquet":
            text = c.raw.replace(b":NaN", b':"__nan__"').replace(b":1e999", b':"__inf__"')
            obj = orjson.loads(text)
        row = flat(obj)
        for k, v in row.items():
            if v == "__nan__":
                row[k] = math.nan
            elif v == "__inf__":
                row[k] = math.inf
            elif kind == "csv" and isinstance(v, (dict, list)):
                row[k] = orjson.dumps(v).decode()
        rows.append(row)
    return keep, rows


def test_parquet(tmp_path):
    keep, rows = _tabular("parquet")
    feats = {"features.utilization": pa.float64(), "features.collateral_ratio": pa.float64(),
             "features.volatility_7d": pa.float64(), "features.borrow_rate": pa.float64(),
             "features.asset_class": pa.string()}
    schema = pa.schema([("model", pa.string()), ("version", pa.string()), ("ts", pa.string()), ("id", pa.string()),
                        ("prediction", pa.float64()), *feats.items()])
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
    p = tmp_path / "corpus.parquet"
    pq.write_table(table, p, row_group_size=100)
    eng = engine()
    got = {}
    for b in TableSource(p, batch_rows=64).batches():
        got.update({x.line: x.reason_code for x in feed(eng, b).quarantined})
    check(eng, got, keep)


def test_csv(tmp_path):
    import csv
    keep, rows = _tabular("csv")
    cols = ["model", "version", "ts", "id", "prediction", "features.utilization", "features.collateral_ratio",
            "features.volatility_7d", "features.borrow_rate", "features.asset_class"]
    p = tmp_path / "corpus.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    eng = engine()
    got = {}
    for b in TableSource(p).batches():
        got.update({x.line: x.reason_code for x in feed(eng, b).quarantined})
    check(eng, got, keep)
