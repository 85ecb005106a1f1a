"""A failure at any stage of processing quarantines what it hit and the stream goes on; a failing store does not
quarantine anything (it is not the records' fault) and surfaces, so the batch is not counted done.

Before: an exception in parsing, validation, a detector or the evaluation left ``feed`` and stopped the
service (and a restart met the same record again)."""

from __future__ import annotations

import sqlite3

import pytest

import detectors
from watchdog.engine import engine as engine_module
from watchdog.ingest.sources import Position, RawBatch
from watchdog.service.feed import feed

from .helpers import DEMO_LOG, engine

LINES = [ln for ln in DEMO_LOG.read_bytes().splitlines() if ln.strip()][:6000]


def run(eng, lines=LINES, columnar=True):
    return feed(eng, RawBatch("s", Position(0), lines=lines, line_numbers=list(range(1, len(lines) + 1))),
                columnar=columnar)


def baseline() -> tuple[int, int]:
    res = run(engine())
    return res.predictions, len(res.quarantined)


def test_a_record_whose_parse_fails_is_quarantined_and_the_rest_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    eng = engine()
    parse = eng.parser.parse

    def poisoned(raw: bytes, line: int):
        if line == 100:
            raise RuntimeError("a bug met this line")
        return parse(raw, line)

    monkeypatch.setattr(eng.parser, "parse", poisoned)
    res = run(eng, columnar=False)
    bad = {q.line: q for q in res.quarantined}
    assert bad[100].reason_code == "processing_error" and "RuntimeError: a bug met this line" in bad[100].reason
    predictions, quarantined = baseline()
    assert res.predictions == predictions - 1 and len(res.quarantined) == quarantined + 1


def test_a_table_whose_validation_fails_goes_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*a, **k):
        raise ValueError("the table validator met something new")

    monkeypatch.setattr(engine_module, "validate_table", broken)
    res = run(engine())
    assert (res.predictions, len(res.quarantined)) == baseline()  # every line got the line path's verdict


def test_a_detector_that_fails_drops_its_batch_and_the_stream_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    update = detectors.KSDrift.update_many

    def flaky(self, values):
        calls["n"] += 1
        if calls["n"] == 3:
            raise FloatingPointError("a detector bug")
        return update(self, values)

    monkeypatch.setattr(detectors.KSDrift, "update_many", flaky)
    eng = engine()
    res = run(eng, columnar=False)
    assert res.predictions == baseline()[0]
    assert eng.metrics.registry.get_sample_value("watchdog_processing_errors_total",
                                                 {"stage": "detector_update"}) == 1
    assert calls["n"] > 10  # later batches were fed again


def test_an_evaluation_that_fails_is_counted_and_the_stream_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    eng = engine()
    evaluate = eng.evaluator.evaluate
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise ZeroDivisionError("an evaluator bug")
        return evaluate(*a, **k)

    monkeypatch.setattr(eng.evaluator, "evaluate", flaky)
    res = run(eng)
    assert res.predictions == baseline()[0] and calls["n"] > 10
    assert eng.metrics.registry.get_sample_value("watchdog_processing_errors_total", {"stage": "evaluation"}) == 1


def test_a_failing_store_is_not_the_records_fault() -> None:
    def store_down(engine, rt, decision):
        raise sqlite3.OperationalError("database is locked")

    whole = [ln for ln in DEMO_LOG.read_bytes().splitlines() if ln.strip()]  # the drift makes a rule fire
    for columnar in (True, False):
        eng = engine(on_decision=store_down)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            run(eng, whole, columnar=columnar)
        assert "processing_error" not in eng.quarantine_by_reason
