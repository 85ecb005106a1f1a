"""CSV read for :class:`~watchdog.ingest.sources.table.TableSource`: one record a line, every byte accounted for.

The file's header is its first line (:func:`read_header`); the rest is cut into pieces at line breaks
(:func:`pieces`), each read by pyarrow as Latin-1 with every column as bytes (:class:`CsvRows`), then
turned back into text cell by cell (:func:`text_columns`). What pyarrow cannot read as one record a line is
read line by line with the standard library, so each line is a record or a bad row of its own::

    piece --pyarrow--> rows + rows with the wrong field count (missing_field)
      |  a value over a line break (fewer records than lines)?
      +--> every line alone: a record, or missing_field (unterminated quote / field count)
    a line longer than a piece -> its length only (too_large), never held
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from watchdog.ingest.records import Quarantined

PIECE = 16 << 20
"""Bytes a piece holds (about): also the longest CSV line that is read."""
_RAW = 2048
_MAX_HEADER = 1 << 20


class Refusal(Exception):
    """A whole file that is not read; the message is the sentence's middle."""


def said(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else "no message"
    return f"{type(e).__name__}: {text}"


def read_header(path: Path) -> tuple[list[tuple[str, str]], int] | None:
    """The header's columns as (name as read in Latin-1, name) pairs, and the byte offset after it; None for a
    file without one (empty, or blank lines only)."""
    with open(path, "rb") as f:
        head = f.read(_MAX_HEADER + 2)
    at = 0
    while at < len(head) and head[at:at + 1] in (b"\n", b"\r"):
        at += 1  # blank lines before the header
    if at >= len(head):
        return None
    line, rest = _first_line(head[at:])
    if rest is None and len(head) > _MAX_HEADER:
        raise Refusal(f"the CSV header is longer than {_MAX_HEADER} bytes")
    end = len(head) - len(rest) if rest is not None else len(head)
    cells = _cells(line[3:] if line.startswith(b"\xef\xbb\xbf") else line)
    if cells is None:
        raise Refusal("the CSV header has an unterminated quote")
    if not cells:
        raise Refusal("the CSV header is empty")
    out = []
    for i, cell in enumerate(cells):
        try:
            out.append((cell.decode("latin-1"), cell.decode("utf-8")))
        except UnicodeDecodeError as u:
            raise Refusal(f"the CSV header is not valid UTF-8 (column {i + 1}, byte {u.start})") from None
    where: dict[str, list[int]] = {}
    for i, (_, real) in enumerate(out):
        where.setdefault(real, []).append(i + 1)
    for real, cols in where.items():
        if len(cols) > 1:
            raise Refusal(f"the CSV header names column {real!r} {len(cols)} times (columns "
                           f"{', '.join(map(str, cols))}); a column name must be unique")
    return out, end


def pieces(path: Path, start: int, size: int = PIECE) -> Iterator[bytes | int]:
    """The file from ``start`` in pieces of about ``size`` bytes, each ending with a line break (the last one
    with the file). A line longer than ``size`` is not held: its length comes instead."""
    with open(path, "rb") as f:
        f.seek(start)
        carry, skipping = b"", 0
        while True:
            data = f.read(size)
            if not data:
                if skipping or carry:
                    yield skipping + len(carry) if skipping or len(carry) > size else carry
                return
            if skipping:  # the rest of a line too long to hold, up to its break
                cut = _first_break(data)
                if cut < 0:
                    skipping += len(data)
                    continue
                yield skipping + cut
                data, skipping = data[cut + 1:], 0
            data = carry + data
            first = _first_break(data)
            if first < 0 or first > size:
                if first < 0 and len(data) <= size:
                    carry = data
                    continue
                if first < 0:
                    carry, skipping = b"", len(data)
                    continue
                yield first
                data = data[first + 1:]
            cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
            carry = data[cut + 1:]
            if cut >= 0:
                yield data[:cut + 1]


def _first_break(data: bytes) -> int:
    return min((i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0), default=-1)


class CsvRows:
    """A CSV file's records in order: ``(table of bytes columns, row numbers)`` for rows that parsed and a
    :class:`Quarantined` for each that did not; one record a line, numbered from 1 (blank lines skipped).

    pyarrow reads each piece of the file (:func:`pieces`); a row with the wrong field count is quarantined.
    A value may not hold a line break: in a piece where one would (an unterminated quote, which pyarrow lets
    swallow the lines after it, or a quote that a lone quote on a later line closes), every line is read
    on its own, so each is a record or a bad row of its own and nothing vanishes into a value."""

    def __init__(self, path: Path, names: list[tuple[str, str]], start: int):
        self.path = path
        self.start = start
        self.latin = [a for a, _ in names]
        self.names = [b for _, b in names]
        self.done = 0  # the number of the last record so far

    def items(self) -> Iterator[tuple[pa.Table, np.ndarray] | Quarantined]:
        for chunk in pieces(self.path, self.start):
            if isinstance(chunk, int):  # a line too long to hold
                self.done += 1
                yield Quarantined(self.done, "too_large", f"the line has {chunk} bytes, more than the limit of "
                                  f"{PIECE}", "")
                continue
            pending: list[Any] = []

            def invalid(row: Any, pending: list[Any] = pending) -> str:
                pending.append(row)
                return "skip"

            try:
                # one block: Latin-1 as UTF-8 takes up to twice the bytes, and a block cut splits quoted values
                tbl: pa.Table | None = pacsv.read_csv(
                    io.BytesIO(chunk),
                    read_options=pacsv.ReadOptions(block_size=2 * len(chunk) + 1, use_threads=False,
                                                   encoding="latin-1", column_names=self.latin),
                    parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
                    convert_options=pacsv.ConvertOptions(column_types={h: pa.binary() for h in self.latin},
                                                         strings_can_be_null=True, null_values=[""]))
            except Exception:  # whatever pyarrow cannot read, each line can be
                tbl = None
            if tbl is None or any(p.number is None for p in pending) or _spans_lines(chunk, tbl, pending):
                yield from self._lines(chunk)
                continue
            yield from self._fast(tbl.rename_columns(self.names), pending)

    def _fast(self, tbl: pa.Table, pending: list[Any]) -> Iterator[tuple[pa.Table, np.ndarray] | Quarantined]:
        base, at, record = self.done, 0, 1  # pyarrow numbers a piece's records from 1
        for p in sorted(pending, key=lambda r: r.number):
            good = int(p.number) - record
            if good:
                yield tbl.slice(at, good), np.arange(base + record, base + record + good, dtype=np.int64)
                at += good
            n = base + int(p.number)
            raw = (p.text or "").encode("latin-1", "replace")
            yield Quarantined(n, "missing_field", _unterminated(n) if raw.count(b'"') % 2 else
                              _count_sentence(n, p.actual_columns, p.expected_columns), _shown(raw))
            record = int(p.number) + 1
        if at < tbl.num_rows:
            yield tbl.slice(at), np.arange(base + record, base + record + tbl.num_rows - at, dtype=np.int64)
        self.done = base + tbl.num_rows + len(pending)

    def _lines(self, data: bytes) -> Iterator[tuple[pa.Table, np.ndarray] | Quarantined]:
        """Each line of ``data`` read on its own; blank ones skipped."""
        n = self.done
        good: list[list[bytes | None]] = []
        nums: list[int] = []
        for line in data.splitlines():
            if not line:
                continue
            n += 1
            cells = _cells(line)
            if cells is not None and len(cells) == len(self.names):
                good.append([c or None for c in cells])
                nums.append(n)
                continue
            if good:
                yield self._table(good), np.asarray(nums, dtype=np.int64)
                good, nums = [], []
            yield Quarantined(n, "missing_field", _unterminated(n) if cells is None else
                              _count_sentence(n, len(cells), len(self.names)), _shown(line))
        if good:
            yield self._table(good), np.asarray(nums, dtype=np.int64)
        self.done = n

    def _table(self, rows: list[list[bytes | None]]) -> pa.Table:
        """Rows of cells as pyarrow gives them: the UTF-8 of their Latin-1 characters."""
        return pa.table([pa.array([_as_read(r[i]) for r in rows], pa.binary()) for i in range(len(self.names))],
                        names=self.names)


def _spans_lines(chunk: bytes, tbl: pa.Table, pending: list[Any]) -> bool:
    """Whether pyarrow may have read ``chunk`` other than one record a line: a line whose quotes do not pair up
    (pyarrow lets the open quote swallow the lines after it, or ends it at the piece's last line break and
    keeps the row), or fewer records than lines with a line break in a value. Only a quote can do either."""
    if b'"' not in chunk:
        return False
    arr = np.frombuffer(chunk, dtype=np.uint8)
    quotes = np.flatnonzero(arr == 34)
    if len(quotes) % 2:
        return True
    breaks = np.flatnonzero((arr == 10) | (arr == 13))
    if (np.bincount(np.searchsorted(breaks, quotes)) % 2).any():
        return True
    lines = chunk.count(b"\n") + (not chunk.endswith((b"\n", b"\r")))
    if b"\r" in chunk:
        lines += chunk.count(b"\r") - chunk.count(b"\r\n")
    if tbl.num_rows + len(pending) == lines:  # as many records as lines: none spans two (nor is any blank)
        return False
    if any("\n" in (p.text or "") or "\r" in (p.text or "") for p in pending):
        return True
    return any(pc.any(pc.match_substring(col, brk)).as_py() for col in tbl.columns for brk in ("\n", "\r"))


def _as_read(cell: bytes | None) -> bytes | None:
    return None if cell is None else cell.decode("latin-1").encode()


def _first_line(raw: bytes) -> tuple[bytes, bytes | None]:
    """``raw`` up to its first line end, and the rest (None when it is one line)."""
    cut = min((i for i in (raw.find(b"\n"), raw.find(b"\r")) if i >= 0), default=-1)
    if cut < 0:
        return raw, None
    rest = raw[cut + 1:]
    if raw[cut:cut + 2] == b"\r\n":
        rest = raw[cut + 2:]
    return raw[:cut], rest


def _cells(text: bytes) -> list[bytes] | None:
    """The cells (bytes) of ``text`` when it is one CSV record, else None (broken quoting, or more records)."""
    try:
        records = list(csv.reader(io.StringIO(text.decode("latin-1"), newline=""), strict=True))
    except csv.Error:
        return None
    if len(records) != 1:
        return [] if not records else None
    return [c.encode("latin-1") for c in records[0]]


def _unterminated(n: int) -> str:
    return f"CSV row {n} has an unterminated quote (a quoted value must end on its line)"


def _count_sentence(n: int, got: int, want: int) -> str:
    return f"CSV row {n} has {got} field(s), the header has {want}"


def _shown(raw: bytes) -> str:
    return raw[:_RAW].decode("utf-8", "replace")


def text_columns(tbl: pa.Table, numbers: np.ndarray) -> tuple[pa.Table, np.ndarray, list[Quarantined]]:
    """Bytes CSV columns (read as Latin-1) as text; rows with a cell that is not UTF-8 are taken out."""
    bad = np.zeros(tbl.num_rows, dtype=bool)
    why: dict[int, str] = {}
    cols = []
    for name, col in zip(tbl.column_names, tbl.columns, strict=True):
        # the UTF-8 of the Latin-1 characters: an ASCII cell is its own bytes
        text = pc.cast(col.combine_chunks(), pa.string())
        if text.null_count == len(text) or pc.all(pc.string_is_ascii(text)).as_py() is not False:
            cols.append(text)
            continue
        enc = pc.dictionary_encode(text)
        words: list[str | None] = []
        wrong: dict[int, str] = {}
        for k, word in enumerate(enc.dictionary.to_pylist()):
            try:
                words.append(word.encode("latin-1").decode("utf-8"))
            except UnicodeDecodeError as e:
                words.append(None)
                wrong[k] = f"column {name!r} is not valid UTF-8 (byte {e.start})"
        codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        for k, sentence in wrong.items():
            for i in np.flatnonzero(codes == k):
                bad[i] = True
                why.setdefault(int(i), sentence)
        cols.append(pc.take(pa.array(words, pa.string()), pa.array(codes, mask=codes < 0)))
    out = pa.table(cols, names=tbl.column_names)
    if not bad.any():
        return out, numbers, []
    quarantined = [Quarantined(int(numbers[i]), "bad_utf8", why[i], ",".join(
        "" if c is None else c.decode("utf-8").encode("latin-1").decode("utf-8", "replace")
        for c in tbl.slice(i, 1).to_pylist()[0].values())[:_RAW]) for i in sorted(why)]
    return out.filter(pa.array(~bad)), numbers[~bad], quarantined
