"""Parquet and CSV files replayed as pyarrow tables: columnar all the way into the detectors.

The columns are those of :mod:`watchdog.columnar` (``model``, ``version``, ``ts``, ``id``,
``prediction``, ``label``, ``features.<name>`` or a ``features`` struct). The position is the index
of the first unread row; ``line`` numbers rows from 1. CSV is read with every column as bytes, then
text (a stray word in a numeric column, or a cell that is not UTF-8, then rejects that row, not the
whole file); empty cells are missing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from watchdog.ingest.records import Quarantined
from watchdog.ingest.sources.base import Position, RawBatch


class TableSource:
    """Batches of rows of a Parquet (``.parquet``) or CSV (``.csv``) file.

    Parameters
    ----------
    path:
        The file; its suffix chooses the format unless ``format`` is given.
    batch_rows:
        Rows per batch at most (Parquet is read in batches of this size, CSV in blocks then sliced).
    """

    def __init__(self, path: str | Path, *, format: str | None = None, batch_rows: int = 1 << 17,
                 name: str | None = None):
        self.path = Path(path)
        fmt = format or self.path.suffix.lstrip(".").lower()
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"format must be 'parquet' or 'csv', got {fmt!r} (from {self.path.name})")
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
        self.format = fmt
        self.batch_rows = batch_rows
        self.name = name or self.path.name
        self._malformed: list[Quarantined] = []  # CSV rows with the wrong number of fields, since the last batch

    def batches(self, start: Position | None = None) -> Iterator[RawBatch]:
        skip = start.offset if start is not None else 0
        done = 0
        if self.format == "parquet":
            done, tables = self._parquet(skip)
        else:
            tables = self._csv_tables()
        for tbl in tables:
            n = tbl.num_rows
            if done + n <= skip:
                done += n
                continue
            if skip > done:
                tbl = tbl.slice(skip - done)
                done = skip
            for off in range(0, tbl.num_rows, self.batch_rows):
                part = tbl.slice(off, self.batch_rows)
                first = done + 1
                done += part.num_rows
                part, numbers, bad = _text_columns(part, first) if self.format == "csv" else (part, [], [])
                if self._malformed:
                    bad, self._malformed = self._malformed + bad, []
                yield RawBatch(source=self.name, position=Position(done, done, str(self.path)), table=part,
                               first_line=first, line_numbers=numbers, pre_quarantined=bad)

    def _parquet(self, skip: int) -> tuple[int, Iterator[pa.Table]]:
        """Rows in the row groups wholly before ``skip`` (not read), and tables of the rest, read in
        batches of ``batch_rows`` so memory stays flat whatever the size of the row groups."""
        f = pq.ParquetFile(self.path)
        skipped = 0
        groups: list[int] = []
        for g in range(f.num_row_groups):
            n = f.metadata.row_group(g).num_rows
            if not groups and skipped + n <= skip:
                skipped += n
            else:
                groups.append(g)
        batches = f.iter_batches(batch_size=self.batch_rows, row_groups=groups) if groups else iter(())
        return skipped, (pa.Table.from_batches([rb]) for rb in batches)

    def _csv_tables(self) -> Iterator[pa.Table]:
        with open(self.path, newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), [])
        if not header:
            return
        # read as bytes: a cell that is not UTF-8 then rejects its row (bad_utf8), not the whole file
        opts = pacsv.ConvertOptions(column_types={h: pa.binary() for h in header}, strings_can_be_null=True,
                                    null_values=[""])
        read = pacsv.ReadOptions(block_size=16 << 20, use_threads=False)  # row numbers
        reader = pacsv.open_csv(self.path, read_options=read,
                                parse_options=pacsv.ParseOptions(invalid_row_handler=self._invalid_row),
                                convert_options=opts)
        for rb in reader:
            yield pa.Table.from_batches([rb])


    def _invalid_row(self, row: Any) -> str:
        """A row whose field count is off is quarantined (``missing_field``) and skipped; the file reads on."""
        line = int(row.number) if row.number is not None else 0
        self._malformed.append(Quarantined(
            line, "missing_field",
            f"CSV row {line} has {row.actual_columns} field(s), the header has {row.expected_columns}",
            (row.text or "")[:2048]))
        return "skip"


def _text_columns(tbl: pa.Table, first: int) -> tuple[pa.Table, list[int], list[Quarantined]]:
    """Binary CSV columns as text; rows with a cell that is not UTF-8 are taken out and quarantined."""
    bad = np.zeros(tbl.num_rows, dtype=bool)
    why: dict[int, str] = {}
    cols = []
    for name, col in zip(tbl.column_names, tbl.columns, strict=True):
        try:
            cols.append(pc.cast(col, pa.string()))
            continue
        except pa.ArrowInvalid:
            pass
        text: list[str | None] = []
        for i, cell in enumerate(col.to_pylist()):
            try:
                text.append(None if cell is None else cell.decode("utf-8"))
            except UnicodeDecodeError as e:
                text.append(None)
                bad[i] = True
                why.setdefault(i, f"column {name!r} is not valid UTF-8 (byte {e.start})")
        cols.append(pa.array(text, pa.string()))
    out = pa.table(cols, names=tbl.column_names)
    if not bad.any():
        return out, [], []
    quarantined = [Quarantined(first + i, "bad_utf8", why[i], ",".join(
        "" if c is None else c.decode("utf-8", "replace") for c in tbl.slice(i, 1).to_pylist()[0].values())[:2048])
        for i in sorted(why)]
    keep = np.flatnonzero(~bad)
    return out.filter(pa.array(~bad)), (keep + first).tolist(), quarantined
