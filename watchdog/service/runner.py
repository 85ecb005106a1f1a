"""Replaying a JSON Lines file through the engine in batches, with quarantine, progress and a summary."""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import orjson

from watchdog.engine.engine import Engine
from watchdog.errors import ConfigError
from watchdog.ingest.sources.base import Source
from watchdog.ingest.sources.jsonl import MAX_LINE_BYTES, JsonlSource
from watchdog.ingest.sources.table import TableSource
from watchdog.service.feed import feed

log = logging.getLogger("watchdog.runner")

BATCH_BYTES = 1 << 20
"""Bytes a replay reads per batch (progress and a policy reload happen between batches)."""

COLUMNAR = True
"""Whether a replay (``replay_file``, the backtest) takes the columnar path by default. Both make the same
decisions and give the same reason codes; the columnar path is several times faster on wide logs of
predictions and about 10 % faster on logs whose late labels are interleaved with them, like the demo's.
(The quarantine's sentence for NaN differs: the line path names the JSON, the columnar path the field.)"""


TABLE_SUFFIXES = (".parquet", ".csv")
"""Files read as tables (:class:`TableSource`), by suffix; any other file is read as JSON Lines if it is text."""

_SNIFF_BYTES = 4096


def file_source(path: str | Path, *, batch_bytes: int = BATCH_BYTES, max_line_bytes: int | None = None,
                batch_rows: int = 1 << 17) -> Source:
    """The source that reads ``path`` once: Parquet and CSV by suffix, JSON Lines otherwise.

    A file that is neither (its first bytes hold a NUL byte or are not UTF-8, e.g. a Parquet file under
    another suffix) is refused with a :class:`ConfigError`, rather than every line of it quarantined.
    """
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return TableSource(path, batch_rows=batch_rows, name=str(path))
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    if _binary(head):
        what = "a Parquet file" if head.startswith(b"PAR1") else "binary"
        raise ConfigError(
            f"The source {path} is {what}, not JSON Lines: the watchdog reads JSON Lines (one record a line), "
            "Parquet (.parquet) and CSV (.csv) files; give the file its format's suffix or convert it.")
    return JsonlSource(path, read_bytes=batch_bytes, max_line_bytes=max_line_bytes or MAX_LINE_BYTES)


def _binary(head: bytes) -> bool:
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:  # a multi-byte character cut at the end of the sample is still text
        return e.start < len(head) - 3
    return False


QUARANTINE_TAIL_BYTES = 8 << 20
"""How much of the end of a quarantine file :func:`quarantined_through` reads to find what was written."""


def quarantined_through(path: str | Path, tail_bytes: int = QUARANTINE_TAIL_BYTES) -> dict[str, int]:
    """The highest line of each source among the last entries (``tail_bytes``) of the quarantine file ``path``.

    After a SIGKILL the records after the last checkpoint are read again; their quarantine entries are
    already in the file up to these lines (entries of one source are written in line order), so
    :class:`QuarantineWriter` does not write them twice.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - tail_bytes))
            data = f.read()
    except FileNotFoundError:
        return {}
    lines = data.split(b"\n")
    if size > tail_bytes:
        lines = lines[1:]  # the first is cut
    out: dict[str, int] = {}
    for ln in lines:
        try:
            rec = orjson.loads(ln)
            source, line = rec["source"], int(rec["line"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn last line, or not ours
        if isinstance(source, str) and line > out.get(source, 0):
            out[source] = line
    return out


class QuarantineWriter(io.BufferedWriter):
    """The quarantine file, opened for appending, that leaves out the entries it already holds.

    ``written`` maps a source to the highest line whose entry is in the file already
    (:func:`quarantined_through`); an entry of that source at or below it is dropped. Once a source has
    written past its mark, the mark is forgotten at the next ``flush`` (the end of a batch): a file
    truncated and read again from line 1 later is quarantined again.
    """

    def __init__(self, path: str | Path, written: dict[str, int] | None = None):
        super().__init__(io.FileIO(path, "a"))
        self.written = dict(written if written is not None else quarantined_through(path))
        self._passed: set[str] = set()
        self.skipped = 0

    def write(self, data: Any) -> int:
        data = bytes(data)
        if not self.written:
            return super().write(data)
        kept = []
        for ln in data.splitlines(keepends=True):
            try:
                rec = orjson.loads(ln)
                source, line = rec["source"], int(rec["line"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                kept.append(ln)
                continue
            mark = self.written.get(source)
            if mark is not None and line <= mark:
                self.skipped += 1
                continue
            if mark is not None:
                self._passed.add(source)
            kept.append(ln)
        super().write(b"".join(kept))
        return len(data)

    def flush(self) -> None:
        super().flush()
        for source in self._passed:
            self.written.pop(source, None)
        self._passed.clear()


@dataclass
class RunSummary:
    lines: int = 0
    predictions: int = 0
    labels: int = 0
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Progress:
    """A one-line progress display on a terminal, periodic plain lines elsewhere."""

    def __init__(self, total_bytes: int, stream: IO[str] | None = None, every: float = 0.25,
                 enabled: bool = True, clock: Callable[[], float] = time.monotonic):
        self.total = max(total_bytes, 1)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else 2.0
        self.enabled = enabled
        self.clock = clock
        self.start = clock()
        self.last = -1e9

    def update(self, done_bytes: int, lines: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self.last < self.every:
            return
        self.last = now
        frac = min(done_bytes / self.total, 1.0)
        rate = lines / max(now - self.start, 1e-9)
        bar = "#" * int(frac * 30)
        text = f"[{bar:<30}] {frac:6.1%}  {lines:,} lines  {rate:,.0f} lines/s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if force else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def replay_file(engine: Engine, path: str | Path, quarantine: BinaryIO | None, *,
                progress: Progress | None = None, after_line: Callable[[int], object] | None = None,
                batch_bytes: int = BATCH_BYTES, columnar: bool = COLUMNAR) -> RunSummary:
    """Read every record of ``path`` through ``engine``; bad ones go to ``quarantine``. Never stops on bad data.

    A Parquet or CSV file (by suffix) is read by :class:`TableSource`; a binary file of another suffix is
    refused (:func:`file_source`). :class:`~watchdog.sources.jsonl.JsonlSource` reads any other file in
    batches of about ``batch_bytes`` (at least the engine's longest line, ``engine.parser.max_line_bytes``, plus 2) and
    :func:`~watchdog.sources.base.feed` runs each through the engine: line by line
    (:meth:`Engine.process_line`), or on the columnar path when ``columnar`` is true (pyarrow parses
    blocks of lines; the same decisions and reason codes, see :data:`COLUMNAR`). Each rejected record is
    written to ``quarantine`` as one JSON line with its line number and ``str(path)`` as its source,
    in line order. ``progress`` is updated, and ``after_line`` called with the number of the last line
    read, after each batch: a policy reload that ``after_line`` applies takes effect from the next batch.
    """
    path = Path(path)
    summary = RunSummary()
    t0 = time.monotonic()
    source = file_source(path, batch_bytes=batch_bytes, max_line_bytes=engine.parser.max_line_bytes)
    table = isinstance(source, TableSource)
    # what an earlier, interrupted replay of this file quarantined already is not written again
    name = getattr(quarantine, "name", None)
    written = quarantined_through(name).get(str(path), 0) if isinstance(name, str) else 0
    done = 0
    for batch in source.batches():
        res = feed(engine, batch, columnar=columnar)
        if not table:  # a table's position counts rows, not bytes: its progress shows lines only
            done = batch.position.offset
        summary.lines += res.records
        summary.predictions += res.predictions
        summary.labels += res.labels
        if res.quarantined:
            for rec in sorted(res.quarantined, key=lambda q: q.line):
                summary.quarantined += 1
                summary.quarantine_by_reason[rec.reason_code] = summary.quarantine_by_reason.get(rec.reason_code, 0) + 1
                if quarantine is not None and rec.line > written:
                    quarantine.write(rec.to_json(str(path)) + b"\n")
                log.info("record_quarantined", extra={"line": rec.line, "reason": rec.reason_code})
            if quarantine is not None:
                quarantine.flush()
        if progress is not None:
            progress.update(done, summary.lines)
        if after_line is not None:
            after_line(batch.position.line)
    engine.finish()
    if progress is not None:
        progress.update(progress.total if table else done, summary.lines, force=True)
    summary.seconds = time.monotonic() - t0
    return summary
