"""The fuzz job over every source (Hypothesis, bounded): no crash, the line path's verdicts, every good record.

Generated records, good and bad among each other, are written as JSON Lines, as CSV (with rows no JSON line can
be: the wrong field count, an unterminated quote, a line break in a value, blank lines; and quoted commas and
quotes) and as
Parquet (flat or ``features`` struct columns; plain, dictionary, view and large strings; row groups and
compression drawn), and read by :class:`JsonlSource` and :class:`TableSource` through ``feed``. Each record
must get the verdict the line path gives its JSON line (or, for a CSV row no JSON line can be, a
``missing_field`` at its number), and as many predictions and labels must be taken. Then raw bytes (mutated,
truncated, spliced files) go through both table formats, resumed from every position: the source never
raises, so ``serve`` (which stops on a source that raises) cannot be driven into a crash loop, and no
quarantine entry is handed on twice.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.ingest.sources import JsonlSource, Position, RawBatch, TableSource
from watchdog.service.feed import feed

from . import test_differential as differential
from .helpers import engine

MODEL = "lending-risk"
NUMERIC = ("utilization", "collateral_ratio", "volatility_7d", "borrow_rate")
COLUMNS = ("model", "version", "ts", "id", "prediction", "label", *(f"features.{f}" for f in NUMERIC),
           "features.asset_class")
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

# cells both a CSV cell and a JSON value can say alike: no empty string (CSV's missing), no NaN (not JSON),
# no string spelling a number where a number goes (a number in CSV), no number where text goes
words = st.one_of(st.sampled_from(["btc", "eth", "x y", "é€", 'say "hi"', "a,b", "l1\nl2", "true", "-"]),
                  st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=4)
                  .filter(lambda s: s.strip() == s and not _numeric(s)))
numbers = st.one_of(st.integers(-(2**60), 2**60), st.floats(-1e12, 1e12, allow_nan=False), st.just(0.25))
not_numbers = st.sampled_from(["abc", "x y", "true", "-", "1.2.3", "é"])
times = st.one_of(st.integers(0, 86399).map(lambda s: f"2026-11-16T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z"),
                  st.sampled_from(["2026-11-16T00:00:00", "x", "2026-13-01T00:00:00Z", "1999-01-01T00:00:00Z",
                                   "2026-11-16 01:02:03+02:00", "9999-12-31T23:59:59Z"]))


def _numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return s.strip().lower() in ("nan", "inf", "infinity", "+inf", "-inf")
    return True


@st.composite
def record(draw: st.DrawFn, i: int, typed: bool) -> dict[str, Any]:
    """One record as cells (None: missing). ``typed``: numbers only where numbers go (Parquet's columns), and
    text may hold line breaks (no CSV value may)."""
    kind = draw(st.sampled_from(["good", "good", "good", "label", "model", "version", "ts", "id", "prediction",
                                 "feature", "category", "duplicate"]))
    rec: dict[str, Any] = {"model": MODEL, "version": "1.4.0", "ts": draw(times) if kind == "ts" else
                           f"2026-11-16T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                           "id": f"d-{i}", "prediction": 0.3, "label": None,
                           **{f"features.{f}": round(0.1 + 0.01 * (i % 50), 4) for f in NUMERIC},
                           "features.asset_class": "btc"}
    num = numbers if typed else st.one_of(numbers, not_numbers)
    text = words.filter(lambda w: "\n" not in w) if not typed else words
    if kind == "label":
        rec = dict.fromkeys(COLUMNS) | {"model": MODEL, "id": f"d-{draw(st.integers(0, i))}",
                                         "label": draw(st.one_of(num, st.none()))}
    elif kind in ("model", "version", "id"):
        rec[kind] = draw(st.one_of(st.none(), text, st.just("lending-risk")))
    elif kind == "prediction":
        rec["prediction"] = draw(st.one_of(st.none(), num))
        rec["label"] = draw(st.one_of(st.none(), num))
    elif kind == "feature":
        rec[f"features.{draw(st.sampled_from(NUMERIC))}"] = draw(st.one_of(st.none(), num))
    elif kind == "category":
        rec["features.asset_class"] = draw(st.one_of(st.none(), text))
    elif kind == "duplicate":
        rec["id"] = f"d-{draw(st.integers(0, i))}"
    return rec


def json_line(rec: dict[str, Any]) -> bytes:
    out: dict[str, Any] = {k: v for k, v in rec.items() if v is not None and not k.startswith("features.")}
    features = {k.split(".", 1)[1]: v for k, v in rec.items() if k.startswith("features.") and v is not None}
    if "prediction" in out or any(rec.get(k) is not None for k in ("version", "ts")) or features:
        out["features"] = features
    return json.dumps(out, ensure_ascii=False).encode("utf-8", "surrogateescape")


def cell(v: Any) -> str:
    return "" if v is None else repr(float(v)) if isinstance(v, float) else str(v)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, list[bytes], list[int], list[int]]:
    """A CSV file; the JSON lines of its records with their row numbers; the numbers of rows no line can be.

    A value may not hold a line break (one record a line): a record with one is written, and each of its
    lines is a bad row."""
    order = draw(st.permutations(COLUMNS))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    data = [_csv_line(list(order), end)]
    lines, numbers, broken = [], [], []
    n = 0
    for i in range(draw(st.integers(1, 30))):
        shape = draw(st.sampled_from(["record"] * 8 + ["blank", "fields", "quote", "utf8", "break"]))
        if shape == "blank":
            data.append(end.encode())
            continue
        n += 1
        rec = draw(record(i, typed=False))
        if shape == "utf8":  # a byte that is not UTF-8 in the id: bad_utf8 on both paths
            rec["id"] = f"u{i}\udcff"
        elif shape == "break":  # in the last column, so no line after the break holds a whole row
            rec[order[-1]] = draw(st.sampled_from(["l1\nl2", "a\r\nb", "x\n\ny"]))
        cells = [cell(rec[c]) for c in order]
        if shape == "fields":
            cells = cells[:draw(st.integers(1, len(cells) - 1))] if draw(st.booleans()) else [*cells, "extra"]
        row = _csv_line(cells, end)
        if shape == "quote" and row.count(b'"') == 0:  # an opening quote that never closes
            row = row.replace(b",", b',"', 1)
        elif shape == "quote":
            shape = "record"
        data.append(row)
        if shape == "break":  # each non-blank line of the record is a bad row
            parts = [ln for ln in row.splitlines() if ln]
            broken += list(range(n, n + len(parts)))
            n += len(parts) - 1
        elif shape in ("fields", "quote"):
            broken.append(n)
        else:
            lines.append(json_line(rec))
            numbers.append(n)
    return b"".join(data), lines, numbers, broken


def _csv_line(cells: list[str], end: str) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator=end).writerow(cells)
    return buf.getvalue().encode("utf-8", "surrogateescape")


def by_line(lines: list[bytes], numbers: list[int]) -> tuple[list[tuple[int, str]], int, int]:
    res = feed(engine(), RawBatch("s", Position(0), lines=lines, line_numbers=numbers), columnar=False)
    return sorted((q.line, q.reason_code) for q in res.quarantined), res.predictions, res.labels


def by_source(source: Any, columnar: bool = True) -> tuple[list[tuple[int, str]], int, int]:
    eng = engine()
    bad, predictions, labels = [], 0, 0
    for batch in source.batches():
        res = feed(eng, batch, columnar=columnar)
        bad += [(q.line, q.reason_code) for q in res.quarantined]
        predictions, labels = predictions + res.predictions, labels + res.labels
    return sorted(bad), predictions, labels


@settings(SETTINGS, max_examples=250)  # where the bugs were: an open quote, bytes not UTF-8, text not ASCII
@given(csv_files(), st.integers(1, 12))
def test_csv_rows_get_the_line_paths_verdicts(tmp_path_factory, case, batch_rows):
    data, lines, numbers, broken = case
    p = tmp_path_factory.mktemp("csv") / "f.csv"
    p.write_bytes(data)
    expected_bad, predictions, labels = by_line(lines, numbers)
    got = by_source(TableSource(p, batch_rows=batch_rows))
    expected = sorted(expected_bad + [(n, "missing_field") for n in broken])
    assert got == (expected, predictions, labels), data.decode("utf-8", "replace")


@st.composite
def parquet_tables(draw: st.DrawFn) -> tuple[pa.Table, list[bytes]]:
    recs = [draw(record(i, typed=True)) for i in range(draw(st.integers(1, 40)))]
    text = draw(st.sampled_from([pa.string(), pa.large_string(), pa.string_view(), "dictionary"]))

    def strings(name: str) -> pa.Array:
        a = pa.array([r[name] for r in recs], pa.string())
        return a.dictionary_encode() if text == "dictionary" else a.cast(text)

    cols: dict[str, pa.Array] = {c: strings(c) for c in ("model", "version", "ts", "id")}
    for c in ("prediction", "label", *(f"features.{f}" for f in NUMERIC)):
        cols[c] = pa.array([None if r[c] is None else float(r[c]) for r in recs], pa.float64())
    cols["features.asset_class"] = strings("features.asset_class")
    if draw(st.booleans()):  # features as one struct column
        names = [c for c in cols if c.startswith("features.")]
        cols["features"] = pa.StructArray.from_arrays([cols.pop(c) for c in names],
                                                      [c.split(".", 1)[1] for c in names])
    return pa.table(cols), [json_line(r) for r in recs]


@SETTINGS
@given(parquet_tables(), st.sampled_from(["none", "snappy", "zstd"]), st.integers(1, 16), st.integers(1, 50))
def test_parquet_rows_get_the_line_paths_verdicts(tmp_path_factory, case, compression, group, batch_rows):
    table, lines = case
    p = tmp_path_factory.mktemp("pq") / "f.parquet"
    views = any(pa.types.is_string_view(t) for t in table.schema.types)  # pyarrow cannot slice them to write
    pq.write_table(table, p, compression=compression, row_group_size=None if views else group)
    expected = by_line(lines, list(range(1, len(lines) + 1)))
    assert by_source(TableSource(p, batch_rows=batch_rows)) == expected
    jl = p.with_suffix(".jsonl")
    jl.write_bytes(b"\n".join(lines) + b"\n")
    assert by_source(JsonlSource(jl)) == expected
    assert by_source(JsonlSource(jl), columnar=False) == expected


@SETTINGS
@given(differential.blocks(), st.integers(64, 4096))
def test_json_lines_through_the_file_source_get_the_line_paths_verdicts(tmp_path_factory, lines, read_bytes):
    """The differential test's generated lines, read back from a file in reads of a few lines each."""
    p = tmp_path_factory.mktemp("jl") / "f.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    expected = by_line(lines, list(range(1, len(lines) + 1)))
    assert by_source(JsonlSource(p, read_bytes=read_bytes)) == expected
    assert by_source(JsonlSource(p, read_bytes=read_bytes), columnar=False) == expected


def _good_files(where: Path) -> dict[str, bytes]:
    rows = [{c: None for c in COLUMNS} | {"model": MODEL, "version": "1.4.0", "id": f"g-{i}", "prediction": 0.3,
             "ts": f"2026-11-16T00:00:{i:02d}Z", "features.utilization": 0.5, "features.asset_class": "btc"}
            for i in range(30)]
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([[cell(r[c]) for c in COLUMNS] for r in rows])
    t = pa.Table.from_pylist(rows)
    pq.write_table(t, where / "g.parquet", row_group_size=7, compression="zstd")
    return {"csv": out.getvalue().encode(), "parquet": (where / "g.parquet").read_bytes()}


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        how = draw(st.sampled_from(["flip", "insert", "cut", "truncate", "repeat"]))
        at = draw(st.integers(0, max(0, len(b) - 1)))
        if how == "flip" and b:
            b[at] = draw(st.integers(0, 255))
        elif how == "insert":
            b[at:at] = draw(st.sampled_from([b'"', b"\n", b"\r", b",", b"\xff", b"\x00", b'""', b"\xef\xbb\xbf"]))
        elif how == "cut":
            del b[at:at + draw(st.integers(1, 64))]
        elif how == "truncate":
            del b[at:]
        else:
            b[at:at] = b[at:at + draw(st.integers(1, 200))]
    return bytes(b)


@SETTINGS
@given(st.data(), st.sampled_from(["csv", "parquet"]), st.integers(1, 10))
def test_no_bytes_make_a_table_source_raise_or_repeat_an_entry(tmp_path_factory, data, fmt, batch_rows):
    where = tmp_path_factory.mktemp("raw")
    raw = data.draw(mutations(_good_files(where)[fmt]))
    p = where / f"m.{fmt}"
    p.write_bytes(raw)
    eng = engine()
    batches = list(TableSource(p, batch_rows=batch_rows).batches())
    for b in batches:
        feed(eng, b)
    everything = _handed_on(batches)
    for k in range(len(batches)):  # a restart from any saved position
        pos = Position.from_json(batches[k].position.to_json())
        rest = _handed_on(list(TableSource(p, batch_rows=batch_rows).batches(pos)))
        done = _handed_on(batches[:k + 1])
        assert sorted(done[0] + rest[0]) == sorted(everything[0]), k  # rows
        assert sorted(done[1] + rest[1]) == sorted(everything[1]), k  # the source's own entries


def _handed_on(batches: list[RawBatch]) -> tuple[list[int], list[int]]:
    rows, entries = [], []
    for b in batches:
        n = b.table.num_rows if b.table is not None else 0
        rows += b.line_numbers or list(range(b.first_line, b.first_line + n))
        entries += [q.line for q in b.pre_quarantined]
    return rows, entries


@SETTINGS
@given(st.binary(max_size=300).map(lambda b: bytes(b"ab,\r\n"[x % 5] for x in b)), st.integers(1, 24))
def test_pieces_cut_at_line_breaks_give_back_every_line(tmp_path_factory, data, size):
    """The CSV reader's pieces hold every line of the file in order, and a line longer than a piece only as
    its length (it is quarantined as too_large, not held)."""
    import re

    from watchdog.ingest.sources.csv_rows import pieces as _chunks

    p = tmp_path_factory.mktemp("chunks") / "f.csv"
    p.write_bytes(data)
    expected = [len(ln) if len(ln) > size else ln for ln in re.split(rb"\r\n|\r|\n", data) if ln]
    got: list[bytes | int] = []
    for piece in _chunks(p, 0, size):
        if isinstance(piece, int):
            got.append(piece)
        else:
            assert piece.endswith((b"\n", b"\r")) or data.endswith(piece)  # only the last piece has no break
            got += [ln for ln in re.split(rb"\r\n|\r|\n", piece) if ln]
    assert got == expected
