"""The source interface: where records come from, in batches, each with the position after it.

Every source (a JSON Lines file replayed or followed, a Parquet or CSV table, an oracle contract's
events, the HTTP ingest) yields :class:`RawBatch` values; the consumer hands each batch to
:func:`watchdog.service.feed.feed`, which validates it and runs it through the engine, and then stores
``batch.position`` as the source's offset. After a restart the source is asked for
``batches(start=stored_position)`` and re-reads from exactly there, so the records between the last
stored offset and a crash are read again, never skipped::

    source = JsonlSource(path, follow=True, poll_interval=0.5, stop=stop_event)
    for batch in source.batches(start=store_offset_or_none):      # infinite when following
        result = feed(engine, batch, quarantine=qfile)             # engine work + quarantine lines
        save_offset(source.name, batch.position.to_json())         # only after the batch is processed

A following source yields an *empty* batch (no records, position unchanged) after each idle poll, so
the consumer regains control regularly (to checkpoint, drain on SIGTERM, or stop); the iterator ends
when ``stop`` is set.

What a :class:`Position` means per source (all integers, JSON-serialisable with ``to_json``):

=================  ==========================================  ==========================================
source             ``offset``                                  ``ident``
=================  ==========================================  ==========================================
JSON Lines file    byte offset of the first unread byte        ``"dev:inode"`` of the file it refers to
Parquet / CSV      index (0-based) of the first unread row     the file's path
chain events       the next block to read (every log of the    the contract address
                   earlier blocks has been processed)
=================  ==========================================  ==========================================

``line`` is the number of records (lines, rows, logs) consumed up to the position: the line number
of the next record is ``line + 1``; line numbers end up in the quarantine and the evidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Position:
    """Where a source resumes: see the module docstring for what each field means per source."""

    offset: int
    line: int = 0
    ident: str = ""

    def to_json(self) -> str:
        return orjson.dumps({"offset": self.offset, "line": self.line, "ident": self.ident}).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Position:
        d = orjson.loads(text)
        return cls(offset=int(d["offset"]), line=int(d.get("line", 0)), ident=str(d.get("ident", "")))


@dataclass(slots=True)
class RawBatch:
    """Records as read, not yet validated: JSON lines *or* a columnar table, plus the position after.

    ``lines``: one JSON record per item, no newline; ``line_numbers`` gives each its line number
    (blank lines are skipped, so numbers need not be contiguous). ``table``: a pyarrow table whose
    row ``i`` has line number ``first_line + i``, or ``line_numbers[i]`` when those are given.
    ``pre_quarantined`` carries records the source itself could not read (for example a line longer than
    the limit, which is not held in memory).
    """

    source: str
    position: Position
    lines: Sequence[bytes] = field(default_factory=list)  # a list, or Lines over the read buffer
    line_numbers: list[int] = field(default_factory=list)
    table: pa.Table | None = None
    first_line: int = 1
    pre_quarantined: list[Any] = field(default_factory=list)  # records.Quarantined

    def __len__(self) -> int:
        return len(self.lines) + (self.table.num_rows if self.table is not None else 0) + len(self.pre_quarantined)


@runtime_checkable
class Source(Protocol):
    """Anything that yields batches of raw records with a resumable position."""

    name: str

    def batches(self, start: Position | None = None) -> Iterator[RawBatch]:
        """Batches from ``start`` (``None``: the beginning), each with the position after it."""
        ...
