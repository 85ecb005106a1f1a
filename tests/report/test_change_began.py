"""Evidence, report and alert say where the change began as well as where it was detected (before: only the
decisive line). On a generated log with the regime change at prediction 4,000, the KS rule's incident places
the change there."""

from __future__ import annotations

from pathlib import Path

import orjson

from watchdog.observe.alerting import _began
from watchdog.report.incidents import incident_view
from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.store.store import Store

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"


def _line_of_prediction(log: Path, index: int) -> int:
    seen = -1
    for lineno, raw in enumerate(log.read_bytes().splitlines(), 1):
        if b'"features"' in raw:
            seen += 1
            if seen == index:
                return lineno
    raise AssertionError("no such prediction")


def test_the_incident_says_where_the_change_began(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    write_log(str(log), n=6000, drift_at=4000, malformed=False)
    res = run(RunOptions(policy=DEMO_POLICY, source=log, store=tmp_path / "w.db", quarantine=tmp_path / "q",
                         dry_run=True, progress=False, settle_seconds=0.0))
    (inc,) = [i for i in res.incidents if i.rule == "UtilizationDrift"]
    truth = _line_of_prediction(log, 4000)
    change = inc.evidence_data["change"]  # the record by id: the line is this operator's (in the audit line)
    assert abs(int(change["id"].removeprefix("req-")) - 4000) <= 25
    with Store(tmp_path / "w.db") as store:
        view = incident_view(store, inc)
    line = view["changed_at_line"]
    assert abs(line - truth) <= 25 and line < inc.record_index and view["decisive_line"] == inc.record_index
    assert any(e["event"] == "change_began" for e in view["timeline"])
    assert f"The change began at record {change['id']} (data time {change['ts']})" in _began(inc)
    orjson.dumps(view)  # JSON-ready
