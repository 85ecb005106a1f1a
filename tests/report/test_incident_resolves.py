"""An incident says it is clear when its rule resolves (issue #16, item 14): state ``resolved`` and an audit line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.evidence.helpers import by_lines, operator
from tests.evidence.test_agree import STALE_POLICY
from watchdog.service.demo_data import generate_lines


def test_a_stale_feed_that_comes_back_resolves_its_incident(tmp_path: Path) -> None:
    policy = tmp_path / "stale.yaml"
    policy.write_text(STALE_POLICY)
    log = list(generate_lines(n=1600, drift_at=None, malformed=False, label_delay=10))
    eng, store = operator(policy, tmp_path / "w.db")
    by_lines(eng, log[:1500])
    last = eng.runtimes["lending-risk"].state.recent[-1][0]
    (fired,) = eng.tick(datetime.fromtimestamp(last + 900.0, tz=UTC))
    (inc,) = store.incidents()
    assert fired.kind == "fire" and inc.state == "open"
    store.acknowledge(inc, "alice", "looking", 1.0)
    for n, raw in enumerate(log[1500:], 1501):  # the feed comes back: the rule resolves at its next evaluation
        eng.process_line(raw, n)
    eng.finish()
    (after,) = store.incidents()
    assert after.state == "resolved"
    rows = store.query("SELECT detail FROM audit WHERE event = 'incident_resolved' AND incident_id = ?", (inc.id,))
    assert [json.loads(r["detail"])["by"] for r in rows] == ["rule_resolved"]
    store.close()
