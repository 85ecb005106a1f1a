"""The write-ahead spool of HTTP ingest: records are on disk before they are processed or answered.

``POST /v1/records`` appends a batch's raw lines (JSON Lines, exactly the bytes the engine is given)
to the spool, flushes and fsyncs it, and only then processes the batch with the spool's line
numbers; the spool's position after the batch is saved with every checkpoint like any source's
offset. After a SIGKILL, ``watchdog serve`` re-reads the spool from the checkpointed position (with
:class:`JsonlSource` and :func:`feed`) before the API takes new records, so a record answered 200 is
never lost and none is counted twice::

    spool = Spool(directory)                       # opens the last segment, drops a torn last line
    for batch in spool.replay(saved_position):     # what came after the last checkpoint
        feed(engine, batch, quarantine, columnar=False)
    batch = spool.append(lines)                    # durable (fsync) or SpoolError; then feed(...)
    ...checkpoint.save(..., {spool.name: batch.position.to_json()}, ...)
    spool.prune(batch.position)                    # after that checkpoint is committed

The spool is one logical byte stream cut into segment files
``segment-<first byte offset:020d>-<first line:012d>.jsonl``; a batch is never split across
segments, and a new segment starts once the current one holds ``segment_bytes``. A
:class:`~watchdog.sources.base.Position` is the byte offset in that stream (``offset``) and the
number of lines before it (``line``), so line ``n`` of source ``http`` in the quarantine is in the
segment with the largest first line below ``n``. :meth:`Spool.prune` deletes the segments that end
at or before a position, never the one being written.

A spool belongs to one store (and instance): beside the directory, ``<directory>.owner`` names it
(:func:`read_owner`, :func:`claim`), so a store never replays another's records, and
``<directory>.lock`` is held with ``flock`` by the one process writing it (:class:`SpoolLock`). Both
live beside the directory, not in it, which holds segments only.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from watchdog.errors import ConfigError, SpoolError  # SpoolError: defined with the other errors; importable here
from watchdog.ingest.sources.base import Position, RawBatch
from watchdog.ingest.sources.jsonl import JsonlSource

log = logging.getLogger("watchdog.sources.spool")

DEFAULT_SEGMENT_BYTES = 64 << 20
_SEGMENT = re.compile(r"^segment-(\d{20})-(\d{12})\.jsonl$")


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    offset: int  # byte offset of its first byte in the spool's stream
    line: int  # lines before its first line

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _name(offset: int, line: int) -> str:
    return f"segment-{offset:020d}-{line:012d}.jsonl"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Append-only JSON Lines segments in ``directory``; see the module docstring.

    Parameters
    ----------
    directory:
        Where the segments are; created when missing.
    segment_bytes:
        A new segment starts when the current one holds at least this many bytes.
    name:
        The source name of the batches (the key of the spool's position in a checkpoint).
    fsync:
        Flush every append to the disk before returning. Only a benchmark turns this off: without it
        a power cut can lose records that were answered 200.
    start:
        The checkpointed position, when there is one: a spool with no segment, or one that ends
        before it (files lost or replaced), starts a segment there, so positions keep growing and
        what is written now is not skipped at the next restart.
    """

    def __init__(self, directory: str | Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES, name: str = "http",
                 fsync: bool = True, start: Position | None = None):
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be at least 1, got {segment_bytes}")
        self.directory = Path(directory).resolve()
        self.segment_bytes = segment_bytes
        self.name = name
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._debris = False  # a failed append may have left bytes after self._size
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            segments = self.segments()
            if not segments:
                self._current = self._create(start.offset if start else 0, start.line if start else 0)
            else:
                self._current = segments[-1]
            self._fd = os.open(self._current.path, os.O_WRONLY | os.O_APPEND)
            self._size = os.fstat(self._fd).st_size
            self._drop_torn_line()
            self._lines = self._current.line + self._count_lines(self._current.path, self._size)
            if start is not None and self.position.offset < start.offset:
                # the spool ends before the checkpoint (files lost or replaced): write after the
                # checkpointed position, or the next restart would skip what is written now
                log.warning("spool_behind_checkpoint", extra={"spool_end": self.position.offset,
                                                              "checkpoint": start.offset})
                os.close(self._fd)
                self._fd = None
                self._current = self._create(start.offset, start.line)
                self._fd = os.open(self._current.path, os.O_WRONLY | os.O_APPEND)
                self._size, self._lines = 0, start.line
        except OSError as e:
            self.close()
            raise SpoolError(self.directory, "opened", e) from None

    # positions -----------------------------------------------------------------------------------

    @property
    def position(self) -> Position:
        """The end of the spool: the position after the last record appended."""
        return Position(self._current.offset + self._size, self._lines, str(self.directory))

    def segments(self) -> list[Segment]:
        """The segment files, oldest first."""
        out = []
        for p in self.directory.iterdir():
            m = _SEGMENT.match(p.name)
            if m:
                out.append(Segment(p, int(m.group(1)), int(m.group(2))))
        return sorted(out, key=lambda s: s.offset)

    # writing -------------------------------------------------------------------------------------

    def append(self, lines: Sequence[bytes]) -> RawBatch:
        """Write ``lines`` (no newline in any) durably; returns them as a batch numbered by spool line.

        Raises :class:`SpoolError` when they are not all on disk; the spool is then as it was.
        """
        if any(b"\n" in ln for ln in lines):
            raise ValueError("a spooled record must not contain a newline")
        data = b"".join(ln + b"\n" for ln in lines)
        with self._lock:
            if self._fd is None:
                raise SpoolError(self.directory, "written", OSError(0, "the spool is closed"))
            if self._size >= self.segment_bytes:
                try:
                    self._rotate()
                except OSError as e:
                    raise SpoolError(self.directory, "rotated into a new segment", e) from None
            path = self._current.path
            try:
                if self._debris:
                    os.ftruncate(self._fd, self._size)
                    self._debris = False
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                if self.fsync:
                    os.fsync(self._fd)
            except OSError as e:
                self._debris = True
                try:
                    os.ftruncate(self._fd, self._size)
                    self._debris = False
                except OSError:
                    pass  # tried again before the next append
                raise SpoolError(path, "written", e) from None
            first = self._lines + 1
            self._size += len(data)
            self._lines += len(lines)
            return RawBatch(source=self.name, position=self.position, lines=list(lines),
                            line_numbers=list(range(first, first + len(lines))), first_line=first)

    def _create(self, offset: int, line: int) -> Segment:
        seg = Segment(self.directory / _name(offset, line), offset, line)
        fd = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        _fsync_dir(self.directory)  # the new name survives a power cut too
        return seg

    def _rotate(self) -> None:
        seg = self._create(self._current.offset + self._size, self._lines)
        fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND)
        assert self._fd is not None
        os.close(self._fd)
        self._fd, self._current, self._size = fd, seg, 0
        log.info("spool_segment_started", extra={"segment": seg.path.name})

    def _drop_torn_line(self) -> None:
        """An append cut by a crash leaves a last line without newline: never acknowledged, so drop it."""
        if self._size == 0:
            return
        with open(self._current.path, "rb") as f:
            f.seek(self._size - 1)
            if f.read(1) == b"\n":
                return
        keep = self._find_last_newline(self._size)
        log.warning("spool_torn_line_dropped", extra={"segment": self._current.path.name,
                                                      "bytes": self._size - keep})
        assert self._fd is not None
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)
        self._size = keep

    def _find_last_newline(self, before: int) -> int:
        with open(self._current.path, "rb") as f:
            while before > 0:
                at = max(0, before - (1 << 20))
                f.seek(at)
                i = f.read(before - at).rfind(b"\n")
                if i >= 0:
                    return at + i + 1
                before = at
        return 0

    @staticmethod
    def _count_lines(path: Path, size: int) -> int:
        n = 0
        with open(path, "rb") as f:
            while size > 0:
                chunk = f.read(min(size, 1 << 20))
                if not chunk:
                    break
                n += chunk.count(b"\n")
                size -= len(chunk)
        return n

    # reading and pruning -------------------------------------------------------------------------

    def replay(self, start: Position | None) -> Iterator[RawBatch]:
        """The records after ``start`` (``None``: from the oldest segment), as :class:`JsonlSource` reads them.

        Batch positions are positions in the spool's stream.
        """
        with self._lock:
            segments = self.segments()
            end = self.position
        if start is not None and start.ident and start.ident != str(self.directory):
            log.warning("spool_moved", extra={"was": start.ident, "now": str(self.directory)})
        at = start.offset if start is not None else None  # the next byte to replay
        for seg in segments:
            size = end.offset - seg.offset if seg.path == self._current.path else seg.size
            if seg.offset + size <= (seg.offset if at is None else at):
                continue  # nothing in it to replay
            if at is not None and at > seg.offset:
                local = Position(at - seg.offset, start.line if start is not None else 0)
            else:
                if at is not None and seg.offset > at:
                    log.warning("spool_gap", extra={"from": at, "to": seg.offset})
                local = Position(0, seg.line)
            src = JsonlSource(seg.path, follow=False, name=self.name)
            for batch in src.batches(start=local):
                if batch.position.offset > size:  # bytes appended during the replay are not part of it
                    raise RuntimeError("the spool was appended to during its replay")
                batch.position = Position(seg.offset + batch.position.offset, batch.position.line,
                                          str(self.directory))
                yield batch
            at = seg.offset + size

    def prune(self, position: Position) -> list[Path]:
        """Delete the segments that end at or before ``position`` (never the current one); returns them.

        Call it only after a checkpoint holding ``position`` (or a later one) is committed.
        """
        deleted = []
        with self._lock:
            for seg in self.segments():
                if seg.path == self._current.path:
                    break
                if seg.offset + seg.size > position.offset:
                    break
                seg.path.unlink()
                deleted.append(seg.path)
            if deleted:
                _fsync_dir(self.directory)
        if deleted:
            log.info("spool_segments_deleted", extra={"segments": [p.name for p in deleted],
                                                      "position": position.offset})
        return deleted

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


# ownership and lock ------------------------------------------------------------------------------


def _beside(directory: str | Path, suffix: str) -> Path:
    d = Path(directory).resolve()
    return d.with_name(d.name + suffix)


def read_owner(directory: str | Path) -> dict[str, Any] | None:
    """The owner recorded for the spool in ``directory`` (``<directory>.owner``), or None when there is none."""
    try:
        data = orjson.loads(_beside(directory, ".owner").read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as e:
        raise ConfigError(f"The owner file of the spool {directory} cannot be read ({e}); remove "
                          f"{_beside(directory, '.owner')} only if that spool belongs to this store.") from None
    return data if isinstance(data, dict) else None


def claim(directory: str | Path, owner: dict[str, Any]) -> None:
    """Record ``owner`` as the spool's (atomically, fsynced): from now on only that owner replays it."""
    path = _beside(directory, ".owner")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(owner, option=orjson.OPT_SORT_KEYS) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class SpoolLock:
    """An exclusive ``flock`` on ``<directory>.lock``, holding the pid of its holder, for as long as it is open.

    A second process asking for it gets a :class:`ConfigError` naming the holder's pid; the system releases
    the lock when the holder exits, even by SIGKILL.
    """

    def __init__(self, directory: str | Path):
        self.path = _beside(directory, ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"The spool {Path(directory).resolve()} is in use by another watchdog (pid {holder}, lock "
                f"{self.path}); stop it first, or give this one its own --store or --instance.") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
