"""One raw batch through validation and the engine: the seam where sources meet the engine.

Sources (:mod:`watchdog.ingest.sources`) yield :class:`~watchdog.ingest.sources.base.RawBatch` values and know
nothing of the engine; :func:`feed` hands a batch's lines or table to validation and the engine, writes what was
rejected to the quarantine file and returns the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

from watchdog.engine.engine import Engine
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


def feed(engine: Engine, batch: RawBatch, quarantine: IO[bytes] | None = None, *, columnar: bool = True
         ) -> FeedResult:
    """Run one batch through ``engine``; write rejected records to ``quarantine`` (JSON Lines).

    JSON lines take the columnar path (:func:`watchdog.columnar.process_jsonl`: pyarrow parses blocks,
    a block it cannot read goes line by line) unless ``columnar`` is false: then every line goes
    through :meth:`Engine.process_line`. Both give the same verdicts and decisions.

    Never raises on bad data: every bad record comes back in ``FeedResult.quarantined`` with its
    line number, reason code and sentence, and is counted in ``watchdog_records_quarantined_total``.
    """
    from watchdog.ingest.records import Label, Prediction, Quarantined

    out = FeedResult()
    for q in batch.pre_quarantined:
        engine.quarantine(q, batch.source)
        out.quarantined.append(q)
    if batch.lines and columnar:
        from watchdog.ingest.columnar import process_jsonl
        res = process_jsonl(engine, batch.lines, batch.line_numbers, batch.source)
        out.records += len(batch.lines)
        out.predictions += res.predictions
        out.labels += res.labels
        out.quarantined.extend(res.quarantined)
    elif batch.lines:
        for raw, n in zip(batch.lines, batch.line_numbers):
            rec = engine.process_line(raw, n, batch.source)
            out.records += 1
            if isinstance(rec, Quarantined):
                out.quarantined.append(rec)
            elif isinstance(rec, Prediction):
                out.predictions += 1
            elif isinstance(rec, Label):
                out.labels += 1
    if batch.table is not None:
        if batch.line_numbers:  # rows the source took out (a CSV cell not UTF-8) leave gaps
            import numpy as np

            from watchdog.ingest.columnar import process_table
            res = process_table(engine, batch.table, source=batch.source,
                                lines=np.asarray(batch.line_numbers, dtype=np.int64))
        else:
            res = engine.process_columns(batch.table, batch.first_line, batch.source)
        out.records += batch.table.num_rows
        out.predictions += res.predictions
        out.labels += res.labels
        out.quarantined.extend(res.quarantined)
    out.records += len(batch.pre_quarantined)
    if quarantine is not None and out.quarantined:
        for q in out.quarantined:
            quarantine.write(q.to_json(batch.source) + b"\n")
        quarantine.flush()
    return out
