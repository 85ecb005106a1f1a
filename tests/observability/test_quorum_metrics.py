"""The k-of-n watch's metrics (read at scrape time) and the WatchdogVoteDisagreement alert it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from watchdog.actions.quorum import PendingQuorum, disagreement_sentence
from watchdog.observe.alerting import build_notifier
from watchdog.observe.metrics import Metrics

FIRST, OTHER = "0x" + "aa" * 32, "0x" + "bb" * 32
INCIDENT = "0x" + "12" * 32


@dataclass
class Watch:
    """The numbers a QuorumWatch keeps, as the metrics see them (its QuorumView)."""

    pending: list[Any] = field(default_factory=list)
    votes_received: dict[str, int] = field(default_factory=lambda: {"own": 0, "others": 0})
    disagreements: int = 0
    overturned: dict[str, int] = field(default_factory=dict)


def test_quorum_metrics_are_read_at_scrape_time_and_start_at_zero() -> None:
    m = Metrics(CollectorRegistry())
    watch = Watch()
    m.attach_quorum(watch)
    r = m.registry
    assert r.get_sample_value("watchdog_quorum_pending_incidents") == 0
    assert r.get_sample_value("watchdog_quorum_votes_received_total", {"origin": "own"}) == 0
    assert r.get_sample_value("watchdog_quorum_votes_received_total", {"origin": "others"}) == 0
    assert r.get_sample_value("watchdog_quorum_disagreements_total") == 0
    watch.pending.append(PendingQuorum("0x" + "01" * 32, INCIDENT, 2, 600, FIRST, {FIRST: ("0xA",)}, {"0xA": FIRST}))
    watch.votes_received.update(own=1, others=2)
    watch.disagreements = 1
    assert r.get_sample_value("watchdog_quorum_pending_incidents") == 1
    assert r.get_sample_value("watchdog_quorum_votes_received_total", {"origin": "others"}) == 2
    assert r.get_sample_value("watchdog_quorum_disagreements_total") == 1
    assert r.get_sample_value("watchdog_operator_overturned_incidents", {"operator": "0xA"}) is None
    watch.overturned["0xA"] = 2
    assert r.get_sample_value("watchdog_operator_overturned_incidents", {"operator": "0xA"}) == 2
    text = generate_latest(r).decode()
    assert "# TYPE watchdog_quorum_votes_received_total counter" in text


def test_pending_quorum_says_who_counts_and_who_disagrees() -> None:
    p = PendingQuorum("0x" + "01" * 32, INCIDENT, 2, 600, FIRST, {FIRST: ("0xMe",), OTHER: ("0xThem",)},
                      {"0xMe": FIRST, "0xThem": OTHER})
    assert p.votes == 1 and p.disagreeing == ("0xThem",)
    assert p.describe("0xme") == (f"incident {INCIDENT}: 1 of 2 for evidence {FIRST[:10]}...: us; "
                                  f"1 of 2 for evidence {OTHER[:10]}... (disagrees with the first vote): 0xThem")


def _data(**kw: Any) -> dict[str, Any]:
    data = {"key": "0xtx:3", "incident_id": INCIDENT, "module": "0x" + "01" * 32, "operator": "0xThem",
            "evidence_hash": OTHER, "first_evidence_hash": FIRST, "tx_hash": "0xtx", "block_number": 7, "own": False,
            "our_evidence_hash": FIRST, "model": "lending-risk"}
    data.update(kw)
    data["description"] = disagreement_sentence(data)
    return data


def test_a_disagreement_becomes_a_critical_alert_without_a_decision() -> None:
    notifier = build_notifier(None, webhook_url="http://127.0.0.1:9/hook", evidence_url="https://w.example/{incident}")
    assert notifier is not None
    try:
        alert = notifier.alert_for("vote_disagreement", _data())
    finally:
        notifier.close(0.1)
    assert alert.labels == {"alertname": "WatchdogVoteDisagreement", "severity": "critical", "source": "watchdog",
                            "incident": INCIDENT, "module": "0x" + "01" * 32, "model": "lending-risk"}
    a = alert.annotations
    assert (a["evidence_hash"], a["first_evidence_hash"], a["operator"]) == (OTHER, FIRST, "0xThem")
    assert a["evidence_url"] == f"https://w.example/{INCIDENT}"
    assert a["description"].startswith(f"Operator 0xThem voted to pause module 0x{'01' * 32} for incident {INCIDENT}")
    assert "This watchdog's evidence agrees with the first vote." in a["description"]


def test_the_disagreement_sentence_says_which_side_this_watchdog_is_on() -> None:
    assert "agrees with the disagreeing vote" in _data(our_evidence_hash=OTHER)["description"]
    assert "has no evidence of its own" in _data(our_evidence_hash=None)["description"]
    assert "different from both" in _data(our_evidence_hash="0x" + "cc" * 32)["description"]
    assert _data(own=True)["description"].startswith("This watchdog voted")


def test_model_paused_counts_a_vote_whose_incident_paused(tmp_path) -> None:
    import json

    from eth_utils import keccak

    from watchdog.actions.outbox import Outbox
    from watchdog.store.store import Incident, Store

    with Store(tmp_path / "w.db") as store:
        evidence = json.dumps({"k": "of n"})
        inc = Incident(id="0x" + keccak(text="voted").hex(), model="lending-risk", rule="r", tier="critical",
                       opened_at=0.0, record_index=1, policy_hash="", dry_run=False, evidence=evidence,
                       evidence_hash="0x" + keccak(text=evidence).hex(), state="open")
        store.add_incident(inc)
        item = Outbox(store, None).enqueue(incident_id=inc.id, kind="pause", module="lending-risk",
                                           module_id=keccak(text="lending-risk"), evidence_hash=inc.evidence_hash)
        m = Metrics(CollectorRegistry())
        m.attach_store(store)

        def paused(note: str) -> float | None:
            store.execute("UPDATE actions SET status = 'voted' WHERE id = ?", (item.action_id,))
            store.execute("UPDATE outbox SET quorum_note = ? WHERE action_id = ?", (note, item.action_id))
            return m.registry.get_sample_value("watchdog_model_paused", {"model": "lending-risk"})

        assert paused("1 of 2 votes") == 0
        assert paused("expired: our vote left the vote window without a quorum") == 0
        assert paused("paused by 2 of 2 votes in block 9 (tx 0x01); ours counted") == 1
