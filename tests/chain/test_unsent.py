"""Every RPC endpoint fails from the moment a rule fires: the outbox keeps trying within the settle time, and
an action still unsent at the end is reported (an ``action_failed`` event with ``unsent``, through the
responder's listeners) and listed by ``Responder.unsent()``. Real anvil behind a proxy that fails on purpose."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from eth_utils import keccak

from watchdog.actions.chain import MonitorClient, Signer, connect
from watchdog.actions.outbox import Outbox
from watchdog.actions.responder import Responder, unsent_sentence
from watchdog.observe.alerting import AlertNotifier
from watchdog.observe.metrics import Metrics
from watchdog.store.store import Incident, Store

from .conftest import MODULE, deploy
from .rpc_proxy import FaultyRpc


def _decision(**kw) -> SimpleNamespace:
    """What the responder and the alert notifier read of a ``rules.Decision``."""
    base = dict(model="lending-risk", rule="R", module="lending-risk", tier="critical", dry_run=False,
                policy_hash="0x", annotations={"summary": "drift"}, veto_seconds=0, detector="psi",
                statistic="psi", value=0.4, op=">", threshold=0.2, record_index=7,
                at=datetime(2026, 1, 1, tzinfo=UTC))
    return SimpleNamespace(**{**base, **kw})


def _incident(store: Store, n: int) -> Incident:
    inc = Incident(id="0x" + keccak(text=f"unsent-{n}").hex(), model="lending-risk", rule="R", tier="critical",
                   opened_at=0.0, record_index=n, policy_hash="0x" + "00" * 32, dry_run=False, evidence="{}",
                   evidence_hash="0x" + keccak(text=f"unsent-evidence-{n}").hex(), state="open")
    store.add_incident(inc)
    return inc


def _client(node, rpc: FaultyRpc, address: str) -> MonitorClient:
    return MonitorClient(connect(rpc.url, timeout=2), address, Signer.from_key(node.accounts[3].private_key))


def test_every_rpc_down_from_the_fire_is_retried_then_reported_unsent(node, tmp_path, caplog):
    address = deploy(node)
    caplog.set_level(logging.DEBUG)
    with FaultyRpc(node.url) as rpc, Store(tmp_path / "w.db") as store:
        client = _client(node, rpc, address)
        events: list[tuple[str, dict]] = []
        metrics = Metrics()
        responder = Responder(store, client, on_event=lambda e, d: events.append((e, d)), metrics=metrics,
                              outbox=Outbox(store, client, confirmations=1), receipt_wait=0.1)
        rpc.fail = True  # the rule fires now
        inc = _incident(store, 1)
        responder.act(inc, _decision(), "pause")
        assert responder.outbox.item_for(inc.id, "pause").status == "intent"
        assert not [e for e, _ in events if e == "action_failed"]  # one failed step is not yet an alert

        before = len(rpc.calls)
        responder.settle(1.0)
        retried = len(rpc.calls) - before
        assert retried >= 3, retried  # several rounds within the settle time, not one

        item = responder.outbox.item_for(inc.id, "pause")
        assert item.status == "intent" and "Every RPC endpoint failed" in item.error
        assert responder.outbox.attempts(item.action_id) == []  # nothing was signed

        failed = [d for e, d in events if e == "action_failed"]
        assert len(failed) == 1
        [data] = failed
        assert data["unsent"] is True and data["action"] == "pause" and data["incident"] is inc
        assert "is not on-chain" in data["error"] and "Every RPC endpoint failed" in data["error"]
        # what a receiver gets from it: a critical WatchdogActionFailed alert with the sentence
        alert = AlertNotifier([], None).alert_for("action_failed", data)
        assert alert.labels["alertname"] == "WatchdogActionFailed" and alert.labels["severity"] == "critical"
        assert "is not on-chain" in alert.annotations["description"]
        assert metrics.registry.get_sample_value(
            "watchdog_actions_total", {"model": "lending-risk", "rule": "R", "action": "pause",
                                       "outcome": "unsent"}) == 1

        [left] = responder.unsent()
        assert (left.kind, left.incident_id, left.status) == ("pause", inc.id, "intent")
        assert "1 on-chain action the policy asked for is not sent: pause of lending-risk" in unsent_sentence([left])
        assert [r["event"] for r in store.audit_log()].count("action_unsent") == 1

        responder.settle(0.2)  # reported once per process, not at every settle
        assert len([e for e, _ in events if e == "action_failed"]) == 1

        # once the endpoint answers again, the next settle sends it and nothing is left
        rpc.fail = False
        responder.settle(10.0)
        assert responder.outbox.item_for(inc.id, "pause").status == "confirmed"
        assert responder.unsent() == [] and client.is_paused(MODULE)
        assert "action_mined" in [e for e, _ in events]
    assert node.accounts[3].private_key[2:] not in caplog.text


def test_an_endpoint_back_within_the_settle_time_gets_the_pause_out(node, tmp_path):
    address = deploy(node)
    with FaultyRpc(node.url) as rpc, Store(tmp_path / "w.db") as store:
        client = _client(node, rpc, address)
        events: list[str] = []
        responder = Responder(store, client, on_event=lambda e, d: events.append(e),
                              outbox=Outbox(store, client, confirmations=1), receipt_wait=0.1)
        rpc.fail = True
        inc = _incident(store, 2)
        responder.act(inc, _decision(), "pause")
        heal = threading.Timer(0.5, lambda: setattr(rpc, "fail", False))
        heal.start()
        t0 = time.monotonic()
        responder.settle(20.0)
        heal.join()
        assert time.monotonic() - t0 < 10  # it did not wait for the whole timeout
        item = responder.outbox.item_for(inc.id, "pause")
        assert item.status == "confirmed" and len(responder.outbox.attempts(item.action_id)) == 1
        assert responder.unsent() == [] and "action_failed" not in events
        assert client.is_paused(MODULE)


def test_a_step_failing_long_after_the_action_was_due_reports_it_once(node, tmp_path):
    """The path of ``watchdog serve``: its outbox job steps the action every few seconds, no settle."""
    address = deploy(node)
    now = [1000.0]
    with FaultyRpc(node.url) as rpc, Store(tmp_path / "w.db") as store:
        client = _client(node, rpc, address)
        events: list[tuple[str, dict]] = []
        outbox = Outbox(store, client, confirmations=1, clock=lambda: now[0])  # unsent_alert_seconds=60
        responder = Responder(store, client, clock=lambda: now[0], on_event=lambda e, d: events.append((e, d)),
                              outbox=outbox, receipt_wait=0.1)
        rpc.fail = True
        inc = _incident(store, 3)
        responder.act(inc, _decision(), "pause")
        now[0] = 1040.0
        outbox.process()
        assert not [e for e, _ in events if e == "action_failed"]
        now[0] = 1061.0
        outbox.process()
        now[0] = 1130.0
        outbox.process()
        failed = [d for e, d in events if e == "action_failed"]
        assert len(failed) == 1 and failed[0]["unsent"] and "61 s after it was due" in failed[0]["error"]


def test_a_held_action_inside_its_veto_window_is_not_unsent(node, tmp_path):
    address = deploy(node)
    now = [5000.0]
    with FaultyRpc(node.url) as rpc, Store(tmp_path / "w.db") as store:
        client = _client(node, rpc, address)
        outbox = Outbox(store, client, confirmations=1, clock=lambda: now[0])
        responder = Responder(store, client, clock=lambda: now[0], outbox=outbox, receipt_wait=0.1)
        inc = _incident(store, 4)
        responder.act(inc, _decision(veto_seconds=600), "pause")
        assert outbox.item_for(inc.id, "pause").status == "held"
        rpc.fail = True
        responder.settle(0.3)
        assert responder.unsent() == []  # it waits on purpose
        now[0] = 5601.0
        assert [a.status for a in responder.unsent()] == ["held"]  # due now, and no node has it


def test_watchdog_run_with_every_rpc_down_from_the_first_fire_reports_the_unsent_pause(
        node, demo_policy, drift_log, tmp_path, monkeypatch):
    """The whole run (``watchdog.service.oneshot.run``, what ``watchdog run`` calls): the pause stays an intent,
    and the run's listeners hear ``action_failed`` for it before the run returns."""
    from watchdog.service.oneshot import RunOptions, run

    address = deploy(node)
    monkeypatch.delenv("WATCHDOG_FAULT", raising=False)
    with FaultyRpc(node.url) as rpc:
        client = _client(node, rpc, address)
        events: list[tuple[str, dict]] = []

        def on_event(event: str, data: dict) -> None:
            if event == "rule_fired":
                rpc.fail = True  # from the moment a rule fires
            events.append((event, data))

        result = run(RunOptions(policy=demo_policy, source=drift_log, store=tmp_path / "w.db",
                                quarantine=tmp_path / "q.jsonl", progress=False, confirmations=1,
                                settle_seconds=1.0), on_event=on_event, monitor=client)
    [pause] = [a for a in result.actions if a.kind == "pause"]
    assert pause.status == "intent" and "Every RPC endpoint failed" in pause.error
    failed = [d for e, d in events if e == "action_failed" and d.get("unsent")]
    assert [(d["action"], d["incident"].id) for d in failed] == [("pause", pause.incident_id)]
    assert not MonitorClient(connect(node.url), address).is_paused(MODULE)
