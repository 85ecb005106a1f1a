"""Labelled counters exist at 0 before their first event, so ``increase()`` in an alert rule sees the first one
(before: the series first appeared at 1 and the delivery-failure rule missed the first failure)."""

from __future__ import annotations

from watchdog.ingest.records import REASON_CODES
from watchdog.observe.alerting import build_notifier
from watchdog.observe.metrics import Metrics


def test_quarantine_and_delivery_counters_start_at_zero() -> None:
    m = Metrics()
    for reason in REASON_CODES:
        assert m.registry.get_sample_value("watchdog_records_quarantined_total", {"reason": reason}) == 0
    notifier = build_notifier(m, alertmanager_url="http://127.0.0.1:9")
    assert notifier is not None
    try:
        for outcome in ("sent", "failed", "dropped"):
            assert m.registry.get_sample_value("watchdog_alert_notifications_total",
                                               {"receiver": "alertmanager", "outcome": outcome}) == 0
    finally:
        notifier.close(0.1)
