"""Alert delivery: request shape, retries with backoff, counted failures, and never blocking the caller."""

from __future__ import annotations

import threading
import urllib.request

import pytest

from watchdog.errors import ConfigError
from watchdog.observe.alerting import (
    AlertmanagerReceiver,
    AlertNotifier,
    Backoff,
    DeliveryWorker,
    WebhookReceiver,
    alert_outcomes,
    build_notifier,
)
from watchdog.observe.metrics import Metrics

from .conftest import event, free_port, get_json, start_alertmanager, volatility_alert_labels
from .recorder import recording_server

FAST = Backoff(attempts=4, base=0.01, factor=2.0, cap=0.05)
NOW = 1_795_000_000.0


def notifier(receivers, metrics, capacity=100, backoff=FAST):
    return AlertNotifier(
        receivers,
        DeliveryWorker(*alert_outcomes(metrics), capacity=capacity, backoff=backoff),
        clock=lambda: NOW,
        evidence_url="https://w.example/incidents/{incident}",
    )


def sample(metrics, receiver, outcome, name="watchdog_alert_notifications_total"):
    return metrics.registry.get_sample_value(name, {"receiver": receiver, "outcome": outcome})


def test_alertmanager_request_is_a_v2_postable_alert(demo_events):
    m = Metrics()
    data = event(demo_events, "alert", "VolatilityRegimeShift")
    with recording_server() as srv:
        n = notifier([AlertmanagerReceiver(srv.url)], m)
        n("alert", data)
        assert n.close(5)
    (req,) = srv.requests
    assert (req.method, req.path) == ("POST", "/api/v2/alerts")
    assert req.headers["content-type"] == "application/json"
    (alert,) = req.json
    inc = data["incident"]
    assert alert["labels"] == volatility_alert_labels(inc.id)
    assert alert["annotations"]["runbook_url"] == "https://example.org/runbooks/lending-risk#volatility"
    assert alert["annotations"]["evidence_url"] == f"https://w.example/incidents/{inc.id}"
    assert alert["startsAt"] == "2026-11-18T11:06:40.000Z"
    assert alert["endsAt"] > alert["startsAt"]  # a lifetime ahead: re-posted while firing
    assert sample(m, "alertmanager", "sent") == 1


def test_transient_failures_are_retried_with_backoff_then_delivered(demo_events):
    m = Metrics()
    with recording_server(script=[(503, {}), (500, {})]) as srv:
        n = notifier([AlertmanagerReceiver(srv.url)], m)
        n("alert", event(demo_events, "alert"))
        assert n.close(5)
    assert len(srv.requests) == 3
    assert srv.requests[0].json[0]["labels"] == srv.requests[2].json[0]["labels"]  # the same alert, re-sent
    assert sample(m, "alertmanager", "sent") == 1
    assert sample(m, "alertmanager", "failed") is None
    assert sample(m, "alertmanager", "failed", "watchdog_alert_delivery_attempts_total") == 2
    assert sample(m, "alertmanager", "sent", "watchdog_alert_delivery_attempts_total") == 1


def test_a_client_error_is_not_retried_and_is_counted(demo_events):
    m = Metrics()
    with recording_server(default=(400, {"error": "bad"})) as srv:
        n = notifier([AlertmanagerReceiver(srv.url)], m)
        n("alert", event(demo_events, "alert"))
        assert n.close(5)
    assert len(srv.requests) == 1
    assert sample(m, "alertmanager", "failed") == 1


def test_an_unreachable_receiver_gives_up_after_the_attempts_and_counts_it(demo_events):
    m = Metrics()
    n = notifier([AlertmanagerReceiver(f"http://127.0.0.1:{free_port()}")], m)
    n("alert", event(demo_events, "alert"))
    assert n.close(10)
    assert sample(m, "alertmanager", "failed", "watchdog_alert_delivery_attempts_total") == FAST.attempts
    assert sample(m, "alertmanager", "failed") == 1


def test_a_hanging_receiver_never_blocks_the_caller_and_overflow_is_dropped(demo_events):
    m = Metrics()
    hold = threading.Event()
    data = event(demo_events, "alert")
    with recording_server(hold=hold) as srv:
        n = notifier([AlertmanagerReceiver(srv.url, timeout=30)], m, capacity=1)
        n("alert", data)  # taken by the worker, which now waits on the hanging server
        assert srv.arrived.wait(10)
        n("alert", data)  # fills the queue
        n("alert", data)  # the queue is full: dropped, and the call still returns at once
        assert not hold.is_set()  # every call above returned while the server was still holding its answer
        assert sample(m, "alertmanager", "dropped") == 1
        hold.set()
        assert n.close(10)
    assert sample(m, "alertmanager", "sent") == 2


def test_webhook_gets_a_json_document_with_status(demo_events):
    m = Metrics()
    fired = event(demo_events, "alert", "UtilizationDrift")
    with recording_server() as srv:
        n = notifier([WebhookReceiver(srv.url + "/hook")], m)
        n("alert", fired)
        resolved = n.alert_for("rule_resolved", {"decision": fired["decision"]})
        assert resolved and resolved[0].ends_at == NOW
        n.worker.submit(n.receivers[0], resolved)
        assert n.close(5)
    first, second = (r.json for r in srv.requests)
    assert srv.requests[0].path == "/hook"
    assert first["status"] == "firing" and first["alerts"][0]["labels"]["rule"] == "UtilizationDrift"
    assert second["status"] == "resolved" and second["alerts"][0]["endsAt"] == "2026-11-18T11:06:40.000Z"
    assert sample(m, "webhook", "sent") == 2


def test_only_alert_and_failure_events_page(demo_events):
    n = notifier([], Metrics())
    skipped = event(demo_events, "action_skipped")
    assert n.alert_for("action_skipped", skipped) is None
    assert n.alert_for("rule_fired", event(demo_events, "rule_fired")) is None
    failed = n.alert_for("action_failed", {**skipped, "error": "The pause transaction reverted with X."})
    assert failed.labels["alertname"] == "WatchdogActionFailed" and failed.labels["action"] == "pause"
    assert failed.annotations["description"] == "The pause transaction reverted with X."
    n.close(1)


def test_bad_settings_are_refused_with_the_option_named():
    with pytest.raises(ConfigError, match="--alertmanager-url"):
        AlertmanagerReceiver("localhost:9093")
    with pytest.raises(ConfigError, match=r"\{incident\}"):
        AlertNotifier([], DeliveryWorker(), evidence_url="https://x.example/incidents")
    with pytest.raises(ValueError, match="attempts must be at least 1, got 0"):
        Backoff(attempts=0)
    assert build_notifier(Metrics()) is None
    assert Backoff(base=1, factor=2, cap=5).delay(10) == 5


@pytest.mark.e2e
def test_watchdog_run_sends_its_alerts_before_exiting(tmp_path, demo_policy_path, drifted_log):
    from watchdog.cli import main
    from watchdog.store.store import Store

    with start_alertmanager(tmp_path) as am, recording_server() as hook:
        rc = main(["run", "--policy", str(demo_policy_path), "--source", str(drifted_log),
                   "--store", str(tmp_path / "wd.db"), "--quarantine", str(tmp_path / "q.jsonl"),
                   "--metrics-addr", "off", "--no-progress", "--alertmanager-url", am.url,
                   "--webhook-url", hook.url + "/watchdog", "--evidence-url", "https://w.example/i/{incident}"])
        assert rc == 0
        # read at once, no polling: the run returned only after Alertmanager had accepted every alert
        listed = get_json(am.url + "/api/v2/alerts?filter=source%3D%22watchdog%22")
        received = sum(float(line.rsplit(" ", 1)[1]) for line in
                       urllib.request.urlopen(am.url + "/metrics", timeout=5).read().decode().splitlines()
                       if line.startswith("alertmanager_alerts_received_total{"))
    rules_alerted = {a["labels"]["rule"] for a in listed}
    assert rules_alerted == {"VolatilityRegimeShift", "UtilizationDrift", "CollateralMixShift", "RiskScoreError"}
    with Store(tmp_path / "wd.db") as store:
        incidents = {i.rule: i for i in store.incidents()}
    vol = next(a for a in listed if a["labels"]["rule"] == "VolatilityRegimeShift")
    assert vol["labels"] == volatility_alert_labels(incidents["VolatilityRegimeShift"].id)
    assert vol["annotations"]["evidence_url"] == f"https://w.example/i/{incidents['VolatilityRegimeShift'].id}"
    assert received == len(hook.requests) >= len(rules_alerted) and hook.requests[0].path == "/watchdog"
