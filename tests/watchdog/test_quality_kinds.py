"""Data-quality detectors from a policy: the missing-value rate (fed the missing values the other detectors
skip) and the out-of-range rate against the reference's bounds, through the real engine."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

import rules
from watchdog.engine.engine import Engine
from watchdog.service.demo_data import generate_lines

POLICY = """
version: 1
name: quality
models:
  - id: lending-risk
    module: lending-risk
    prediction: {type: numeric}
    features:
      - {name: utilization, type: numeric}
      - {name: borrow_rate, type: numeric}
    reference: {first_n: 1000}
    detectors:
      - {name: util_missing, kind: missing_rate, window: 200}
      - {name: rate_range, kind: out_of_range, feature: borrow_rate, window: 200}
groups:
  - name: quality
    interval_records: 50
    rules:
      - name: UtilizationMissing
        model: lending-risk
        condition: {detector: util_missing, statistic: statistic, op: ">", threshold: 0.1}
        labels: {severity: routine}
        annotations: {summary: "More than 10% of records lack utilization"}
        actions: [alert]
      - name: BorrowRateOutOfRange
        model: lending-risk
        condition: {detector: rate_range, statistic: above, op: ">", threshold: 0.05}
        labels: {severity: routine}
        annotations: {summary: "Borrow rates above anything seen in the reference"}
        actions: [alert]
"""


def _feed(break_at: int, what: str) -> Engine:
    policy = rules.load_policy_text(POLICY.replace("{name: util_missing, kind: missing_rate, window: 200}",
                                                   "{name: util_missing, kind: missing_rate, feature: utilization,"
                                                   " window: 200}"), "quality.yaml")
    engine = Engine(policy)
    rng = np.random.default_rng(3)
    i = 0
    for n, raw in enumerate(generate_lines(n=2500, drift_at=None, malformed=False, label_delay=10), 1):
        rec = orjson.loads(raw)
        if "features" in rec:
            if i >= break_at and what == "missing" and rng.random() < 0.3:
                rec["features"]["utilization"] = None
            if i >= break_at and what == "range" and rng.random() < 0.2:
                rec["features"]["borrow_rate"] = 5.0  # a 500% rate: a unit bug upstream
            i += 1
        engine.process_line(orjson.dumps(rec), n)
    engine.finish()
    return engine


@pytest.mark.parametrize(("what", "rule"), [("missing", "UtilizationMissing"), ("range", "BorrowRateOutOfRange")])
def test_quality_rules_fire_after_the_break_and_not_before(what, rule):
    engine = _feed(1800, what)
    fired = [d for d in engine.decisions if d.kind == "fire"]
    assert [d.rule for d in fired] == [rule]
    assert fired[0].record_index > 1800  # lines run ahead of predictions (labels are lines too)


def test_a_clean_feed_fires_nothing_and_counts_every_record_for_the_missing_rate():
    engine = _feed(10**9, "none")
    assert engine.decisions == []
    rt = engine.runtimes["lending-risk"]
    assert rt.detectors["util_missing"].n_seen == 1500  # every prediction after the 1,000 of the reference
    assert rt.detectors["util_missing"].statistic == 0.0


TYPE_POLICY = POLICY.replace(
    "      - {name: util_missing, kind: missing_rate, window: 200}",
    "      - {name: util_missing, kind: missing_rate, feature: utilization, window: 200}\n"
    "      - {name: type_errors, kind: type_error_rate, window: 200}",
) + """      - name: TypeErrors
        model: lending-risk
        condition: {detector: type_errors, statistic: statistic, op: ">", threshold: 0.05}
        labels: {severity: routine}
        annotations: {summary: "More than 5% of the model's records have a wrong type"}
        actions: [alert]
"""


def test_type_errors_counted_from_the_quarantine_fire_on_the_line_and_columnar_paths(tmp_path):
    from watchdog.ingest.sources import JsonlSource
    from watchdog.service.feed import feed

    rng = np.random.default_rng(5)
    lines, i = [], 0
    for raw in generate_lines(n=2500, drift_at=None, malformed=False, label_delay=10):
        rec = orjson.loads(raw)
        if "features" in rec:
            if i >= 1800 and rng.random() < 0.2:
                rec["features"]["borrow_rate"] = "high"  # an upstream schema change: a string where a number was
            i += 1
        lines.append(orjson.dumps(rec))
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    policy = rules.load_policy_text(TYPE_POLICY, "quality.yaml")

    by_line = Engine(policy)
    for n, raw in enumerate(lines, 1):
        by_line.process_line(raw, n)
    by_line.finish()
    columnar = Engine(policy)
    for batch in JsonlSource(log).batches():
        feed(columnar, batch)
    columnar.finish()

    for engine in (by_line, columnar):
        fired = [(d.rule, d.kind) for d in engine.decisions if d.kind == "fire"]
        assert fired == [("TypeErrors", "fire")]
        det = engine.runtimes["lending-risk"].detectors["type_errors"]
        assert 0.1 < det.statistic < 0.3
    assert [d.record_index for d in by_line.decisions] == [d.record_index for d in columnar.decisions]


def test_type_error_rate_takes_no_feature():
    bad = TYPE_POLICY.replace("{name: type_errors, kind: type_error_rate, window: 200}",
                              "{name: type_errors, kind: type_error_rate, feature: utilization}")
    with pytest.raises(rules.PolicyError, match="model's records as a whole and take no feature"):
        rules.load_policy_text(bad, "quality.yaml")
