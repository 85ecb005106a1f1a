"""Single records that used to stop the service: each gets a verdict, and the good records around it go on.

On the code before this change: a 20,000-deep line killed the process in libarrow (exit 139); 12,000 levels cost
a minute of CPU; an integer above 2^53 in a numeric feature, a whole float >= 2^63 in a category, a Parquet
uint64 prediction above 2^53 or a timestamp outside the microsecond range raised ``ArrowInvalid`` out of the
columnar path and lost the whole block.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from watchdog.ingest.sources import Position, RawBatch
from watchdog.service.feed import feed

from .helpers import DEMO_LOG, engine

ROOT = Path(__file__).resolve().parents[2]


def good_lines(n: int = 40) -> list[bytes]:
    return [ln for ln in DEMO_LOG.read_bytes().splitlines() if ln.strip()][:n]


def verdicts(lines: list[bytes], columnar: bool) -> tuple[list[tuple[int, str]], int, int]:
    eng = engine()
    res = feed(eng, RawBatch("s", Position(0), lines=lines, line_numbers=list(range(1, len(lines) + 1))),
               columnar=columnar)
    return sorted((q.line, q.reason_code) for q in res.quarantined), res.predictions, res.labels


def deep(line: bytes, depth: int) -> bytes:
    """``line`` with an undeclared field nested ``depth`` arrays deep (orjson cannot write it: by hand)."""
    return line[:-1] + b', "junk": ' + b"[" * depth + b"]" * depth + b"}"


DEEP = """
import sys
from tests.sources.test_poison import deep, good_lines, verdicts
lines = good_lines(30)
lines[10] = deep(lines[10], int(sys.argv[1]))
print(verdicts(lines, columnar=True))
"""


def test_a_line_nested_20000_deep_is_quarantined_not_a_segfault() -> None:
    out = subprocess.run([sys.executable, "-c", DEEP, "20000"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    bad, predictions, _ = eval(out.stdout)
    assert bad == [(11, "bad_json")]
    assert predictions == 29


def test_a_line_nested_12000_deep_costs_no_more_than_the_line_path() -> None:
    lines = good_lines(30)
    lines[10] = deep(lines[10], 12000)
    t = time.process_time()
    got = verdicts(lines, columnar=True)
    assert time.process_time() - t < 2.0
    assert got == verdicts(lines, columnar=False)


@pytest.mark.parametrize("case", ["wei", "big_category", "big_version", "big_model", "big_id"])
def test_numbers_past_the_double_and_int64_range_get_the_line_paths_verdict(case: str) -> None:
    """Every row of the column has the same JSON type (else pyarrow cannot read the block as one table and
    the line path takes it), one of them past the range."""
    recs = [orjson.loads(ln) for ln in good_lines(30)]
    preds = [r for r in recs if "features" in r]
    for i, rec in enumerate(preds):
        big = i == 5
        if case == "wei":  # integers, one above 2^53 (a wei amount): a number, as on the line path
            rec["features"]["utilization"] = 10**18 + 1 if big else i
        elif case == "big_category":  # whole floats, one >= 2^63 (a uint64 hash code)
            rec["features"]["asset_class"] = 2.0**64 if big else float(i)
        elif case == "big_version":
            rec["version"] = 2.0**63 if big else float(i)
        elif case == "big_model":
            rec["model"] = 2.0**63 if big else rec["model"]
        else:
            rec["id"] = 2**63 + 5 if big else i  # beyond int64
    lines = [_dumps(r) for r in recs]
    assert verdicts(lines, columnar=True) == verdicts(lines, columnar=False)


def _dumps(rec: dict) -> bytes:
    """orjson refuses integers beyond 64 bits: the standard library writes them."""
    import json
    return json.dumps(rec).encode()


def test_a_parquet_uint64_prediction_and_an_out_of_range_timestamp_are_verdicts_not_crashes() -> None:
    eng = engine()
    lines = good_lines(20)
    base = [orjson.loads(ln) for ln in lines]
    rows = [r for r in base if "prediction" in r]
    n = len(rows)
    table = pa.table({
        "model": [r["model"] for r in rows], "version": [r["version"] for r in rows],
        "ts": pa.array([1_795_000_000 + i for i in range(n - 1)] + [10**15], type=pa.timestamp("s", tz="UTC")),
        "id": [r["id"] for r in rows],
        "prediction": pa.array([1] * (n - 2) + [2**60, 2**64 - 1], type=pa.uint64()),
        **{f"features.{k}": [r["features"].get(k) for r in rows] for k in rows[0]["features"]},
    })
    res = feed(eng, RawBatch("p", Position(0), table=table))
    codes = {q.line: q.reason_code for q in res.quarantined}
    assert codes.get(n) in ("future_timestamp", "bad_timestamp")  # year 31 million: refused, not a crash
    assert res.predictions == n - len(codes)
