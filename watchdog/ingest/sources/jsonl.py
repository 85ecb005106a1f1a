"""A JSON Lines file, replayed start to end or followed like ``tail -F``.

Following survives rotation (the path now names another file: the old one is read to its end, then
the new one from its start) and truncation (the file shrank below the offset: read again from 0).
The position is the byte offset of the first unread byte plus the file's ``dev:inode``; an incomplete
last line is left unread until its newline arrives (when following) or read as the last record (when
replaying). A line longer than ``max_line_bytes`` is never held in memory: it is skipped to its
newline and quarantined as ``too_large``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from watchdog.ingest.lines import Lines
from watchdog.ingest.records import MAX_LINE_BYTES, Quarantined
from watchdog.ingest.sources.base import Position, RawBatch

log = logging.getLogger("watchdog.sources.jsonl")


def _ident(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


class JsonlSource:
    """Batches of JSON lines from ``path``; see the module docstring.

    Parameters
    ----------
    path:
        The file. When following, it may not exist yet; it is opened when it appears.
    follow:
        Keep reading as the file grows, rotates or is truncated; ``batches`` then ends only when
        ``stop`` is set.
    poll_interval:
        Seconds to wait on ``stop`` between polls when there is nothing new.
    stop:
        An event that ends a following iteration.
    read_bytes:
        Bytes read per batch at most (it is raised to hold at least one line of ``max_line_bytes``).
    """

    def __init__(self, path: str | Path, *, follow: bool = False, poll_interval: float = 0.5,
                 stop: threading.Event | None = None, read_bytes: int = 16 << 20,
                 max_line_bytes: int = MAX_LINE_BYTES, name: str | None = None):
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        self.path = Path(path)
        self.follow = follow
        self.poll_interval = poll_interval
        self.stop = stop or threading.Event()
        self.max_line_bytes = max_line_bytes
        self.read_bytes = max(read_bytes, max_line_bytes + 2)
        self.name = name or self.path.name
        self._f: BinaryIO | None = None
        self._ident = ""
        self._offset = 0
        self._line = 0

    # positions ---------------------------------------------------------------------------------

    @property
    def position(self) -> Position:
        return Position(self._offset, self._line, self._ident)

    def open(self, start: Position | None = None) -> None:
        """Open the file and seek to ``start`` (a position of another file, or past the end: from 0)."""
        self.close()
        self._offset, self._line = 0, 0
        if start is not None:
            self._line = start.line
        try:
            f = open(self.path, "rb")  # noqa: SIM115 -- held across polls, closed by close()
        except FileNotFoundError:
            if not self.follow:
                raise
            return
        st = os.fstat(f.fileno())
        self._f, self._ident = f, _ident(st)
        if start is not None:
            if start.ident and start.ident != self._ident:
                log.warning("source_file_replaced", extra={"source": self.name, "was": start.ident,
                                                           "now": self._ident})
            elif start.offset > st.st_size:
                log.warning("source_file_truncated", extra={"source": self.name, "offset": start.offset})
            else:
                self._offset = start.offset

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    # reading -----------------------------------------------------------------------------------

    def batches(self, start: Position | None = None) -> Iterator[RawBatch]:
        self.open(start)
        try:
            while True:
                batch = self.poll()
                if batch is not None:
                    yield batch
                    continue
                if not self.follow:
                    return
                yield RawBatch(source=self.name, position=self.position)
                if self.stop.wait(self.poll_interval):
                    return
        finally:
            self.close()

    def poll(self) -> RawBatch | None:
        """One non-blocking step: the next batch of complete lines, or None when there is nothing new."""
        if self._f is None:
            if not self.follow or not self.path.exists():
                return None
            self.open(Position(0, self._line))
            if self._f is None:
                return None
        batch = self._read(final=not self.follow)
        if batch is not None or not self.follow:
            return batch
        return self._check_rotation()

    def _check_rotation(self) -> RawBatch | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None  # rotated away and not yet recreated: the old file was read to its end
        if _ident(st) != self._ident:
            last = self._read(final=True)  # what the writer put in the old file before rotating
            if last is not None:
                return last
            log.info("source_rotated", extra={"source": self.name})
            self.open(Position(0, self._line))
            return self._read(final=False)
        if st.st_size < self._offset:
            log.info("source_truncated", extra={"source": self.name, "offset": self._offset, "size": st.st_size})
            self._offset = 0
            return self._read(final=False)
        return None

    def _read(self, final: bool) -> RawBatch | None:
        f = self._f
        assert f is not None
        f.seek(self._offset)
        data = f.read(self.read_bytes)
        if not data:
            return None
        lines, numbers, pre, complete = self._split(data, self._line)
        n = len(data)
        consumed = data.rfind(b"\n") + 1
        line = self._line + complete
        if consumed == 0:
            # no newline in a whole read: a line over the limit (skip it without holding it), or the
            # incomplete last line
            if n >= self.read_bytes:
                end = self._find_newline(self._offset + n)
                if end is None and not final:
                    return None
                stop = end if end is not None else self._size()
                line += 1
                pre.append(self._too_large(line, stop - self._offset, data[:2048]))
                consumed = stop + 1 - self._offset if end is not None else stop - self._offset
            elif final:
                line += 1
                raw = data.rstrip(b"\r")
                if len(raw) > self.max_line_bytes:  # the last line, without its newline, over the limit too
                    pre.append(self._too_large(line, len(raw), raw[:2048]))
                elif raw.strip():
                    lines = Lines(data, np.array([0]), np.array([len(raw)]))
                    numbers.append(line)
                consumed = n
            else:
                return None
        self._offset += consumed
        self._line = line
        return RawBatch(source=self.name, position=self.position, lines=lines, line_numbers=numbers,
                        first_line=numbers[0] if numbers else line, pre_quarantined=pre)

    def _split(self, data: bytes, line: int) -> tuple[Lines, list[int], list[Quarantined], int]:
        """The complete lines of ``data`` (the first is line ``line + 1``) without their ``\\r\\n``, with
        their numbers, the quarantined ones (over the limit) and how many complete lines there were (blank
        ones are dropped). Found with numpy over the buffer; a line is not cut out of it until somebody reads
        it (:class:`~watchdog.ingest.lines.Lines`)."""
        buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        if not ends.size:
            return Lines(data, ends, ends), [], [], 0
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        ends[(ends > starts) & (buf[ends - 1] == 13)] -= 1  # \r\n
        size = ends - starts
        odd = (size == 0) | (size > self.max_line_bytes) | (buf[np.minimum(starts, len(data) - 1)] != 123)
        numbers = np.arange(line + 1, line + 1 + ends.size)
        pre: list[Quarantined] = []
        if odd.any():
            keep = np.ones(ends.size, dtype=bool)
            for i in np.flatnonzero(odd).tolist():  # empty, too long, or not starting with "{"
                a, b = int(starts[i]), int(ends[i])
                if b - a > self.max_line_bytes:
                    pre.append(self._too_large(int(numbers[i]), b - a, data[a:a + 2048]))
                    keep[i] = False
                elif not data[a:b].strip():  # blank; anything else goes on, for the parser to name
                    keep[i] = False
            starts, ends, numbers = starts[keep], ends[keep], numbers[keep]
        return Lines(data, starts, ends), numbers.tolist(), pre, int(size.size)

    def _too_large(self, line: int, size: int, head: bytes) -> Quarantined:
        return Quarantined(line, "too_large", f"the line has {size} bytes, more than the limit of "
                           f"{self.max_line_bytes}", head[:2048].decode("utf-8", "replace"))

    def _find_newline(self, start: int) -> int | None:
        f = self._f
        f.seek(start)  # type: ignore[union-attr]
        at = start
        while True:
            chunk = f.read(1 << 20)  # type: ignore[union-attr]
            if not chunk:
                return None
            i = chunk.find(b"\n")
            if i >= 0:
                return at + i
            at += len(chunk)

    def _size(self) -> int:
        return os.fstat(self._f.fileno()).st_size  # type: ignore[union-attr]
