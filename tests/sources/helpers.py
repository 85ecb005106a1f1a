"""Shared helpers: the demo policy, an engine, and JSON Lines turned into Parquet/CSV tables."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

import rules
from watchdog.engine.engine import Engine
from watchdog.ingest.sources import JsonlSource, TableSource
from watchdog.observe.metrics import Metrics
from watchdog.service.feed import feed

DEMO_POLICY = Path(str(resources.files("watchdog").joinpath("data", "demo_policy.yaml")))
DEMO_LOG = Path(str(resources.files("watchdog").joinpath("data", "demo.jsonl")))


def engine(policy: Path = DEMO_POLICY, **kw: Any) -> Engine:
    return Engine(rules.load_policy(policy), base_dir=policy.parent, metrics=Metrics(), **kw)


def flat(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "features"}
    for k, v in (obj.get("features") or {}).items():
        out[f"features.{k}"] = v
    return out


def write_tables(lines: list[bytes], where: Path, feature_types: dict[str, pa.DataType]) -> tuple[Path, Path]:
    """The same records as Parquet (typed columns) and CSV; every line must be a JSON object."""
    rows = [flat(orjson.loads(ln)) for ln in lines]
    names = ["model", "version", "ts", "id", "prediction", "label", *feature_types]
    fields = [pa.field(n, pa.string()) for n in ("model", "version", "ts", "id")]
    fields += [pa.field("prediction", pa.float64()), pa.field("label", pa.float64())]
    fields += [pa.field(f"features.{k}", t) for k, t in feature_types.items()]
    schema = pa.schema(fields)
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
    pq_path, csv_path = where / "records.parquet", where / "records.csv"
    pq.write_table(table, pq_path, row_group_size=3000)
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([fl.name for fl in schema])
        for r in rows:
            w.writerow(["" if r.get(fl.name) is None else r.get(fl.name) for fl in schema])
    del names
    return pq_path, csv_path


def run_source(eng: Engine, source: Any, columnar: bool = True) -> list[Any]:
    quarantined = []
    for b in source.batches():
        quarantined += feed(eng, b, columnar=columnar).quarantined
    eng.finish()
    return quarantined


def decisions(eng: Engine) -> list[tuple[Any, ...]]:
    return [(d.kind, d.model, d.rule, d.record_index, d.at, d.value, d.n) for d in eng.decisions]


__all__ = ["DEMO_LOG", "DEMO_POLICY", "JsonlSource", "TableSource", "decisions", "engine", "run_source",
           "write_tables"]
