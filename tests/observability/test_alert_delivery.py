"""The alert path a steward on call can trust, against a real Alertmanager on loopback.

- a firing alert stays active in Alertmanager across several of its lifetimes (it is re-posted well inside
  its ``endsAt``) and resolves when the rule clears;
- an alert Alertmanager does not take is kept (bounded, in a journal in the state directory) and retried until
  it is taken, across a SIGKILL of the process; outcomes are counted as they happened, from 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from watchdog.observe.alerting import (
    ALERT_OUTCOMES,
    JOURNAL,
    Alert,
    AlertmanagerReceiver,
    AlertNotifier,
    AlertQueue,
    AlertStateError,
    Backoff,
    DeliveryWorker,
    WebhookReceiver,
    alert_outcomes,
    build_notifier,
)
from watchdog.observe.metrics import Metrics

from .conftest import REPO, Server, event, free_port, get_json, poll, start_alertmanager
from .recorder import recording_server

FAST = Backoff(attempts=3, base=0.01, factor=2.0, cap=0.05)


def am_alerts(am: Server, rule: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds as active for ``rule`` (resolved ones are not listed)."""
    q = urllib.parse.urlencode({"filter": f'rule="{rule}"', "active": "true"})
    return [a for a in get_json(f"{am.url}/api/v2/alerts?{q}") if a["status"]["state"] == "active"]


def test_a_firing_alert_outlives_its_lifetime_and_resolves_when_the_rule_clears(tmp_path, demo_events):
    lifetime, every = 2.0, 0.5
    fired = event(demo_events, "alert", "UtilizationDrift")
    m = Metrics()
    with start_alertmanager(tmp_path) as am:
        n = AlertNotifier([AlertmanagerReceiver(am.url)], DeliveryWorker(*alert_outcomes(m), backoff=FAST),
                          lifetime=lifetime, repost_every=every)
        try:
            n("alert", fired)
            (first,) = poll(lambda: am_alerts(am, "UtilizationDrift"), 10, "the alert in Alertmanager")
            ends = [first["endsAt"]]
            deadline = time.monotonic() + 3 * lifetime
            while time.monotonic() < deadline:  # three lifetimes: without re-posting it would have ended twice
                (now_held,) = am_alerts(am, "UtilizationDrift")
                assert now_held["labels"]["incident"] == fired["incident"].id
                ends.append(now_held["endsAt"])
                time.sleep(0.25)
            assert len(set(ends)) >= 3  # endsAt moved forward with each re-post
            assert ends == sorted(ends)
            n("rule_resolved", {"decision": fired["decision"]})
            poll(lambda: not am_alerts(am, "UtilizationDrift"), 10, "the alert to resolve")
            assert n.firing_alerts() == []
            posts = m.registry.get_sample_value("watchdog_alert_notifications_total",
                                                {"receiver": "alertmanager", "outcome": "sent"})
            assert posts is not None and posts >= 1 + 3 * lifetime / every - 2
            time.sleep(2 * every)  # resolved: nothing is re-posted any more
            assert not am_alerts(am, "UtilizationDrift")
        finally:
            assert n.close(5)


def test_lifetime_and_repost_interval_are_checked() -> None:
    with pytest.raises(ValueError, match="lifetime must be a positive"):
        AlertNotifier([], None, lifetime=0)
    with pytest.raises(ValueError, match="repost_every must be positive and shorter than the lifetime"):
        AlertNotifier([], None, lifetime=10, repost_every=10)


QUICK = Backoff(base=0.02, factor=2.0, cap=0.1)


def sample(m: Metrics, outcome: str, receiver: str = "alertmanager",
           name: str = "watchdog_alert_notifications_total") -> float | None:
    return m.registry.get_sample_value(name, {"receiver": receiver, "outcome": outcome})


def an_alert(rule: str = "R", incident: str = "0xabc", lifetime: float | None = 60.0) -> Alert:
    labels = {"alertname": rule, "model": "m", "module": "mod", "rule": rule, "incident": incident,
              "source": "watchdog"}
    return Alert(labels, {"summary": "s"}, time.time(), None, "", lifetime)


def journal_lines(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / JOURNAL).read_text().splitlines()]


def undelivered(state: Path) -> list[dict[str, Any]]:
    """The journal's entries added and not done."""
    held: dict[int, dict[str, Any]] = {}
    for r in journal_lines(state):
        if "done" in r:
            held.pop(r["done"])
        else:
            held[r["add"]] = r
    return list(held.values())


CHILD = """
import sys, time
from pathlib import Path
from watchdog.observe.alerting import Alert, Backoff, build_notifier
n = build_notifier(None, alertmanager_url=sys.argv[1], state_dir=Path(sys.argv[2]),
                   backoff=Backoff(base=0.05, cap=0.2), lifetime=60, repost_every=20)
labels = {"alertname": "R", "model": "m", "module": "mod", "rule": "R", "incident": "0xabc", "source": "watchdog"}
n.fire(Alert(labels, {"summary": "kept across a crash"}, time.time(), None, "", 60.0))
print("fired", flush=True)
time.sleep(120)
"""


def am_received(am: Server) -> float:
    text = urllib.request.urlopen(am.url + "/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("alertmanager_alerts_received_total{"))


def test_an_alert_alertmanager_missed_is_kept_across_a_crash_and_delivered_once(tmp_path: Path) -> None:
    state = tmp_path / "wd.db.alerts"
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: Alertmanager is down
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, down, str(state)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"fired"
        (kept,) = journal_lines(state)
        assert kept["receiver"] == "alertmanager" and kept["alerts"][0]["labels"]["incident"] == "0xabc"
    finally:
        child.send_signal(signal.SIGKILL)  # a crash: no close(), nothing flushed on the way out
        child.wait(10)
    with start_alertmanager(tmp_path) as am:
        m = Metrics()
        n = build_notifier(m, alertmanager_url=am.url, state_dir=state, backoff=QUICK, lifetime=60,
                           repost_every=20)
        assert n is not None
        try:
            assert n.worker.drain(10)
            (held,) = poll(lambda: am_alerts(am, "R"), 10, "the kept alert in Alertmanager")
            assert held["annotations"]["summary"] == "kept across a crash"
            assert am_received(am) == 1
            assert sample(m, "sent") == 1 and sample(m, "failed_retrying") == 0
            assert undelivered(state) == []
            # the restarted process knows the alert still fires: it re-posts it and resolves it
            assert [a.labels["incident"] for a in n.firing_alerts()] == ["0xabc"]
            n.resolve("m", "R")
            poll(lambda: not am_alerts(am, "R"), 10, "the alert to resolve")
        finally:
            assert n.close(5)
        again = AlertQueue([AlertmanagerReceiver(am.url)], state)  # a third start has nothing left to send
        assert again.pending() == 0 and again.close(1)
        assert am_received(am) == 2  # the alert once, its resolve once


def test_outcomes_are_counted_as_they_happen_from_zero(tmp_path: Path) -> None:
    m = Metrics()
    n = build_notifier(m, alertmanager_url=f"http://127.0.0.1:{free_port()}", webhook_url="http://127.0.0.1:9",
                       state_dir=tmp_path, backoff=QUICK)
    assert n is not None
    for receiver in ("alertmanager", "webhook"):
        for outcome in ALERT_OUTCOMES:
            assert sample(m, outcome, receiver) == 0
        for outcome in ("sent", "failed"):
            assert sample(m, outcome, receiver, "watchdog_alert_delivery_attempts_total") == 0
        assert m.registry.get_sample_value("watchdog_alerts_undelivered", {"receiver": receiver}) == 0
    n.fire(an_alert())
    poll(lambda: (sample(m, "failed", "alertmanager", "watchdog_alert_delivery_attempts_total") or 0) >= 3, 10,
         "three failed attempts")
    assert sample(m, "failed_retrying") == 1  # once per alert, however often it is tried
    assert sample(m, "sent") == 0 and sample(m, "failed") == 0  # not sent, and not given up either
    assert n.worker.pending("alertmanager") == 1
    assert m.registry.get_sample_value("watchdog_alerts_undelivered", {"receiver": "alertmanager"}) == 1
    assert not n.close(0.2)  # still undelivered: kept in the journal for the next start
    assert len(undelivered(tmp_path)) == 2  # one for each receiver


def test_the_bound_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    m = Metrics()
    q = AlertQueue([AlertmanagerReceiver(f"http://127.0.0.1:{free_port()}")], tmp_path, capacity=2,
                   on_outcome=alert_outcomes(m)[0], backoff=Backoff(base=5, cap=5))
    r = q.lanes["alertmanager"].receiver
    for i in range(4):
        q.submit(r, [an_alert(incident=f"0x{i}")])
    assert q.pending() == 2 and sample(m, "dropped") == 2
    q.close(0.1)
    kept = AlertQueue([AlertmanagerReceiver("http://127.0.0.1:9")], tmp_path)
    held = [e.alerts[0].labels["incident"] for e in kept.lanes["alertmanager"].entries]
    kept.close(0.1)
    assert len(held) == 2 and "0x3" in held  # the newest is kept; the dropped ones do not come back


def test_a_refused_alert_is_counted_failed_and_not_kept(tmp_path: Path) -> None:
    m = Metrics()
    with recording_server(default=(400, {"error": "bad label"})) as srv:
        q = AlertQueue([AlertmanagerReceiver(srv.url)], tmp_path, on_outcome=alert_outcomes(m)[0], backoff=QUICK)
        q.submit(q.lanes["alertmanager"].receiver, [an_alert()])
        assert q.close(5)
    assert len(srv.requests) == 1 and sample(m, "failed") == 1 and sample(m, "sent") is None
    assert AlertQueue([AlertmanagerReceiver(srv.url)], tmp_path).pending() == 0


def test_a_resolve_waits_behind_its_firing_alert_and_re_posts_coalesce(tmp_path: Path) -> None:
    m = Metrics()
    with recording_server(script=[(503, {})] * 3) as srv:
        q = AlertQueue([AlertmanagerReceiver(srv.url)], tmp_path, on_outcome=alert_outcomes(m)[0],
                       backoff=Backoff(base=0.3, cap=0.3))
        r = q.lanes["alertmanager"].receiver
        fired = an_alert()
        q.submit(r, [fired])
        for _ in range(5):  # re-posts while the receiver fails: one is held, the newest
            q.submit(r, [fired], repost=True)
        q.submit(r, [fired.resolve(time.time())])
        assert len(q.lanes["alertmanager"].entries) == 3
        assert q.close(10)
    bodies = [req.json for req in srv.requests[3:]]
    assert [("endsAt" in b[0], b[0]["labels"]["incident"]) for b in bodies] == [(True, "0xabc")] * 3
    assert bodies[0][0]["endsAt"] > bodies[0][0]["startsAt"] and bodies[-1][0]["endsAt"] <= bodies[1][0]["endsAt"]
    assert sample(m, "sent") == 2 and sample(m, "reposted") == 1 and sample(m, "failed_retrying") == 1


def test_a_webhook_is_not_re_posted(tmp_path: Path) -> None:
    with recording_server() as srv:
        n = AlertNotifier([WebhookReceiver(srv.url)], AlertQueue([], tmp_path), lifetime=1.0, repost_every=0.1)
        n.fire(an_alert())
        time.sleep(0.5)
        assert n.close(5)
    assert len(srv.requests) == 1


def test_a_broken_firing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "firing.json").write_text("{not json")
    with pytest.raises(AlertStateError, match=r"firing\.json cannot be used"):
        AlertNotifier([], None, state_dir=tmp_path)


def decision(**kw: Any) -> Any:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    base = {"model": "lending-risk", "rule": "R", "module": "lending-risk", "tier": "critical", "dry_run": False,
            "policy_hash": "0x", "annotations": {"summary": "Risk drifted"}, "veto_seconds": 0, "detector": "ks",
            "statistic": "p_value", "value": 0.001, "op": "<", "threshold": 0.01, "record_index": 7,
            "at": datetime(2026, 11, 18, 11, 0, tzinfo=UTC)}
    return SimpleNamespace(**{**base, **kw})


def stored_incident(store: Any, n: int) -> Any:
    from eth_utils import keccak

    from watchdog.store.store import Incident

    inc = Incident(id="0x" + keccak(text=f"alert-incident-{n}").hex(), model="lending-risk", rule="R",
                   tier="critical", opened_at=0.0, record_index=n, policy_hash="0x" + "00" * 32, dry_run=False,
                   evidence="{}", evidence_hash="0x" + keccak(text=f"alert-evidence-{n}").hex(), state="open")
    store.add_incident(inc)
    return inc


def test_every_action_outcome_alerts_with_the_action_module_transaction_and_block(node, tmp_path: Path) -> None:
    """On a real anvil chain: a pause held for its veto window, then vetoed; a pause mined; an action that
    fails. Each alert names the action, module, incident and (when there is one) transaction and block."""
    from tests.fixtures import deploy
    from watchdog.actions.chain import MonitorClient, Signer, connect
    from watchdog.actions.outbox import Outbox
    from watchdog.actions.responder import Responder
    from watchdog.observe.notify import _action_status
    from watchdog.store.store import Store

    address = deploy(node)
    client = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[3].private_key))
    now = [5000.0]
    with Store(tmp_path / "w.db") as store, recording_server() as srv:
        responder = Responder(store, client, clock=lambda: now[0],
                              outbox=Outbox(store, client, confirmations=1, clock=lambda: now[0]))
        n = AlertNotifier([AlertmanagerReceiver(srv.url)], AlertQueue([], None), clock=lambda: now[0],
                          evidence_url="https://w.example/evidence/{incident}", action_status=_action_status(store),
                          watch_every=0.05)
        responder.listeners.append(n)
        held_inc, mined_inc, failed_inc = (stored_incident(store, i) for i in (1, 2, 3))
        responder.act(held_inc, decision(veto_seconds=600), "pause")
        responder.outbox.veto(held_inc.id, "alice", "false alarm: oracle maintenance")  # as `watchdog veto` does
        poll(lambda: any(a["labels"]["alertname"] == "WatchdogActionVetoed" for r in srv.requests for a in r.json),
             10, "the vetoed alert")
        responder.act(mined_inc, decision(), "pause")
        responder.act(failed_inc, decision(), "notify_council")
        assert n.close(5)
    posted = [a for r in srv.requests for a in r.json]
    for a in posted:  # every alert: model, module, incident, and the evidence link
        assert a["labels"]["model"] == "lending-risk" and a["labels"]["module"] == "lending-risk"
        assert a["annotations"]["evidence_url"] == f"https://w.example/evidence/{a['labels']['incident']}"
    names = [(a["labels"]["alertname"], a["labels"]["incident"]) for a in posted]
    assert names[:3] == [("WatchdogActionHeld", held_inc.id), ("WatchdogActionHeld", held_inc.id),
                         ("WatchdogActionVetoed", held_inc.id)]  # the held alert resolved, then the veto
    held, resolved_held, vetoed = posted[:3]
    assert held["labels"]["outcome"] == "held" and held["labels"]["action"] == "pause"
    assert "until 1970-01-01T01:33:20Z" in held["annotations"]["summary"]
    assert f"watchdog veto {held_inc.id}" in held["annotations"]["description"]
    assert resolved_held["endsAt"] == "1970-01-01T01:23:20.000Z"  # resolved at the veto's alert, now = 5000
    assert "alice" in vetoed["annotations"]["description"] and vetoed["labels"]["severity"] == "medium"
    (mined,) = [a for a in posted if a["labels"]["alertname"] == "WatchdogActionTaken"]
    (row,) = [a for a in store_actions(tmp_path) if a["incident_id"] == mined_inc.id]
    assert mined["labels"]["incident"] == mined_inc.id and mined["labels"]["outcome"] == "mined"
    assert mined["annotations"]["tx_hash"] == row["tx_hash"] and mined["annotations"]["block_number"] == str(
        row["block_number"])
    assert f"block {row['block_number']}" in mined["annotations"]["summary"]
    (failed,) = [a for a in posted if a["labels"]["alertname"] == "WatchdogActionFailed"]
    assert failed["labels"]["action"] == "notify_council" and failed["labels"]["severity"] == "critical"
    assert "not an on-chain action" in failed["annotations"]["description"]


def store_actions(tmp_path: Path) -> list[dict[str, Any]]:
    from watchdog.store.store import Store

    with Store(tmp_path / "w.db") as store:
        return [asdict(a) for a in store.actions()]


def test_serve_warns_when_the_evidence_link_would_answer_401(tmp_path: Path, caplog) -> None:
    """The link in the alert, followed by a browser (no token): 401 without --public-evidence, the page with it;
    serve warns at start in the first case."""
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry

    from watchdog.observe.notify import warn_if_evidence_needs_a_token
    from watchdog.service.api import create_app
    from watchdog.store.store import Store

    template = "https://w.example/evidence/{incident}"
    with Store(tmp_path / "w.db") as store:
        inc = stored_incident(store, 1)
        for public, status in ((False, 401), (True, 200)):
            app = create_app(store=store, registry=CollectorRegistry(), tokens=["t" * 32], public_evidence=public)
            with TestClient(app) as http:
                link = template.format(incident=inc.id).removeprefix("https://w.example")
                assert http.get(link).status_code == status
    with caplog.at_level("WARNING", logger="watchdog.notify"):
        why = warn_if_evidence_needs_a_token(template, ("127.0.0.1", 8080), public_evidence=False)
    assert why is not None and "401" in why and "--public-evidence" in why
    assert [r.message for r in caplog.records] == ["evidence_link_needs_token"]
    assert warn_if_evidence_needs_a_token(template, ("127.0.0.1", 8080), public_evidence=True) is None
    assert warn_if_evidence_needs_a_token(template, None, public_evidence=False) is None  # --http off: not ours
    assert warn_if_evidence_needs_a_token("https://w.example/ui/incidents/{incident}", ("h", 1), False) is None


def test_a_resolved_alert_says_the_rule_cleared(demo_events) -> None:
    fired = event(demo_events, "alert", "UtilizationDrift")
    resolved = {"decision": fired["decision"]}  # the demo log never clears: the same decision stands in
    with recording_server() as srv:
        n = AlertNotifier([WebhookReceiver(srv.url)], AlertQueue([], None))
        n("alert", fired)
        n("rule_resolved", resolved)
        assert n.close(5)
    first, second = (r.json["alerts"][0] for r in srv.requests)
    assert first["status"] == "firing" and "resolved" not in first["annotations"]
    d = resolved["decision"]
    assert second["status"] == "resolved" and second["labels"] == first["labels"]
    assert second["annotations"]["resolved"] == (
        f"Clear: rule UtilizationDrift of model {d.model} resolved at line {d.record_index} "
        f"(data time {d.at.strftime('%Y-%m-%dT%H:%M:%SZ')}).")


def test_an_empty_firing_file_reads_as_nothing_firing(tmp_path: Path) -> None:
    (tmp_path / "firing.json").write_text("")  # what a power loss right after the rename can leave
    n = AlertNotifier([], None, state_dir=tmp_path)
    assert n.firing_alerts() == []
    n.fire(an_alert())  # written again on the next change
    assert [a.labels["incident"] for a in AlertNotifier([], None, state_dir=tmp_path).firing_alerts()] == ["0xabc"]
