"""One raw batch through validation and the engine: the seam where sources meet the engine.

Sources (:mod:`watchdog.ingest.sources`) yield :class:`~watchdog.ingest.sources.base.RawBatch` values and know
nothing of the engine; :func:`feed` hands a batch's lines or table to validation and the engine, writes what was
rejected to the quarantine file and returns the counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from watchdog.engine.engine import Engine, HandlerError
from watchdog.engine.tables import TableResult
from watchdog.ingest import validate as why
from watchdog.ingest.columnar import ValidTable, json_blocks, restore_raw
from watchdog.ingest.records import Label, Prediction, Quarantined
from watchdog.ingest.sources.base import RawBatch

log = logging.getLogger("watchdog.feed")


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
            valid = None
            if table is not None:
                try:
                    valid = engine.validate(table, lines=np.asarray(numbers, dtype=np.int64), json=True)
                except Exception:  # the line path gives every line its own verdict instead
                    log.exception("table_validation_failed", extra={"source": batch.source, "lines": len(part)})
            if valid is None:
                for raw, n in zip(part, numbers, strict=True):
                    _count(out, _unwrapped(engine.process_line, raw, n, batch.source))
                continue
            restore_raw(valid.quarantined, part, numbers)
            _add(out, _take(engine, valid, batch.source, table))
        out.records += len(batch.lines)
    if batch.table is not None:
        # rows the source took out (a CSV cell not UTF-8) leave gaps in the line numbers
        lines = np.asarray(batch.line_numbers, dtype=np.int64) if batch.line_numbers else None
        try:
            valid = engine.validate(batch.table, batch.first_line, lines)
        except Exception as e:
            _add(out, _failed_table(engine, batch, lines, e))
        else:
            _add(out, _take(engine, valid, batch.source, batch.table))
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


def _unwrapped(call: Any, *args: Any) -> Any:
    """``call(*args)``; a failing decision handler raises its own error (the store's, the chain's), so the
    caller does not count the batch done and nothing is quarantined for it."""
    try:
        return call(*args)
    except HandlerError as e:
        raise (e.__cause__ or e) from None


def _take(engine: Engine, valid: ValidTable, source: str, table: Any) -> TableResult:
    """A validated table into the engine; a failure inside it quarantines the table's good rows as
    ``processing_error`` (the detectors may hold part of them) and the stream goes on."""
    try:
        return engine.take_table(valid, source)
    except HandlerError as e:
        raise (e.__cause__ or e) from None
    except Exception as e:
        log.exception("processing_error", extra={"source": source, "rows": valid.rows})
        engine.metrics.processing_errors.labels("table").inc()
        bad = {q.line for q in valid.quarantined}
        res = TableResult(quarantined=list(valid.quarantined))
        for n in valid.lines.tolist():
            if n not in bad:
                res.quarantined.append(engine.quarantine(
                    Quarantined(int(n), "processing_error", why.processing_error(e), ""), source))
        return res


def _failed_table(engine: Engine, batch: RawBatch, lines: Any, e: Exception) -> TableResult:
    """A table that could not be validated at all: every row quarantined with the reason."""
    log.exception("table_validation_failed", extra={"source": batch.source})
    table = batch.table
    assert table is not None
    numbers = lines.tolist() if lines is not None else range(batch.first_line, batch.first_line + table.num_rows)
    res = TableResult()
    for n in numbers:
        res.quarantined.append(engine.quarantine(
            Quarantined(int(n), "processing_error", why.processing_error(e), ""), batch.source))
    return res
