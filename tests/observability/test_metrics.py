"""Metrics read at scrape time: the store's outbox, incidents and pauses; the info metrics; naming rules."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, generate_latest

from watchdog.observe.metrics import Metrics
from watchdog.store.store import Incident, Store


def _incident(i: str, model: str = "lending-risk") -> Incident:
    return Incident(
        id=i,
        model=model,
        rule="R",
        tier="critical",
        opened_at=0.0,
        record_index=1,
        policy_hash="0x00",
        dry_run=False,
        evidence="{}",
        evidence_hash="0x11",
        state="open",
    )


def test_outbox_depth_incidents_and_pauses_come_from_the_store(tmp_path):
    m = Metrics(CollectorRegistry())
    with Store(tmp_path / "s.db") as store:
        m.attach_store(store)
        get = m.registry.get_sample_value
        assert get("watchdog_outbox_depth") == 0
        assert get("watchdog_outbox_oldest_progress_timestamp_seconds") is None
        store.add_incident(_incident("0x01"))
        store.add_incident(_incident("0x02"))
        a = store.add_action("0x01", "pause", "lending-risk", 100.0)
        store.add_action("0x02", "pause", "lending-risk", 50.0)
        b = store.action("0x02", "pause")
        assert get("watchdog_outbox_depth") == 2
        assert get("watchdog_outbox_actions", {"status": "intent"}) == 2
        assert get("watchdog_outbox_oldest_progress_timestamp_seconds") == 50.0
        assert get("watchdog_incidents_open", {"model": "lending-risk"}) == 2
        assert get("watchdog_model_paused", {"model": "lending-risk"}) == 0
        store.update_action(b.id, 120.0, status="held")  # waiting for its veto window: open, not stuck
        assert get("watchdog_outbox_oldest_progress_timestamp_seconds") == 100.0
        store.update_action(a.id, 130.0, status="mined", tx_hash="0xaa", block_number=3)
        assert get("watchdog_model_paused", {"model": "lending-risk"}) == 1
        assert get("watchdog_outbox_depth") == 2  # mined is open until confirmed
        store.update_action(a.id, 140.0, status="confirmed")
        store.update_action(b.id, 140.0, status="duplicate")
        assert get("watchdog_outbox_depth") == 0
        store.set_incident_state("0x01", "closed")
        assert get("watchdog_incidents_open", {"model": "lending-risk"}) == 1
    # a closed store must not break the scrape: its series disappear, the rest stays
    text = generate_latest(m.registry).decode()
    assert "watchdog_build_info" in text and "watchdog_outbox_depth" not in text


def test_names_follow_prometheus_conventions():
    m = Metrics(CollectorRegistry())
    m.alert_notifications.labels("alertmanager", "sent").inc()
    text = generate_latest(m.registry).decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
    for name, kind in types.items():
        assert name.startswith("watchdog_"), name
        assert name.endswith("_total") == (kind == "counter"), f"{name} is a {kind}"
    assert types["watchdog_transaction_latency_seconds"] == "histogram"
    assert 'watchdog_transaction_latency_seconds_bucket{action="pause",le="+Inf"} 0.0' in text
