"""Parquet and CSV replay: columnar into the detectors, same decisions as the JSON Lines path."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from watchdog.ingest.records import Quarantined
from watchdog.ingest.sources import JsonlSource, Position, TableSource
from watchdog.service.feed import feed

from .helpers import DEMO_LOG, DEMO_POLICY, decisions, engine, run_source, write_tables

FEATURES = {"utilization": pa.float64(), "collateral_ratio": pa.float64(), "volatility_7d": pa.float64(),
            "borrow_rate": pa.float64(), "asset_class": pa.string()}


def detector_state(eng):
    return {m: {n: d.snapshot() for n, d in rt.detectors.items()} for m, rt in eng.runtimes.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo log (drift at record 4,000, late labels) without its malformed lines, and its tables."""
    where = tmp_path_factory.mktemp("demo")
    parser = engine().parser
    lines = [ln for ln in DEMO_LOG.read_bytes().splitlines()
             if ln.strip() and not isinstance(parser.parse(ln, 0), Quarantined)]
    jsonl = where / "clean.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    pq_path, csv_path = write_tables(lines, where, FEATURES)
    return jsonl, pq_path, csv_path


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_columnar_path_makes_the_same_decisions_as_the_jsonl_path(demo, fmt):
    jsonl, pq_path, csv_path = demo
    by_line = engine()
    bad_lines = run_source(by_line, JsonlSource(jsonl), columnar=False)
    by_cols = engine()
    bad_cols = run_source(by_cols, TableSource(pq_path if fmt == "parquet" else csv_path, batch_rows=2500))
    assert decisions(by_line), "the demo log must make the rules fire"
    assert decisions(by_cols) == decisions(by_line)
    assert [(q.line, q.reason_code) for q in bad_cols] == [(q.line, q.reason_code) for q in bad_lines]
    assert detector_state(by_cols) == detector_state(by_line)
    for m, rt in by_line.runtimes.items():
        other = by_cols.runtimes[m]
        assert (other.n_predictions, other.n_labels_joined, other.n_labels_unmatched) == (
            rt.n_predictions, rt.n_labels_joined, rt.n_labels_unmatched)
        assert other.state.by_id.snapshot() == rt.state.by_id.snapshot()
        assert list(other.state.recent) == list(rt.state.recent)


def test_table_source_resumes_from_a_row_index(demo):
    _, pq_path, _ = demo
    src = TableSource(pq_path, batch_rows=1000)
    it = src.batches()
    first = [next(it), next(it)]
    pos = Position.from_json(first[-1].position.to_json())
    assert pos.offset == 2000 and first[1].first_line == 1001
    rest = list(TableSource(pq_path, batch_rows=1000).batches(pos))
    assert rest[0].first_line == 2001
    assert sum(b.table.num_rows for b in first + rest) == pq.ParquetFile(pq_path).metadata.num_rows


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_processed(tmp_path):
    t = pa.table({
        "model": ["lending-risk", "nope", None, "lending-risk", "lending-risk", "lending-risk"],
        "version": ["1", "1", "1", "1", "1", None],
        "ts": ["2026-11-16T00:00:00Z", "2026-11-16T00:00:00Z", "x", "2026-11-16T00:00:01", "2026-11-16T00:00:02Z",
               "2026-11-16T00:00:02Z"],
        "id": ["a", "b", "c", "d", "e", "f"],
        "prediction": [0.1, 0.2, 0.3, 0.4, float("nan"), 0.5],
        "features.utilization": ["0.5", "0.5", "0.5", "0.5", "0.5", "0.5"],
        "features.asset_class": ["btc", "btc", "btc", "btc", "btc", "btc"],
    })
    eng = engine()
    res = eng.process_columns(t, 10, "t")
    assert [(q.line, q.reason_code) for q in res.quarantined] == [
        (11, "unknown_model"), (12, "missing_field"), (13, "bad_timestamp"), (14, "non_finite"),
        (15, "missing_field")]
    assert "no time zone" in res.quarantined[2].reason and "'version'" in res.quarantined[4].reason
    assert res.predictions == 1 and eng.runtimes["lending-risk"].n_predictions == 1
    assert eng.metrics.registry.get_sample_value("watchdog_records_quarantined_total",
                                                 {"reason": "missing_field"}) == 2


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="parquet"):
        TableSource(tmp_path / "x.txt")


def test_jsonl_columnar_path_equals_the_line_by_line_path_on_the_raw_demo_log():
    """The demo log has malformed lines: blocks holding them fall back to line by line."""
    by_line, by_cols = engine(), engine()
    bad_line = run_source(by_line, JsonlSource(DEMO_LOG, read_bytes=100_000, max_line_bytes=50_000), columnar=False)
    bad_cols = run_source(by_cols, JsonlSource(DEMO_LOG, read_bytes=100_000, max_line_bytes=50_000), columnar=True)
    assert bad_line and decisions(by_line)
    assert [(q.line, q.reason_code, q.raw) for q in bad_cols] == [(q.line, q.reason_code, q.raw) for q in bad_line]
    assert decisions(by_cols) == decisions(by_line)
    assert detector_state(by_cols) == detector_state(by_line)


def test_csv_cell_that_is_not_utf8_rejects_its_row_only(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"model,version,ts,id,prediction,features.utilization\n"
                  b"lending-risk,1,2026-11-16T00:00:00Z,a\xff\xfe,0.1,0.5\n"
                  b"lending-risk,1,2026-11-16T00:00:01Z,b,0.1,oops\n"
                  b"lending-risk,1,2026-11-16T00:00:02Z,c,0.1,0.5\n")
    eng = engine()
    got = [feed(eng, b) for b in TableSource(p).batches()]
    bad = [(q.line, q.reason_code) for r in got for q in r.quarantined]
    assert bad == [(1, "bad_utf8"), (2, "wrong_type")]
    assert "column 'id' is not valid UTF-8" in got[0].quarantined[0].reason and "a\ufffd" in got[0].quarantined[0].raw
    assert sum(r.predictions for r in got) == 1 and eng.runtimes["lending-risk"].n_predictions == 1


def test_csv_row_with_the_wrong_field_count_is_quarantined_and_the_file_reads_on(tmp_path):
    p = tmp_path / "short.csv"
    p.write_bytes(b"model,version,ts,id,prediction,features.utilization\n"
                  b"lending-risk,1,2026-11-16T00:00:00Z,a,0.1,0.5\n"
                  b"lending-risk,1,2026-11-16T00:00:01Z\n"
                  b"lending-risk,1,2026-11-16T00:00:02Z,c,0.1,0.5\n")
    eng = engine()
    got = [feed(eng, b) for b in TableSource(p).batches()]
    bad = [(q.line, q.reason_code) for r in got for q in r.quarantined]
    assert bad == [(2, "missing_field")]  # data rows are numbered from 1 (the header is row 0)
    assert "has 3 field(s), the header has 6" in got[0].quarantined[0].reason
    assert sum(r.predictions for r in got) == 2 and eng.runtimes["lending-risk"].n_predictions == 2


def test_columns_cut_to_their_last_values_give_the_same_detectors_as_line_by_line(demo, tmp_path):
    """Evaluations every 1,000 predictions over windows of 60 to 90: the Parquet path hands the sliding
    detectors only each batch's last values (counted, not copied, before them) and ends in the same state
    as the line path; a column with a missing value is copied whole and still agrees."""
    import orjson

    import rules
    from detectors.base import UnivariateDetector
    from watchdog.engine.engine import Engine
    from watchdog.observe.metrics import Metrics

    lines = [ln for ln in demo[0].read_bytes().splitlines() if b'"prediction"' in ln]  # no late labels
    for i in range(3000, len(lines), 37):  # gaps in one column after the reference
        rec = orjson.loads(lines[i])
        del rec["features"]["volatility_7d"]
        lines[i] = orjson.dumps(rec)
    jsonl = tmp_path / "predictions.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    pq_path, _ = write_tables(lines, tmp_path, FEATURES)
    text = (DEMO_POLICY.read_text().replace("window: 500", "window: 60").replace("window: 300", "window: 90")
            .replace("interval_records: 100", "interval_records: 1000").replace("min_samples: 500", "min_samples: 60")
            .replace("min_samples: 200", "min_samples: 60"))
    policy = tmp_path / "cut.yaml"
    policy.write_text(text)

    def make() -> Engine:
        return Engine(rules.load_policy(policy), base_dir=DEMO_POLICY.parent, metrics=Metrics())

    tails = []
    original = UnivariateDetector.update_tail

    def counting(self, values, skipped):
        tails.append(skipped)
        return original(self, values, skipped)

    by_line = make()
    run_source(by_line, JsonlSource(jsonl), columnar=False)
    by_cols = make()
    UnivariateDetector.update_tail = counting
    try:
        run_source(by_cols, TableSource(pq_path, batch_rows=2500))
    finally:
        UnivariateDetector.update_tail = original
    assert tails and min(tails) > 0, "the columns must have been cut for this test to mean anything"
    assert detector_state(by_cols) == detector_state(by_line)
    assert decisions(by_cols) == decisions(by_line)
    # and through a checkpoint after every batch (cut chunks pending in the batch are saved as such)
    from watchdog.engine import checkpoint

    resumed = make()
    for batch in TableSource(pq_path, batch_rows=700).batches():
        feed(resumed, batch)
        state = orjson.loads(checkpoint.dumps(resumed.snapshot()))
        done = resumed.decisions
        resumed = make()
        resumed.restore(state)
        resumed.decisions = done
    resumed.finish()
    by_line.finish()
    assert detector_state(resumed) == detector_state(by_line)
    assert decisions(by_cols) == decisions(by_line)
