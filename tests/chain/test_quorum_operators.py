"""k-of-n pauses through the outbox, on a real anvil: three operators, each with its own key, store and copy of
the log, run `watchdog run` (a subprocess) against one ModelMonitor whose module needs k = 2 votes.

- one operator alone cannot pause: its vote is mined and its action ends ``voted`` ("1 of 2 votes");
- two agreeing operators pause exactly once (the third one's run finds the incident used: ``duplicate``);
- an operator whose copy of the log has one record changed computes the same incident id but another
  evidence hash: its vote does not count toward the quorum, and the quorum watch alerts the disagreement;
- an operator killed with SIGKILL between signing and sending its vote re-sends the same signed bytes when
  it runs again: exactly one vote of its own on-chain.
"""

from __future__ import annotations

import json
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_utils import keccak

from tests.observability.recorder import recording_server
from watchdog.actions.chain import MonitorClient, Signer, connect
from watchdog.actions.outbox import Outbox
from watchdog.actions.quorum import QuorumWatch, incident_info, pause_config, vote_events, votes_for
from watchdog.observe.alerting import build_notifier
from watchdog.store.store import Incident, Store

from .conftest import MODULE, deploy, run_watchdog

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RULE = "VolatilityRegimeShift"
#: A prediction inside ks_volatility's window when the rule fires (line 7800 of the drift log): changing its
#: volatility changes the KS statistic, hence the evidence hash, but not the line the rule fires at.
TAMPER_LINE = 7700


@dataclass(frozen=True)
class Operator:
    name: str
    key: str
    address: str
    home: Path

    @property
    def store(self) -> Path:
        return self.home / "w.db"

    @property
    def log(self) -> Path:
        return self.home / "log.jsonl"


def tamper(log: Path, line: int) -> None:
    """Change the volatility of the first prediction at or after ``line`` (1-based) of ``log``, in place."""
    lines = log.read_text().splitlines()
    i = line - 1
    while '"features"' not in lines[i]:
        i += 1
    record = json.loads(lines[i])
    record["features"]["volatility_7d"] = 0.0001
    lines[i] = json.dumps(record, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n")


@pytest.fixture
def quorum_chain(node, drift_log, tmp_path):
    """A fresh monitor whose module needs 2 of 3 operators (anvil accounts 3, 4, 5), set with `watchdog quorum
    set`; each operator has a home with its own copy of the log."""
    address = deploy(node)
    admin = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[0].private_key))
    for acct in node.accounts[4:6]:
        admin.transact("grantRole", admin.role_id("WATCHDOG_ROLE"), acct.address)
    done = run_watchdog("quorum", "set", "--module", "lending-risk", "--quorum", "2", "--vote-window", "3600",
                        "--max-pause", "0", "--rpc-url", node.url, "--monitor", address,
                        env={"WATCHDOG_PRIVATE_KEY": node.accounts[0].private_key})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "quorum 2, vote window 3600 s" in done.stdout
    ops = []
    for n, acct in enumerate(node.accounts[3:6], 1):
        home = tmp_path / f"operator-{n}"
        home.mkdir()
        shutil.copyfile(drift_log, home / "log.jsonl")
        ops.append(Operator(f"operator-{n}", acct.private_key, acct.address, home))
    return address, admin, ops


def run_op(op: Operator, node, address: str, policy: Path, fault: str | None = None):
    env = {"WATCHDOG_PRIVATE_KEY": op.key}
    if fault:
        env["WATCHDOG_FAULT"] = fault
    return run_watchdog(
        "--log-format", "json", "run", "--policy", str(policy), "--source", str(op.log), "--rpc-url", node.url,
        "--monitor", address, "--store", str(op.store), "--quarantine", str(op.home / "q.jsonl"),
        "--metrics-addr", "off", "--no-progress", "--confirmations", "1", env=env)


def client_of(node, address: str, op: Operator) -> MonitorClient:
    return MonitorClient(connect(node.url), address, Signer.from_key(op.key))


def pause_item(op: Operator):
    with Store(op.store) as store:
        inc = next(i for i in store.incidents() if i.rule == RULE)
        outbox = Outbox(store, None)
        item = outbox.item_for(inc.id, "pause")
        return inc, item, (outbox.attempts(item.action_id) if item else [])


def test_one_alone_cannot_pause_two_agreeing_pause_exactly_once(node, demo_policy, quorum_chain):
    address, admin, (a, b, c) = quorum_chain
    first = run_op(a, node, address, demo_policy)
    assert first.returncode == 0, first.stderr[-2000:]
    inc, item, attempts = pause_item(a)
    incident = bytes.fromhex(inc.id[2:])
    assert (item.status, item.method, item.quorum_note) == ("voted", "votePause", "1 of 2 votes")
    assert "pause: voted tx" in first.stdout
    assert not admin.is_paused(MODULE) and admin.module_paused_events() == []
    assert votes_for(admin, incident, bytes.fromhex(inc.evidence_hash[2:])) == (1, (a.address,))

    # `watchdog status` and `watchdog quorum status` show the pending quorum and our vote
    shown = run_watchdog("status", "--policy", str(demo_policy), "--rpc-url", node.url, "--monitor", address,
                         "--store", str(a.store))
    assert shown.returncode == 0, shown.stderr
    assert "pending quorums: 1" in shown.stdout and f"1 of 2 for evidence {inc.evidence_hash[:10]}" in shown.stdout
    assert f"pause voted incident {inc.id} [1 of 2 votes]" in shown.stdout
    q = run_watchdog("quorum", "status", "--module", "lending-risk", "--rpc-url", node.url, "--monitor", address,
                     "--store", str(a.store))
    assert q.returncode == 0, q.stderr
    assert "quorum 2, vote window 3600 s, pauses do not expire, operators stay armed" in q.stdout
    assert f"our vote for incident {inc.id}: 1 of 2 votes" in q.stdout
    listed = run_watchdog("outbox", "--store", str(a.store))
    assert f"voted      pause lending-risk incident {inc.id}" in listed.stdout and "[1 of 2 votes]" in listed.stdout

    second = run_op(b, node, address, demo_policy)
    assert second.returncode == 0, second.stderr[-2000:]
    inc_b, item_b, _ = pause_item(b)
    assert (inc_b.id, inc_b.evidence_hash) == (inc.id, inc.evidence_hash)  # same log, same incident and evidence
    assert (item_b.status, item_b.quorum_note) == ("confirmed", "paused: 2 of 2 votes")
    events = admin.module_paused_events()
    assert len(events) == 1 and events[0]["tx_hash"] == item_b.tx_hash and events[0]["by"] == b.address
    assert admin.is_paused(MODULE)
    info = incident_info(admin, incident)
    assert info.used and sorted(info.operators) == sorted([a.address, b.address])
    # The first vote's gas limit would have paid for the vote that pauses (it cannot know it will not be last).
    assert int(admin.w3.eth.get_transaction(attempts[0]["tx_hash"])["gas"]) >= int(
        admin.receipt(item_b.tx_hash)["gasUsed"])

    third = run_op(c, node, address, demo_policy)
    assert third.returncode == 0, third.stderr[-2000:]
    _inc, item_c, attempts_c = pause_item(c)
    assert item_c.status == "duplicate" and attempts_c == []  # refused by the simulation: nothing signed
    assert len(admin.module_paused_events()) == 1

    # The first operator's quorum watch sees the pause its vote helped make.
    with Store(a.store) as store:
        watch = QuorumWatch(client_of(node, address, a), store, from_block=0)
        assert watch.poll(0.0).startswith("ok: 0 pending quorum(s), 2 new vote(s)")
        assert watch.votes_received == {"own": 1, "others": 1} and watch.disagreements == 0
        note = Outbox(store, None).item(item.action_id).quorum_note
    assert note.startswith(f"paused by 2 of 2 votes in block {events[0]['block_number']}") and "ours counted" in note


def test_a_tampered_log_gives_another_evidence_hash_that_does_not_count_and_is_alerted(
        node, demo_policy, quorum_chain):
    address, admin, (a, b, c) = quorum_chain
    tamper(c.log, TAMPER_LINE)
    assert run_op(a, node, address, demo_policy).returncode == 0
    assert run_op(c, node, address, demo_policy).returncode == 0
    inc_a, _item_a, _ = pause_item(a)
    inc_c, item_c, _ = pause_item(c)
    assert inc_c.id == inc_a.id and inc_c.record_index == inc_a.record_index  # the rule fired at the same line
    assert inc_c.evidence_hash != inc_a.evidence_hash  # one record changed: other evidence
    assert (item_c.status, item_c.quorum_note) == ("voted", "1 of 2 votes")  # its own vote only
    assert not admin.is_paused(MODULE)
    incident = bytes.fromhex(inc_a.id[2:])
    assert votes_for(admin, incident, bytes.fromhex(inc_a.evidence_hash[2:])) == (1, (a.address,))
    assert votes_for(admin, incident, bytes.fromhex(inc_c.evidence_hash[2:])) == (1, (c.address,))

    # The quorum watch of the first operator, with its alerts going to a real HTTP receiver, pages once.
    with recording_server() as rec, Store(a.store) as store:
        notifier = build_notifier(None, webhook_url=rec.url, lifetime=None)
        watch = QuorumWatch(client_of(node, address, a), store, listeners=[notifier], from_block=0)
        outcome = watch.poll(100.0)
        assert outcome.startswith("ok: 1 pending quorum(s), 2 new vote(s), 1 disagreement(s)"), outcome
        (pending,) = watch.pending
        assert pending.disagreeing == (c.address,) and pending.votes == 1 and pending.quorum == 2
        assert QuorumWatch(client_of(node, address, a), store, listeners=[notifier], from_block=0).poll(101.0)
        notifier.close(10.0)
        bodies = [r.body.decode() for r in rec.requests]
        audited = [e for e in store.audit_log() if e["event"] == "vote_disagreement"]
    assert len(bodies) == 1, bodies  # a second watch on the same store does not page again
    assert "WatchdogVoteDisagreement" in bodies[0] and inc_c.evidence_hash in bodies[0]
    assert "agrees with the first vote" in bodies[0]
    assert len(audited) == 1 and json.loads(audited[0]["detail"])["operator"] == c.address

    # The second honest operator agrees with the first: that makes the quorum, on the first hash.
    assert run_op(b, node, address, demo_policy).returncode == 0
    _inc_b, item_b, _ = pause_item(b)
    assert item_b.status == "confirmed"
    info = incident_info(admin, incident)
    assert sorted(info.operators) == sorted([a.address, b.address])  # the tampered vote did not count
    (event,) = admin.module_paused_events()
    assert "0x" + bytes(event["evidenceHash"]).hex() == inc_a.evidence_hash


def test_killed_between_signing_and_sending_its_vote_votes_exactly_once(node, demo_policy, quorum_chain):
    address, admin, (a, b, _c) = quorum_chain
    assert run_op(a, node, address, demo_policy).returncode == 0
    killed = run_op(b, node, address, demo_policy, fault="after_sign")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    _inc, item, attempts = pause_item(b)
    assert (item.status, item.method, len(attempts)) == ("signed", "votePause", 1)
    mine = [v for v in vote_events(admin) if v.operator == b.address]
    assert mine == [] and not admin.is_paused(MODULE)

    again = run_op(b, node, address, demo_policy)
    assert again.returncode == 0, again.stderr[-2000:]
    _inc, item, attempts_after = pause_item(b)
    assert item.status == "confirmed" and len(attempts_after) == 1
    assert attempts_after[0]["raw_tx"] == attempts[0]["raw_tx"]  # the same signed bytes, never signed again
    mine = [v for v in vote_events(admin) if v.operator == b.address]
    assert len(mine) == 1 and mine[0].tx_hash == attempts[0]["tx_hash"]
    assert len(admin.module_paused_events()) == 1 and admin.is_paused(MODULE)


def test_a_pause_signed_before_the_quorum_rose_is_signed_again_as_a_vote(node, tmp_path):
    """The pause was signed under k = 1, the admin set k = 2 before it was mined: it reverts with
    QuorumRequired, and the outbox signs the same intent again as a vote (never two actions)."""
    address = deploy(node)
    admin = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[0].private_key))
    me = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[3].private_key))
    with Store(tmp_path / "w.db") as store:
        inc = add_incident(store)
        outbox = Outbox(store, me, confirmations=1)
        item = outbox.enqueue(incident_id=inc.id, kind="pause", module="lending-risk", module_id=MODULE,
                              evidence_hash=inc.evidence_hash)
        item = outbox._sign(item)  # signed under quorum 1: a pause
        assert (item.status, item.method) == ("signed", "pause")
        admin.transact("setPauseConfig", MODULE, 2, 600, 0, False)
        item = outbox.step(item.action_id, wait=5.0)
        assert (item.status, item.method) == ("intent", None) and "votePause" in item.error
        item = outbox.step(item.action_id, wait=5.0)
        assert (item.status, item.method, item.quorum_note) == ("voted", "votePause", "1 of 2 votes")
        assert len(outbox.attempts(item.action_id)) == 2
    assert pause_config(admin, MODULE).quorum == 2 and not admin.is_paused(MODULE)


def test_a_vote_the_chain_has_already_is_voted_with_the_chains_count(node, tmp_path):
    """The same operator's vote is on-chain already (a lost store, a second host with the same key): the
    outbox's vote is a no-op on-chain, and the action still ends voted with the count the chain holds."""
    address = deploy(node)
    admin = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[0].private_key))
    me = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[3].private_key))
    admin.transact("setPauseConfig", MODULE, 2, 600, 0, False)
    with Store(tmp_path / "w.db") as store:
        inc = add_incident(store, "vote-known")
        me.transact("votePause", MODULE, bytes.fromhex(inc.id[2:]), bytes.fromhex(inc.evidence_hash[2:]))
        outbox = Outbox(store, me, confirmations=1)
        item = outbox.enqueue(incident_id=inc.id, kind="pause", module="lending-risk", module_id=MODULE,
                              evidence_hash=inc.evidence_hash)
        item = outbox.step(item.action_id, wait=5.0)
        assert (item.status, item.quorum_note) == ("voted", "1 of 2 votes")
    assert len(vote_events(admin)) == 1 and not admin.is_paused(MODULE)


def add_incident(store: Store, name: str = "quorum-rose") -> Incident:
    evidence = json.dumps({"test": name})
    inc = Incident(id="0x" + keccak(text=name).hex(), model="lending-risk", rule="manual-pause",
                   tier="manual", opened_at=0.0, record_index=0, policy_hash="", dry_run=False, evidence=evidence,
                   evidence_hash="0x" + keccak(text=evidence).hex(), state="open")
    store.add_incident(inc)
    return inc
