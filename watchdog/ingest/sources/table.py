"""Parquet and CSV files replayed as pyarrow tables: columnar all the way into the detectors.

The columns are those of :mod:`watchdog.ingest.columnar` (``model``, ``version``, ``ts``, ``id``,
``prediction``, ``label``, ``features.<name>`` or a ``features`` struct). The position's ``offset`` is the
number of rows handed on (Parquet: the file's row index; CSV: rows that parsed), its ``line`` the number of
the last record accounted for (read or quarantined), so a restart neither repeats nor skips an entry.
``line`` numbers rows from 1 (a CSV's header is row 0; blank lines are not rows).

No file can stop the stream; what is refused is quarantined with a sentence and the file reads on::

    CSV                                            Parquet
    a row with the wrong number of fields          a column chunk whose metadata says it decompresses
      -> missing_field, the file reads on            past max_chunk_bytes -> too_large, its row group
    an unterminated quote, or a quoted line          is not read
      break -> missing_field for each line it      a row holding more than max_row_bytes of values
      spans; every other line is read                (a dictionary "bomb") -> too_large, before decoding
    a cell that is not UTF-8 -> bad_utf8           a batch over max_batch_bytes decoded -> cut smaller
    a header naming a column twice, or not         a part that cannot be read -> not_object for its
      UTF-8 -> not_object, the file is skipped       rows, the next row group reads on
                                                   not a Parquet file -> not_object, skipped

CSV is read by :mod:`watchdog.ingest.sources.csv_rows`, one record a line, as JSON Lines: a value may not
hold a line break (pyarrow would let an unterminated quote swallow every line after it, or a lone quote pair up
with one on a later line and make the records between one value). It is read as Latin-1 (every byte one
character, so no row fails to decode inside pyarrow) with every column as bytes; each cell is then turned back
into its bytes and decoded as UTF-8, so a stray word in a numeric column, or a cell that is not UTF-8, rejects
that row, not the whole file; empty cells are missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from watchdog.ingest.records import MAX_LINE_BYTES, Quarantined
from watchdog.ingest.sources.base import Position, RawBatch
from watchdog.ingest.sources.csv_rows import CsvRows, Refusal, read_header, said, text_columns

MAX_ROW_BYTES = MAX_LINE_BYTES
"""The most bytes of values one Parquet row may hold (as the line path's longest line): 1 MiB."""
MAX_CHUNK_BYTES = 128 << 20
"""The most bytes one Parquet column chunk may decompress to, by the file's metadata: 128 MiB."""
MAX_BATCH_BYTES = 256 << 20
"""The most bytes of decoded values in one batch handed on; a bigger one is cut into smaller batches."""


class TableSource:
    """Batches of rows of a Parquet (``.parquet``) or CSV (``.csv``) file.

    Parameters
    ----------
    path:
        The file; its suffix chooses the format unless ``format`` is given.
    batch_rows:
        Rows per batch at most (Parquet is read in batches of this size, CSV in blocks then sliced).
    max_row_bytes, max_chunk_bytes, max_batch_bytes:
        Parquet's limits (see the module docstring); a zstd-compressed cell of 64 MiB in a 4 KB file is
        refused from the metadata or before it is decoded, so memory stays bounded whatever the file.
    """

    def __init__(self, path: str | Path, *, format: str | None = None, batch_rows: int = 1 << 17,
                 name: str | None = None, max_row_bytes: int = MAX_ROW_BYTES,
                 max_chunk_bytes: int = MAX_CHUNK_BYTES, max_batch_bytes: int = MAX_BATCH_BYTES):
        self.path = Path(path)
        fmt = format or self.path.suffix.lstrip(".").lower()
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"format must be 'parquet' or 'csv', got {fmt!r} (from {self.path.name})")
        for what, value in (("batch_rows", batch_rows), ("max_row_bytes", max_row_bytes),
                            ("max_chunk_bytes", max_chunk_bytes), ("max_batch_bytes", max_batch_bytes)):
            if value < 1:
                raise ValueError(f"{what} must be at least 1, got {value}")
        self.format = fmt
        self.batch_rows = batch_rows
        self.name = name or self.path.name
        self.max_row_bytes = max_row_bytes
        self.max_chunk_bytes = max_chunk_bytes
        self.max_batch_bytes = max_batch_bytes

    def batches(self, start: Position | None = None) -> Iterator[RawBatch]:
        if self.format == "parquet":
            yield from self._parquet(start)
        else:
            yield from self._csv(start)

    def _refused(self, line: int, code: str, sentence: str, offset: int, through: int | None = None) -> RawBatch:
        """One entry for rows (or a file) not read; the position moves to ``offset``, having accounted for the
        records through ``through`` (default ``line``)."""
        return RawBatch(source=self.name, position=Position(offset, through or line, str(self.path)),
                        first_line=line, pre_quarantined=[Quarantined(line, code, sentence, "")])

    # Parquet -------------------------------------------------------------------------------------

    def _parquet(self, start: Position | None) -> Iterator[RawBatch]:
        skip = start.offset if start is not None else 0
        try:
            f = pq.ParquetFile(self.path)
            texts = [c.path for c in f.schema if c.physical_type == "BYTE_ARRAY"]
            # strings stay dictionary-encoded until their size is known: a 64 MiB value repeated in every row
            # costs 64 MiB, not 64 MiB a row
            f = pq.ParquetFile(self.path, read_dictionary=texts)
            schema = f.schema_arrow
        except Exception as e:  # whatever the bytes, a refusal with a sentence, not a crash
            if start is None or start.line < 1:
                yield self._refused(1, "not_object", f"{self.name} cannot be read as Parquet ({said(e)}); "
                                    "the file is skipped", 0)
            return
        done = 0
        for g in range(f.num_row_groups):
            meta = f.metadata.row_group(g)
            n = meta.num_rows
            end = done + n
            if end <= skip:
                done = end
                continue
            over = [(meta.column(c).path_in_schema, meta.column(c).total_uncompressed_size)
                    for c in range(meta.num_columns) if meta.column(c).total_uncompressed_size > self.max_chunk_bytes]
            if over:
                col, size = over[0]
                yield self._refused(max(done, skip) + 1, "too_large", (
                    f"rows {done + 1} to {end} (row group {g}): column {col!r} decompresses to {size} bytes by the "
                    f"file's metadata, more than the limit of {self.max_chunk_bytes}; the row group is not read"),
                    end, end)
                done = end
                continue
            at = done
            try:
                for rb in f.iter_batches(batch_size=self.batch_rows, row_groups=[g]):
                    first, count = at, rb.num_rows
                    if first + count > skip:
                        yield from self._checked(rb.slice(skip - first) if first < skip else rb, max(first, skip),
                                                 schema)
                    at = first + count
            except Exception as e:  # a corrupt page: its rows are refused, the file reads on
                yield self._refused(max(at, skip) + 1, "not_object", (
                    f"rows {max(at, skip) + 1} to {end} (row group {g}) cannot be read ({said(e)}); they are "
                    "skipped"), end, end)
            done = end

    def _checked(self, rb: pa.RecordBatch, first: int, schema: pa.Schema) -> Iterator[RawBatch]:
        """One batch read from Parquet (``first``: its first row's index): rows holding too many bytes taken
        out, the rest decoded to the file's own types and cut to at most ``max_batch_bytes`` a batch."""
        sizes = _row_bytes(rb)
        last = first + rb.num_rows
        numbers = np.arange(first + 1, first + 1 + rb.num_rows, dtype=np.int64)
        bad = [Quarantined(int(numbers[i]), "too_large", (
            f"row {int(numbers[i])} holds {int(sizes[i])} bytes of values, more than the limit of "
            f"{self.max_row_bytes}"), "") for i in np.flatnonzero(sizes > self.max_row_bytes)]
        if bad:
            keep = sizes <= self.max_row_bytes
            rb, numbers, sizes = rb.filter(pa.array(keep)), numbers[keep], sizes[keep]
        cuts = _cuts(sizes, self.max_batch_bytes)
        for k, (a, b) in enumerate(cuts):
            part = pa.Table.from_batches([rb.slice(a, b - a)]).cast(_plain(schema, rb.schema))
            done = last if k == len(cuts) - 1 else int(numbers[b - 1])
            yield RawBatch(source=self.name, position=Position(done, done, str(self.path)), table=part,
                           first_line=int(numbers[a]), line_numbers=numbers[a:b].tolist() if bad else [],
                           pre_quarantined=bad if k == 0 else [])
        if not cuts and bad:
            yield RawBatch(source=self.name, position=Position(last, last, str(self.path)),
                           first_line=bad[0].line, pre_quarantined=bad)

    # CSV -----------------------------------------------------------------------------------------

    def _csv(self, start: Position | None) -> Iterator[RawBatch]:
        skip = start.offset if start is not None else 0
        reported = start.line if start is not None else 0  # entries up to this line were handed on
        try:
            header = read_header(self.path)
        except Refusal as r:
            if reported < 1:
                yield self._refused(1, "not_object", f"{self.name}: {r}; the file is skipped", 0)
            return
        except OSError as e:
            if reported < 1:
                yield self._refused(1, "not_object", f"{self.name} cannot be read ({said(e)}); the file is "
                                    "skipped", 0)
            return
        if header is None:
            return
        rows = CsvRows(self.path, *header)
        seen = 0  # rows that parsed, read so far
        tables: list[pa.Table] = []
        numbers: list[np.ndarray] = []
        bad: list[Quarantined] = []
        held = 0
        for item in rows.items():
            if isinstance(item, Quarantined):
                if item.line > reported:
                    bad.append(item)
                continue
            tbl, nums = item
            if seen + tbl.num_rows <= skip:
                seen += tbl.num_rows
                continue
            if seen < skip:
                tbl, nums, seen = tbl.slice(skip - seen), nums[skip - seen:], skip
            seen += tbl.num_rows
            tables.append(tbl)
            numbers.append(nums)
            held += tbl.num_rows
            while held >= self.batch_rows:
                yield self._csv_batch(tables, numbers, bad, self.batch_rows, seen - held)
                held -= self.batch_rows
        if held or bad:
            yield self._csv_batch(tables, numbers, bad, held, seen - held)

    def _csv_batch(self, tables: list[pa.Table], numbers: list[np.ndarray], bad: list[Quarantined], n: int,
                   before: int) -> RawBatch:
        """The first ``n`` held rows (taken out of ``tables``/``numbers``) with the bad rows numbered up to the
        last of them (all of them when no row is held after these); ``before``: rows handed on before."""
        whole = (pa.concat_tables(tables) if len(tables) > 1 else tables[0]) if tables else None
        nums = np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64)
        tables.clear()
        numbers.clear()
        if whole is not None and n < whole.num_rows:
            tables.append(whole.slice(n))
            numbers.append(nums[n:])
        mine = nums[:n]
        upto = int(mine[-1]) if n and tables else None
        pre = [q for q in bad if upto is None or q.line <= upto]
        del bad[:len(pre)]
        table, kept = None, mine
        if whole is not None and n:
            table, kept, unreadable = text_columns(whole.slice(0, n), mine)
            pre = sorted(pre + unreadable, key=lambda q: q.line)
        last = max([int(mine[-1])] if n else [0])
        if pre:
            last = max(last, pre[-1].line)
        return RawBatch(source=self.name, position=Position(before + n, last, str(self.path)),
                        table=table if table is not None and table.num_rows else None,
                        first_line=int(kept[0]) if len(kept) else (pre[0].line if pre else 1),
                        line_numbers=kept.tolist(), pre_quarantined=pre)


# Parquet sizes ---------------------------------------------------------------------------------

def _row_bytes(rb: pa.RecordBatch) -> np.ndarray:
    """Bytes of values each row holds once decoded (strings' lengths, fixed widths), without decoding."""
    total = np.zeros(rb.num_rows, dtype=np.int64)
    for col in rb.columns:
        total += _cell_bytes(col)
    return total


def _cell_bytes(a: pa.Array) -> np.ndarray | int:
    t = a.type
    n = len(a)
    if pa.types.is_dictionary(t):
        words = _cell_bytes(a.dictionary)
        if isinstance(words, int):
            return words
        idx = np.asarray(pc.fill_null(a.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        if not len(words):
            return np.zeros(n, dtype=np.int64)
        return np.where(idx < 0, 0, words[np.maximum(idx, 0)])
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_string_view(t) or pa.types.is_binary_view(t)):
        lengths = pc.fill_null(pc.binary_length(a), 0)
        return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_struct(t):
        out = np.zeros(n, dtype=np.int64)
        for k in range(t.num_fields):
            out += _cell_bytes(a.field(k))
        return out
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        inner = _cell_bytes(a.flatten())
        if isinstance(inner, int):
            return np.asarray(pc.fill_null(pc.list_value_length(a), 0).to_numpy(zero_copy_only=False),
                              dtype=np.int64) * inner
        parents = np.asarray(pc.list_parent_indices(a).to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.bincount(parents, weights=inner, minlength=n).astype(np.int64)
    try:
        return max(1, t.bit_width // 8)
    except ValueError:  # a type without a fixed width this reader does not know: its share of the buffers
        return int(a.nbytes // max(1, n))


def _cuts(sizes: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Row ranges whose sizes add up to at most ``limit`` each (a row over it alone)."""
    if not len(sizes):
        return []
    if int(sizes.sum()) <= limit:
        return [(0, len(sizes))]
    out, a, acc = [], 0, 0
    for i, s in enumerate(sizes.tolist()):
        if acc and acc + s > limit:
            out.append((a, i))
            a, acc = i, 0
        acc += s
    out.append((a, len(sizes)))
    return out


def _plain(schema: pa.Schema, read: pa.Schema) -> pa.Schema:
    """The file's own types for the columns read (strings were read as dictionaries to size them first)."""
    return pa.schema([schema.field(f.name) if schema.get_field_index(f.name) >= 0 else f for f in read])
