"""Time-only conditions: staleness and volume detectors in a policy, evaluated on every batch (data time)
and on the clock's ticks (``Engine.tick``, which ``watchdog serve``'s scheduler calls with the wall time)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import rules
from watchdog.engine.engine import Engine
from watchdog.service.demo_data import generate_lines

POLICY = """
version: 1
name: time-conditions
models:
  - id: lending-risk
    module: lending-risk
    prediction: {type: numeric}
    features:
      - {name: utilization, type: numeric}
    reference: {first_n: 500}
    detectors:
      - {name: ks_util, kind: ks, feature: utilization, window: 200}
      - {name: stale, kind: staleness, max_age: 600}
      - {name: volume, kind: volume, interval: 600}
groups:
  - name: feed
    interval_records: 50
    rules:
      - name: FeedStale
        model: lending-risk
        condition: {detector: stale, statistic: statistic, op: ">", threshold: 600}
        labels: {severity: routine}
        annotations: {summary: "No record for ten minutes"}
        actions: [alert]
      - name: FeedThin
        model: lending-risk
        condition: {detector: volume, statistic: statistic, op: "<", threshold: 0.5}
        labels: {severity: routine}
        annotations: {summary: "Fewer than half the usual records"}
        actions: [alert]
      - name: UtilDrift
        model: lending-risk
        condition: {detector: ks_util, statistic: p_value, op: "<", threshold: 0.5}
        for: 1000
        labels: {severity: routine}
        annotations: {summary: "p below one half for a long time"}
        actions: [alert]
"""


def _engine() -> tuple[Engine, float]:
    engine = Engine(rules.load_policy_text(POLICY, "time.yaml"))
    last = 0.0
    for n, raw in enumerate(generate_lines(n=1500, drift_at=None, malformed=False, label_delay=10), 1):
        engine.process_line(raw, n)
    engine.finish()
    rt = engine.runtimes["lending-risk"]
    last = rt.state.recent[-1][0]
    return engine, last


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def test_a_live_feed_is_neither_stale_nor_thin():
    engine, last = _engine()
    rt = engine.runtimes["lending-risk"]
    assert rt.detectors["stale"].statistic == pytest.approx(0.0)
    assert rt.detectors["volume"].statistic == pytest.approx(1.0, abs=0.15)  # one record per 15 s, as the reference
    assert engine.tick(at(last + 100)) == []


def test_a_stopped_feed_fires_on_the_clock_and_ticks_leave_other_rules_alone():
    engine, last = _engine()
    before = engine.evaluator.state("UtilDrift")
    assert engine.tick(at(last + 200)) == []  # 200 s of silence: neither stale nor thin yet
    fired = engine.tick(at(last + 601))  # ten minutes without a record: stale, and the last interval is empty
    assert sorted((d.rule, d.kind) for d in fired) == [("FeedStale", "fire"), ("FeedThin", "fire")]
    assert {d.rule: d.value for d in fired}["FeedStale"] == pytest.approx(601.0)
    assert engine.runtimes["lending-risk"].detectors["volume"].read("count") == 0
    assert engine.tick(at(last + 900)) == []  # still firing: no second decision
    after = engine.evaluator.state("UtilDrift")
    assert (after.state, after.consecutive) == (before.state, before.consecutive)  # ticks never count for it


def test_records_arriving_again_resolve_staleness():
    engine, last = _engine()
    engine.tick(at(last + 700))
    assert engine.evaluator.state("FeedStale").state == "firing"
    n = 10_000
    for i, raw in enumerate(generate_lines(n=120, drift_at=None, malformed=False, seed=9,
                                           start=datetime.fromtimestamp(last + 720, tz=UTC)), 1):
        engine.process_line(raw.replace(b'"req-', b'"again-'), n + i)
    engine.finish()
    assert engine.evaluator.state("FeedStale").state == "inactive"


def test_out_of_order_timestamps_do_not_stop_the_clocked_detectors():
    engine, _ = _engine()
    rt = engine.runtimes["lending-risk"]
    lines = list(generate_lines(n=60, drift_at=None, malformed=False, seed=4,
                                start=datetime(2026, 11, 16, tzinfo=UTC)))  # older than what was seen
    for i, raw in enumerate(lines, 1):
        engine.process_line(raw.replace(b'"req-', b'"late-'), 50_000 + i)
    engine.finish()
    assert rt.detectors["stale"].n_seen > 1000


def test_a_time_kind_takes_no_feature():
    bad = POLICY.replace("{name: stale, kind: staleness, max_age: 600}",
                         "{name: stale, kind: staleness, feature: utilization}")
    with pytest.raises(rules.PolicyError) as e:
        rules.load_policy_text(bad, "time.yaml")
    assert any("take no feature" in i.problem and i.line == 13 for i in e.value.errors), e.value.errors
