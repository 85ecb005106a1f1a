"""`POST /v1/records` with a write-ahead spool: the records are on disk before they are processed, the
quarantine names spool lines, the caller gets each batch's position, and a spool that cannot be
written answers 503 without processing anything."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import orjson

from watchdog.ingest.sources.spool import Spool
from watchdog.service.api import create_app
from watchdog.store.store import Store

from ..sources.helpers import engine as make_engine
from .conftest import TOKEN, serve
from .test_api import rec


def live_app(tmp: Path, spool: Spool, seen: list) -> tuple:
    eng = make_engine(clock=lambda: 1.80e9)
    store = Store(tmp / "w.db")
    q = io.BytesIO()
    app = create_app(engine=eng, store=store, registry=eng.metrics.registry, tokens=[TOKEN], quarantine=q,
                     spool=spool, on_batch=lambda batch, res: seen.append((batch.position, res.records)))
    return app, eng, store, q


def test_records_are_spooled_before_processing_and_rejects_name_the_spool_line(tmp_path):
    spool = Spool(tmp_path / "spool")
    seen: list = []
    app, eng, store, q = live_app(tmp_path, spool, seen)
    try:
        for url in serve(app):
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
                assert c.post("/v1/records", json=[rec(1), rec(2)]).status_code == 200
                r = c.post("/v1/records", json=[rec(3), rec(4, features={"utilization": "high"})])
        assert r.status_code == 200 and [x["index"] for x in r.json()["rejected"]] == [1]
        lines = b"".join(p.read_bytes() for p in sorted((tmp_path / "spool").iterdir())).splitlines()
        assert [orjson.loads(ln)["id"] for ln in lines] == ["api-1", "api-2", "api-3", "api-4"]
        (bad,) = [orjson.loads(ln) for ln in q.getvalue().splitlines()]
        assert (bad["source"], bad["line"], bad["reason_code"]) == ("http", 4, "wrong_type")  # spool line 4
        assert [(p.offset, p.line, n) for p, n in seen] == [
            (len(lines[0]) + len(lines[1]) + 2, 2, 2), (sum(len(ln) + 1 for ln in lines), 4, 2)]
        assert eng.runtimes["lending-risk"].n_predictions == 3
    finally:
        spool.close()
        store.close()


def test_an_unwritable_spool_is_a_503_and_nothing_is_processed(tmp_path):
    where = tmp_path / "spool"
    where.mkdir()
    (where / "segment-00000000000000000000-000000000000.jsonl").symlink_to("/dev/full")  # a full disk
    spool = Spool(where)
    seen: list = []
    app, eng, store, q = live_app(tmp_path, spool, seen)
    try:
        for url in serve(app):
            r = httpx.post(f"{url}/v1/records", json=[rec(1), rec(2, features={"utilization": "high"})],
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 503
        assert r.json()["detail"].startswith(f"The ingest spool {where.resolve()}/segment-")
        assert "No space left on device" in r.json()["detail"]
        assert eng.runtimes["lending-risk"].n_predictions == 0 and eng.n_quarantined == 0
        assert seen == [] and q.getvalue() == b""
    finally:
        spool.close()
        store.close()
