"""Two operators, the same records and policy, different ingest paths, line numbers and junk in between:
the same incident ids and evidence hashes; and nothing of one operator's in the hashed document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.evidence.helpers import by_file, by_lines, incidents, operator
from tests.golden import make_golden
from watchdog.engine.checkpoint import dumps
from watchdog.evidence.bundle import canonical_json, evidence_hash


@pytest.mark.parametrize("case", ["demo", "lending"])
def test_file_and_line_paths_agree_on_ids_and_evidence(case: str, tmp_path: Path) -> None:
    log = make_golden.log_of(case)
    a, store_a = operator(make_golden.CASES[case], tmp_path / "a.db")
    b, store_b = operator(make_golden.CASES[case], tmp_path / "b.db")
    by_file(a, log)
    by_lines(b, log, first_line=90_001, junk_every=37)  # other lines, and quarantines only b sees
    assert b.n_quarantined > a.n_quarantined
    ia, ib = incidents(store_a), incidents(store_b)
    assert ia, "the case must fire to mean anything"
    assert [i.id for i in ia] == [i.id for i in ib]
    assert [i.evidence_hash for i in ia] == [i.evidence_hash for i in ib]
    assert [i.evidence for i in ia] == [i.evidence for i in ib]
    # the operators' own line numbers stay in their rows and audit lines
    assert [i.record_index for i in ia] != [i.record_index for i in ib]
    for inc in ia:
        assert inc.evidence_hash == evidence_hash(canonical_json(inc.evidence_data))
    store_a.close()
    store_b.close()


def _keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _keys(v)}
    return set()


def test_the_evidence_holds_nothing_operator_specific_and_the_audit_line_does(tmp_path: Path) -> None:
    log = make_golden.log_of("demo")
    eng, store = operator(make_golden.CASES["demo"], tmp_path / "a.db")
    by_lines(eng, log)
    (inc, *_) = incidents(store)
    keys = _keys(inc.evidence_data)
    assert not keys & {"line", "decisive_line", "first_line", "last_line", "quarantined_all_models"}
    ev = inc.evidence_data
    assert {"format", "watchdog_version", "policy_hash", "condition", "detector", "window", "reference"} <= set(ev)
    assert {"kind", "params", "state_hash"} <= set(ev["detector"])
    assert ev["condition"]["threshold"] is not None and ev["condition"]["op"] in ("<", ">", "<=", ">=")
    (row,) = store.query("SELECT detail FROM audit WHERE incident_id = ? AND event = 'incident_opened'", (inc.id,))
    detail = json.loads(row["detail"])
    assert detail["local"]["decisive_line"] == inc.record_index
    assert detail["local"]["quarantined_all_models"] >= 0 and detail["local"]["window_lines"]["last_line"] > 0
    assert len(detail["leaves"]) == ev["window"]["leaves"] == ev["window"]["records"] + 1
    assert detail["leaves"][-1]["reference"] == ev["reference"]["sha256"]
    store.close()


def test_a_restart_from_a_checkpoint_keeps_ids_and_evidence(tmp_path: Path) -> None:
    """The window's records are checkpointed: stopping half-way and restoring gives what one run gives."""
    log = make_golden.log_of("lending")
    whole, store_w = operator(make_golden.CASES["lending"], tmp_path / "w.db")
    by_file(whole, log)
    first, store_r = operator(make_golden.CASES["lending"], tmp_path / "r.db")
    half = 4900
    by_file(first, log[:half], finish=False)
    snap = orjson.loads(dumps(first.snapshot()))
    store_r.close()
    second, store_r = operator(make_golden.CASES["lending"], tmp_path / "r.db")
    assert second.restore(snap) == []
    line = half + 1
    for raw in log[half:]:
        second.process_line(raw, line)
        line += 1
    second.finish()
    got = {(i.id, i.evidence_hash) for i in incidents(store_r)}
    assert got == {(i.id, i.evidence_hash) for i in incidents(store_w)}
    store_w.close()
    store_r.close()


def test_the_report_shows_the_lines_and_not_the_leaves(tmp_path: Path) -> None:
    from watchdog.report.incidents import incident_view

    log = make_golden.log_of("lending")
    eng, store = operator(make_golden.CASES["lending"], tmp_path / "a.db")
    by_lines(eng, log, first_line=70_001)
    inc = next(i for i in incidents(store) if i.evidence_data.get("change"))
    view = incident_view(store, inc)
    assert view["decisive_line"] == inc.record_index > 70_000
    assert view["changed_at_line"] is not None and view["changed_at_line"] > 70_000
    assert view["evidence"] == inc.evidence_data  # the page shows the evidence as hashed
    opened = next(e for e in view["timeline"] if e["event"] == "incident_opened")
    assert opened["detail"] == f"evidence_hash: {inc.evidence_hash}"
    start = next(e for e in view["timeline"] if e["event"] == "evidence_window_start")
    assert "line 7" in start["detail"] and "None" not in start["detail"]
    store.close()


def test_records_posted_over_http_agree_with_the_file(tmp_path: Path) -> None:
    """The HTTP ingest path (a real uvicorn on loopback, JSON Lines in batches of 333) against the file path."""
    import httpx

    from tests.api.conftest import serve
    from watchdog.service.api import create_app

    log = make_golden.log_of("demo")
    a, store_a = operator(make_golden.CASES["demo"], tmp_path / "a.db")
    by_file(a, log)
    b, store_b = operator(make_golden.CASES["demo"], tmp_path / "b.db")
    app = create_app(engine=b, store=store_b, registry=b.metrics.registry, tokens=["t" * 24])
    for url in serve(app):
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer " + "t" * 24}, timeout=30) as http:
            for at in range(0, len(log), 333):
                r = http.post("/v1/records", content=b"\n".join(log[at:at + 333]),
                              headers={"Content-Type": "application/x-ndjson"})
                assert r.status_code == 200, r.text
    b.finish()  # the end of the stream, as the file's end is for a
    ia, ib = incidents(store_a), incidents(store_b)
    assert ia and [(i.id, i.evidence_hash) for i in ia] == [(i.id, i.evidence_hash) for i in ib]
    store_a.close()
    store_b.close()


STALE_POLICY = """
version: 1
name: stale-feed
models:
  - id: lending-risk
    module: lending-risk
    prediction: {type: numeric}
    features:
      - {name: utilization, type: numeric}
    reference: {first_n: 500}
    detectors:
      - {name: stale, kind: staleness, max_age: 600}
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
"""


def test_a_stale_feed_is_one_incident_whatever_the_clock_and_the_restarts(tmp_path: Path) -> None:
    """A rule that fires on the clock (the feed stopped) names its incident after the last record, not after the
    tick: two operators whose clocks tick at other moments, and an operator restarted from a checkpoint taken
    before it fired, open the same one incident (issue #16, item 14: each restart opened a new stale-feed
    incident; issue #18: operators must agree)."""
    from datetime import UTC, datetime

    from watchdog.service.demo_data import generate_lines

    policy = tmp_path / "stale.yaml"
    policy.write_text(STALE_POLICY)
    log = list(generate_lines(n=1500, drift_at=None, malformed=False, label_delay=10))
    ids = []
    for name, silence in (("a", 700.0), ("b", 1300.0)):  # each operator's clock notices at another moment
        eng, store = operator(policy, tmp_path / f"{name}.db")
        by_lines(eng, log)
        last = eng.runtimes["lending-risk"].state.recent[-1][0]
        snap = dumps(eng.snapshot())  # the last checkpoint, taken before the rule fired
        assert eng.tick(datetime.fromtimestamp(last + silence, tz=UTC))
        again, store2 = operator(policy, tmp_path / f"{name}.db")  # a restart: a new engine from the checkpoint
        again.restore(orjson.loads(snap))
        assert again.tick(datetime.fromtimestamp(last + silence + 600.0, tz=UTC))  # it fires again
        ids.append([i.id for i in incidents(store)])
        store.close()
        store2.close()
    assert ids[0] == ids[1] and len(ids[0]) == 1, ids
