"""One raw batch through validation and the engine: the seam where sources meet the engine.

Sources (:mod:`watchdog.ingest.sources`) yield :class:`~watchdog.ingest.sources.base.RawBatch` values and know
nothing of the engine; :func:`feed` hands a batch's lines or table to validation and the engine, writes what was
rejected to the quarantine file and returns the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from watchdog.engine.engine import Engine
from watchdog.engine.tables import TableResult
from watchdog.ingest.columnar import json_blocks, restore_raw
from watchdog.ingest.records import Label, Prediction, Quarantined
from watchdog.ingest.sources.base import RawBatch


@dataclass
class FeedResult:
    """What one batch did: counts, and the rejected records (line, reason code, sentence)."""

    records: int = 0
    predictions: int = 0
    labels: int = 0
    quarantined: list[Any] = field(default_factory=list)  # records.Quarantined

    def add(self, other: FeedResult) -> None:
        self.records += other.records
        self.predictions += other.predictions
        self.labels += other.labels
        self.quarantined.extend(other.quarantined)


def feed(engine: Engine, batch: RawBatch, quarantine: IO[bytes] | None = None, *, columnar: bool = True,
         block: int = 32768) -> FeedResult:
    """Run one batch through validation and ``engine``; write rejected records to ``quarantine`` (JSON Lines).

    JSON lines are cut into tables pyarrow reads at once (:func:`watchdog.ingest.columnar.json_blocks`),
    validated as tables and taken by the engine in row order; the lines pyarrow cannot read go one by one
    through :meth:`Engine.process_line`. With ``columnar`` false every line goes that way. Both give the same
    verdicts and decisions. ``block``: the most lines in one table.

    Never raises on bad data: every bad record comes back in ``FeedResult.quarantined`` with its
    line number, reason code and sentence, and is counted in ``watchdog_records_quarantined_total``.
    """
    out = FeedResult()
    for q in batch.pre_quarantined:
        engine.quarantine(q, batch.source)
        out.quarantined.append(q)
    if batch.lines:
        blocks = (json_blocks(batch.lines, batch.line_numbers, block) if columnar
                  else [(None, batch.lines, batch.line_numbers)])
        for table, part, numbers in blocks:
            if table is None:
                for raw, n in zip(part, numbers, strict=True):
                    _count(out, engine.process_line(raw, n, batch.source))
                continue
            valid = engine.validate(table, lines=np.asarray(numbers, dtype=np.int64), json=True)
            restore_raw(valid.quarantined, part, numbers)
            _add(out, engine.take_table(valid, batch.source))
        out.records += len(batch.lines)
    if batch.table is not None:
        # rows the source took out (a CSV cell not UTF-8) leave gaps in the line numbers
        lines = np.asarray(batch.line_numbers, dtype=np.int64) if batch.line_numbers else None
        _add(out, engine.take_table(engine.validate(batch.table, batch.first_line, lines), batch.source))
        out.records += batch.table.num_rows
    out.records += len(batch.pre_quarantined)
    if quarantine is not None and out.quarantined:
        for q in out.quarantined:
            quarantine.write(q.to_json(batch.source) + b"\n")
        quarantine.flush()
    return out


def _count(out: FeedResult, rec: Prediction | Label | Quarantined) -> None:
    if isinstance(rec, Quarantined):
        out.quarantined.append(rec)
    elif isinstance(rec, Prediction):
        out.predictions += 1
    else:
        out.labels += 1


def _add(out: FeedResult, res: TableResult) -> None:
    out.predictions += res.predictions
    out.labels += res.labels
    out.quarantined.extend(res.quarantined)
