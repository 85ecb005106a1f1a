"""Late labels: joined within a bounded window of data time and of count; the others are counted."""

from __future__ import annotations

import orjson
import pyarrow as pa

from .helpers import engine


def pred(i: int, t: int) -> bytes:
    return orjson.dumps({"model": "lending-risk", "version": "1", "ts": f"2026-11-16T00:{t // 60:02d}:{t % 60:02d}Z",
                         "id": f"p-{i}", "features": {"utilization": 0.5}, "prediction": 0.3})


def label(i: int) -> bytes:
    return orjson.dumps({"model": "lending-risk", "id": f"p-{i}", "label": 0.25})


def unmatched(eng) -> float:
    return eng.metrics.registry.get_sample_value("watchdog_labels_unmatched_total", {"model": "lending-risk"}) or 0


def test_a_label_later_than_the_window_in_data_time_does_not_join_and_is_counted():
    eng = engine(label_window=60.0)
    for i, t in enumerate((0, 30, 90, 100)):
        eng.process_line(pred(i, t), i + 1)
    rt = eng.runtimes["lending-risk"]
    eng.process_line(label(0), 10)      # predicted at 0 s, the model's clock is at 100 s: too late
    eng.process_line(label(2), 11)      # predicted at 90 s: joins
    eng.process_line(label(99), 12)     # never predicted
    assert (rt.n_labels_joined, rt.n_labels_unmatched) == (1, 2) and unmatched(eng) == 2
    assert rt.awaiting_labels() == 1    # p-0, p-1 older than 60 s, p-2 joined: p-3 only
    eng.process_line(label(1), 13)      # predicted at 30 s: too late too
    eng.process_line(label(3), 14)
    eng.process_line(label(2), 15)      # a second label for p-2 finds nothing
    assert (rt.n_labels_joined, rt.n_labels_unmatched) == (2, 4) and rt.awaiting_labels() == 0


def test_the_count_bound_holds_too_and_the_columnar_path_applies_the_same_window():
    eng = engine(label_window=60.0, join_capacity=2)
    for i, t in enumerate((0, 10, 20)):
        eng.process_line(pred(i, t), i + 1)
    eng.process_line(label(0), 9)       # pushed out by the count bound
    assert eng.runtimes["lending-risk"].n_labels_unmatched == 1

    cols = engine(label_window=60.0)
    t = pa.table({"model": ["lending-risk"] * 5, "version": ["1", "1", "1", None, None],
                  "ts": ["2026-11-16T00:00:00Z", "2026-11-16T00:00:30Z", "2026-11-16T00:01:40Z", None, None],
                  "id": ["p-0", "p-1", "p-2", "p-0", "p-2"], "prediction": [0.3, 0.3, 0.3, None, None],
                  "label": [None, None, None, 0.25, 0.25], "features.utilization": [0.5, 0.5, 0.5, None, None]})
    res = cols.process_columns(t, 1, "t")
    rt = cols.runtimes["lending-risk"]
    assert not res.quarantined and res.labels == 2
    assert (rt.n_labels_joined, rt.n_labels_unmatched) == (1, 1) and unmatched(cols) == 1
