"""ModelMonitor's k-of-n pause, bounded pauses, one-shot operators and contested incidents, on a real anvil
node. Three watchdog operators with keys of their own sign their transactions and EIP-712 votes locally."""

from __future__ import annotations

import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.anvil import AnvilNode
from tests.contracts.monitor import (
    MAX_ACTIONS,
    NO_VERDICT,
    OVERTURNED,
    PAUSE_VOTE_TYPE,
    UPHELD,
    Deployment,
    Operator,
    add_operators,
)

ZERO = b"\x00" * 32
EVIDENCE = keccak(text="evidence: merkle root of window 1042, psi 0.41 > 0.25")
OTHER_EVIDENCE = keccak(text="evidence: merkle root of window 1042 seen without the late labels")
REASON = keccak(text="council minutes 2026-05-21: the drift was a relabelled feed, not the model")
VOTE_WINDOW = 600
ARBITER_ROLE = keccak(text="ARBITER_ROLE")


def incident(n: int | str) -> bytes:
    return keccak(text=f"quorum-incident-{n}")


def configure(
    m: Deployment,
    quorum: int = 2,
    *,
    window: int = VOTE_WINDOW,
    max_pause: int = 0,
    one_shot: bool = False,
    module: bytes | None = None,
):
    return m.send(m.contract.functions.setPauseConfig(module or m.module, quorum, window, max_pause, one_shot), m.admin)


def vote(m: Deployment, op: Operator, incident_id: bytes, evidence: bytes = EVIDENCE, module: bytes | None = None):
    return m.send_signed(m.contract.functions.votePause(module or m.module, incident_id, evidence), op)


def paused(m: Deployment) -> bool:
    return m.contract.functions.isPaused(m.module).call()


def set_time(anvil: AnvilNode, timestamp: int) -> None:
    """Mine a block at exactly ``timestamp``: the views of the next calls see that time."""
    anvil.rpc("evm_setNextBlockTimestamp", [timestamp])
    anvil.mine()


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


def test_pause_config_defaults_and_validation(quorum) -> None:
    m, _ops = quorum
    c = m.contract.functions
    assert c.pauseConfig(m.module).call() == [1, 0, 0, False]
    assert c.MAX_QUORUM().call() == 16
    err = m.revert_of(c.setPauseConfig(m.module, 2, 600, 0, False), m.council)
    assert (err.name, err.args) == ("AccessControlUnauthorizedAccount", (m.council, m.role("DEFAULT_ADMIN_ROLE")))
    for bad in [(0, 600), (17, 600), (2, 0)]:
        err = m.revert_of(c.setPauseConfig(m.module, bad[0], bad[1], 0, False), m.admin)
        assert (err.name, err.args) == ("InvalidPauseConfig", bad)
    assert m.revert_of(c.setPauseConfig(keccak(text="nope"), 2, 600, 0, False), m.admin).name == ("ModuleNotRegistered")
    receipt = configure(m, 3, window=900, max_pause=3600, one_shot=True)
    (event,) = m.events(receipt, "PauseConfigSet")
    assert dict(event.args) == {
        "module": m.module,
        "quorum": 3,
        "voteWindow": 900,
        "maxPauseDuration": 3600,
        "oneShot": True,
        "by": m.admin,
    }
    assert c.pauseConfig(m.module).call() == [3, 900, 3600, True]
    configure(m, 1, window=0)  # a single watchdog needs no vote window
    assert c.pauseConfig(m.module).call() == [1, 0, 0, False]


def test_quorum_one_vote_pauses_at_once(quorum) -> None:
    m, (op1, _op2, _op3) = quorum
    receipt = vote(m, op1, incident(1))
    (event,) = m.events(receipt, "ModulePaused")
    assert (event.args.incidentId, event.args.evidenceHash, event.args.by) == (incident(1), EVIDENCE, op1.address)
    assert m.events(receipt, "PauseVoted") == []
    assert paused(m)
    assert m.contract.functions.incidentInfo(incident(1)).call() == [True, NO_VERDICT, [op1.address]]


# ---------------------------------------------------------------------------------------------------
# k of n
# ---------------------------------------------------------------------------------------------------


def test_one_operator_alone_cannot_pause(quorum) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    err = m.revert_as(c.pause(m.module, incident(1), EVIDENCE), op1.address)
    assert (err.name, err.args) == ("QuorumRequired", (m.module, 2))
    receipt = vote(m, op1, incident(1))
    (event,) = m.events(receipt, "PauseVoted")
    assert dict(event.args) == {
        "module": m.module,
        "incidentId": incident(1),
        "evidenceHash": EVIDENCE,
        "operator": op1.address,
        "votes": 1,
        "quorum": 2,
    }
    assert m.events(receipt, "ModulePaused") == []
    assert not paused(m) and c.isActive(m.module).call() is True
    assert c.incidentUsed(incident(1)).call() is False
    assert c.pauseVotes(incident(1), EVIDENCE).call() == [1, [op1.address]]
    assert c.voteOf(incident(1), op1.address).call() == [EVIDENCE, m.module]
    # Voting again while the vote counts changes nothing (a resent transaction is harmless).
    again = vote(m, op1, incident(1))
    assert m.events(again, "PauseVoted") == [] and not paused(m)
    assert c.pauseVotes(incident(1), EVIDENCE).call() == [1, [op1.address]]
    # The council is not bound by the quorum.
    m.send(c.pause(m.module, incident("council"), EVIDENCE), m.council)
    assert paused(m)


def test_two_agreeing_operators_pause_exactly_once(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    first = vote(m, op1, incident(1))
    receipt = vote(m, op2, incident(1))
    (voted,) = m.events(receipt, "PauseVoted")
    assert (voted.args.operator, voted.args.votes, voted.args.quorum) == (op2.address, 2, 2)
    (event,) = m.events(receipt, "ModulePaused")
    assert dict(event.args) == {
        "module": m.module,
        "incidentId": incident(1),
        "evidenceHash": EVIDENCE,
        "by": op2.address,
    }
    assert paused(m) and c.isActive(m.module).call() is False
    assert c.incidentUsed(incident(1)).call() is True
    assert c.incidentInfo(incident(1)).call() == [True, NO_VERDICT, [op1.address, op2.address]]
    assert c.rateLimitState(m.module).call()[0] == 1
    for op in (op3, op1, op2):
        err = m.revert_as(c.votePause(m.module, incident(1), EVIDENCE), op.address)
        assert (err.name, err.args) == ("IncidentAlreadyUsed", (incident(1),))
    logs = m.contract.events.ModulePaused().get_logs(
        from_block=first["blockNumber"], argument_filters={"incidentId": incident(1)}
    )
    assert len(logs) == 1


def test_a_different_evidence_hash_does_not_count_and_is_flagged(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    assert m.events(vote(m, op1, incident(1)), "EvidenceDisagreement") == []
    receipt = vote(m, op2, incident(1), OTHER_EVIDENCE)
    (event,) = m.events(receipt, "EvidenceDisagreement")
    assert dict(event.args) == {
        "module": m.module,
        "incidentId": incident(1),
        "evidenceHash": OTHER_EVIDENCE,
        "operator": op2.address,
        "firstEvidenceHash": EVIDENCE,
    }
    (voted,) = m.events(receipt, "PauseVoted")
    assert voted.args.votes == 1  # its own vote only: the two hashes do not count together
    assert not paused(m)
    assert c.pauseVotes(incident(1), EVIDENCE).call() == [1, [op1.address]]
    assert c.pauseVotes(incident(1), OTHER_EVIDENCE).call() == [1, [op2.address]]
    # An operator has one evidence hash per incident.
    err = m.revert_as(c.votePause(m.module, incident(1), EVIDENCE), op2.address)
    assert (err.name, err.args) == ("AlreadyVoted", (incident(1), op2.address, OTHER_EVIDENCE))
    # A third operator agreeing with the first makes the quorum, on the first hash.
    receipt = vote(m, op3, incident(1))
    assert m.events(receipt, "EvidenceDisagreement") == []
    (event,) = m.events(receipt, "ModulePaused")
    assert event.args.evidenceHash == EVIDENCE
    assert c.incidentInfo(incident(1)).call() == [True, NO_VERDICT, [op1.address, op3.address]]


def test_votes_count_only_within_the_vote_window(quorum, anvil: AnvilNode) -> None:
    m, (op1, op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 2, window=VOTE_WINDOW)
    cast_at = m.block_timestamp(vote(m, op1, incident(1)))
    set_time(anvil, cast_at + VOTE_WINDOW)  # op1's vote counted in (t - window, t]; it has left
    receipt = vote(m, op2, incident(1))
    assert m.events(receipt, "PauseVoted")[0].args.votes == 1
    assert not paused(m)
    assert c.pauseVotes(incident(1), EVIDENCE).call() == [1, [op2.address]]
    # op1 may vote again once its vote left the window; now both count.
    receipt = vote(m, op1, incident(1))
    assert m.events(receipt, "ModulePaused")[0].args.by == op1.address
    assert sorted(c.incidentInfo(incident(1)).call()[2]) == sorted([op1.address, op2.address])


def test_a_lowered_quorum_applies_to_votes_already_cast(quorum) -> None:
    m, (op1, op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 3)
    vote(m, op1, incident(1))
    vote(m, op2, incident(1))
    assert not paused(m)
    configure(m, 2)
    # op1's vote counts already; repeating it records nothing new but closes the ballot at the new quorum.
    receipt = vote(m, op1, incident(1))
    assert m.events(receipt, "PauseVoted") == []
    (event,) = m.events(receipt, "ModulePaused")
    assert event.args.by == op1.address
    assert c.incidentInfo(incident(1)).call()[2] == [op1.address, op2.address]


def test_a_revoked_operators_vote_does_not_count(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    vote(m, op1, incident(1))
    m.send(c.revokeRole(m.role("WATCHDOG_ROLE"), op1.address), m.admin)
    receipt = vote(m, op2, incident(1))
    assert m.events(receipt, "PauseVoted")[0].args.votes == 1 and not paused(m)
    err = m.revert_as(c.votePause(m.module, incident(1), EVIDENCE), op1.address)
    assert err.name == "AccessControlUnauthorizedAccount"
    vote(m, op3, incident(1))
    assert paused(m)
    assert c.incidentInfo(incident(1)).call()[2] == [op2.address, op3.address]


def test_an_incident_belongs_to_the_module_of_its_first_vote(quorum) -> None:
    m, (op1, op2, _op3) = quorum
    c = m.contract.functions
    other = keccak(text="pricing-model")
    m.send(c.registerModule(other), m.council)
    configure(m, 2)
    configure(m, 2, module=other)
    vote(m, op1, incident(1))
    err = m.revert_as(c.votePause(other, incident(1), EVIDENCE), op2.address)
    assert (err.name, err.args) == ("IncidentModuleMismatch", (incident(1), m.module))
    for bad, name in [
        ((m.module, ZERO, EVIDENCE), "ZeroIncidentId"),
        ((m.module, incident(2), ZERO), "ZeroEvidenceHash"),
        ((keccak(text="nope"), incident(2), EVIDENCE), "ModuleNotRegistered"),
    ]:
        assert m.revert_as(c.votePause(*bad), op2.address).name == name
    assert m.revert_as(c.votePause(m.module, incident(2), EVIDENCE), m.outsider).name == (
        "AccessControlUnauthorizedAccount"
    )


def test_votes_on_a_paused_module_revert(quorum) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    m.send(c.pause(m.module, incident("council"), EVIDENCE), m.council)
    err = m.revert_as(c.votePause(m.module, incident(1), EVIDENCE), op1.address)
    assert (err.name, err.args) == ("AlreadyPaused", (m.module,))


def test_a_quorum_pause_is_one_rate_limited_action(quorum) -> None:
    m, (op1, op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    m.send(c.setRateLimit(MAX_ACTIONS, 3600), m.admin)
    for n in range(MAX_ACTIONS):
        vote(m, op1, incident(n))
        vote(m, op2, incident(n))
        m.send(c.unpause(m.module), m.council)
    vote(m, op1, incident("over"))
    err = m.revert_as(c.votePause(m.module, incident("over"), EVIDENCE), op2.address)
    assert err.name == "RateLimited"
    assert c.pauseVotes(incident("over"), EVIDENCE).call()[0] == 1  # the refused vote was not recorded


# ---------------------------------------------------------------------------------------------------
# Relayed EIP-712 votes
# ---------------------------------------------------------------------------------------------------


def test_signed_vote_digest_matches_eip712(quorum) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    deadline = m.now() + 3600
    typed = encode_typed_data(
        domain_data={
            "name": "ModelMonitor",
            "version": "1",
            "chainId": m.w3.eth.chain_id,
            "verifyingContract": m.contract.address,
        },
        message_types={"PauseVote": PAUSE_VOTE_TYPE},
        message_data={
            "operator": op1.address,
            "module": m.module,
            "incidentId": incident(1),
            "evidenceHash": EVIDENCE,
            "deadline": deadline,
        },
    )
    expected = keccak(b"\x19" + typed.version + typed.header + typed.body)
    assert c.hashPauseVote(op1.address, m.module, incident(1), EVIDENCE, deadline).call() == expected
    assert c.PAUSE_VOTE_TYPEHASH().call() == keccak(
        text="PauseVote(address operator,bytes32 module,bytes32 incidentId,bytes32 evidenceHash,uint256 deadline)"
    )
    domain = c.eip712Domain().call()
    assert domain[1:5] == ["ModelMonitor", "1", m.w3.eth.chain_id, m.contract.address]


def test_anyone_relays_k_signed_votes_in_one_transaction(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    deadline = m.now() + 3600
    votes = [m.sign_vote(op, m.module, incident(1), EVIDENCE, deadline) for op in (op1, op2, op3)]
    assert c.relayPauseVotes(m.module, incident(1), EVIDENCE, votes).call({"from": m.outsider}) is True
    receipt = m.send(c.relayPauseVotes(m.module, incident(1), EVIDENCE, votes), m.outsider)
    # It stops at the quorum: the third vote is not needed.
    assert [e.args.operator for e in m.events(receipt, "PauseVoted")] == [op1.address, op2.address]
    (event,) = m.events(receipt, "ModulePaused")
    assert (event.args.incidentId, event.args.by) == (incident(1), op2.address)
    assert paused(m)
    assert c.incidentInfo(incident(1)).call() == [True, NO_VERDICT, [op1.address, op2.address]]
    err = m.revert_of(c.relayPauseVotes(m.module, incident(1), EVIDENCE, votes), m.outsider)
    assert (err.name, err.args) == ("IncidentAlreadyUsed", (incident(1),))


def test_relay_combines_with_direct_votes_and_skips_counted_ones(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 3)
    deadline = m.now() + 3600
    vote(m, op1, incident(1))
    # Someone relays op2's vote alone first (as a front-runner could): the full relay still goes through.
    m.send(
        c.relayPauseVotes(
            m.module, incident(1), EVIDENCE, [m.sign_vote(op2, m.module, incident(1), EVIDENCE, deadline)]
        ),
        m.outsider,
    )
    assert not paused(m)
    votes = [m.sign_vote(op, m.module, incident(1), EVIDENCE, deadline) for op in (op1, op2, op3)]
    receipt = m.send(c.relayPauseVotes(m.module, incident(1), EVIDENCE, votes), m.outsider)
    assert [e.args.operator for e in m.events(receipt, "PauseVoted")] == [op3.address]
    assert paused(m)
    assert c.incidentInfo(incident(1)).call()[2] == [op1.address, op2.address, op3.address]


def test_relay_rejects_bad_votes(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    now = m.now()
    good = m.sign_vote(op2, m.module, incident(1), EVIDENCE, now + 3600)

    def relay_error(vote_tuple):
        return m.revert_of(c.relayPauseVotes(m.module, incident(1), EVIDENCE, [vote_tuple, good]), m.outsider)

    forged = (op1.address, now + 3600, m.sign_vote(op3, m.module, incident(1), EVIDENCE, now + 3600)[2])
    assert (relay_error(forged).name, relay_error(forged).args) == ("InvalidSignature", (op1.address,))
    other_hash = (op1.address, now + 3600, m.sign_vote(op1, m.module, incident(1), OTHER_EVIDENCE, now + 3600)[2])
    assert relay_error(other_hash).name == "InvalidSignature"
    wrong_deadline = (op1.address, now + 7200, m.sign_vote(op1, m.module, incident(1), EVIDENCE, now + 3600)[2])
    assert relay_error(wrong_deadline).name == "InvalidSignature"
    expired = m.sign_vote(op1, m.module, incident(1), EVIDENCE, now - 1)
    err = relay_error(expired)
    assert (err.name, err.args) == ("SignatureExpired", (op1.address, now - 1))
    stranger = add_operators(m, 1)[0]
    m.send(c.revokeRole(m.role("WATCHDOG_ROLE"), stranger.address), m.admin)
    err = relay_error(m.sign_vote(stranger, m.module, incident(1), EVIDENCE, now + 3600))
    assert (err.name, err.args) == ("AccessControlUnauthorizedAccount", (stranger.address, m.role("WATCHDOG_ROLE")))
    assert relay_error((op1.address, now + 3600, b"\x01" * 65)).name == "InvalidSignature"
    assert not paused(m)


# ---------------------------------------------------------------------------------------------------
# Bounded pauses
# ---------------------------------------------------------------------------------------------------


def test_a_watchdog_pause_expires_after_the_maximum_duration(quorum, anvil: AnvilNode) -> None:
    m, (op1, op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 2, max_pause=600)
    vote(m, op1, incident(1))
    receipt = vote(m, op2, incident(1))
    t0 = m.block_timestamp(receipt)
    (bounded,) = m.events(receipt, "PauseBounded")
    assert dict(bounded.args) == {"module": m.module, "incidentId": incident(1), "pausedUntil": t0 + 600}
    assert c.pausedUntil(m.module).call() == t0 + 600
    set_time(anvil, t0 + 599)
    assert paused(m) and c.isActive(m.module).call() is False
    err = m.revert_of(c.expirePause(m.module), m.outsider)
    assert (err.name, err.args) == ("PauseNotExpired", (m.module, t0 + 600))
    set_time(anvil, t0 + 600)
    assert not paused(m)
    assert c.isActive(m.module).call() is True
    assert c.requireActive(m.module).call() == 1
    assert c.moduleInfo(m.module).call() == [True, False, 1]
    assert c.pausedUntil(m.module).call() == 0
    assert m.revert_of(c.unpause(m.module), m.council).name == "NotPaused"
    # Anyone may write the expiry down; views did not need it.
    receipt = m.send(c.expirePause(m.module), m.outsider)
    (expired,) = m.events(receipt, "PauseExpired")
    assert dict(expired.args) == {"module": m.module, "pausedUntil": t0 + 600, "by": m.outsider}
    assert m.revert_of(c.expirePause(m.module), m.outsider).name == "NotPaused"


def test_a_new_pause_after_an_expired_one_needs_no_unpause(quorum, anvil: AnvilNode) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 1, window=0, max_pause=600)
    t0 = m.block_timestamp(m.send_signed(c.pause(m.module, incident(1), EVIDENCE), op1))
    anvil.increase_time(600)
    assert not paused(m)
    receipt = m.send_signed(c.pause(m.module, incident(2), EVIDENCE), op1)
    assert paused(m)
    assert c.pausedUntil(m.module).call() == m.block_timestamp(receipt) + 600 > t0 + 600


def test_the_council_extends_a_watchdog_pause(quorum, anvil: AnvilNode) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 1, window=0, max_pause=600)
    t0 = m.block_timestamp(m.send_signed(c.pause(m.module, incident(1), EVIDENCE), op1))
    err = m.revert_as(c.extendPause(m.module, t0 + 5000), op1.address)
    assert (err.name, err.args) == ("AccessControlUnauthorizedAccount", (op1.address, m.role("COUNCIL_ROLE")))
    err = m.revert_of(c.extendPause(m.module, t0 + 600), m.council)
    assert (err.name, err.args) == ("InvalidPauseExtension", (m.module, t0 + 600))
    receipt = m.send(c.extendPause(m.module, t0 + 2000), m.council)
    (event,) = m.events(receipt, "PauseExtended")
    assert dict(event.args) == {
        "module": m.module,
        "previousUntil": t0 + 600,
        "pausedUntil": t0 + 2000,
        "by": m.council,
    }
    set_time(anvil, t0 + 1999)
    assert paused(m)
    set_time(anvil, t0 + 2000)
    assert not paused(m) and c.isActive(m.module).call() is True
    # An extension to 0 holds the pause until the council unpauses.
    t1 = m.block_timestamp(m.send_signed(c.pause(m.module, incident(2), EVIDENCE), op1))
    m.send(c.extendPause(m.module, 0), m.council)
    assert c.pausedUntil(m.module).call() == 0
    set_time(anvil, t1 + 100_000)
    assert paused(m)
    assert m.revert_of(c.extendPause(m.module, t1 + 200_000), m.council).name == "PauseNotBounded"
    assert m.revert_of(c.expirePause(m.module), m.outsider).name == "PauseNotExpired"
    m.send(c.unpause(m.module), m.council)
    assert m.revert_of(c.extendPause(m.module, t1 + 200_000), m.council).name == "NotPaused"


def test_council_pauses_do_not_expire(quorum, anvil: AnvilNode) -> None:
    m, _ops = quorum
    c = m.contract.functions
    configure(m, 2, max_pause=600)
    receipt = m.send(c.pause(m.module, incident(1), EVIDENCE), m.council)
    assert m.events(receipt, "PauseBounded") == []
    anvil.increase_time(100_000)
    assert paused(m) and c.pausedUntil(m.module).call() == 0
    assert m.revert_of(c.extendPause(m.module, m.now() + 10), m.council).name == "PauseNotBounded"


# ---------------------------------------------------------------------------------------------------
# One-shot operators
# ---------------------------------------------------------------------------------------------------


def test_a_one_shot_operator_cannot_pause_twice_until_rearmed(quorum) -> None:
    m, (op1, op2, _op3) = quorum
    c = m.contract.functions
    configure(m, 1, window=0, one_shot=True)
    receipt = m.send_signed(c.pause(m.module, incident(1), EVIDENCE), op1)
    (event,) = m.events(receipt, "OperatorDisarmed")
    assert dict(event.args) == {"module": m.module, "operator": op1.address, "incidentId": incident(1)}
    assert c.isArmed(m.module, op1.address).call() is False
    m.send(c.unpause(m.module), m.council)
    for call in (c.pause(m.module, incident(2), EVIDENCE), c.votePause(m.module, incident(2), EVIDENCE)):
        err = m.revert_as(call, op1.address)
        assert (err.name, err.args) == ("OperatorNotArmed", (m.module, op1.address))
    # Another operator is armed still; one module's disarming does not reach other modules.
    other = keccak(text="pricing-model")
    m.send(c.registerModule(other), m.council)
    m.send_signed(c.pause(other, incident("other"), EVIDENCE), op1)
    m.send_signed(c.pause(m.module, incident(3), EVIDENCE), op2)
    m.send(c.unpause(m.module), m.council)

    assert m.revert_as(c.rearmOperator(m.module, op1.address), op2.address).name == ("AccessControlUnauthorizedAccount")
    receipt = m.send(c.rearmOperator(m.module, op1.address), m.council)
    (event,) = m.events(receipt, "OperatorRearmed")
    assert dict(event.args) == {"module": m.module, "operator": op1.address, "by": m.council}
    assert m.revert_of(c.rearmOperator(m.module, op1.address), m.council).name == "OperatorAlreadyArmed"
    m.send_signed(c.pause(m.module, incident(4), EVIDENCE), op1)
    assert paused(m)


def test_one_shot_quorum_disarms_every_counted_voter(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 2, one_shot=True)
    vote(m, op1, incident("pending"))  # op1's vote on another incident, still pending
    vote(m, op1, incident(1))
    receipt = vote(m, op2, incident(1))
    assert [e.args.operator for e in m.events(receipt, "OperatorDisarmed")] == [op1.address, op2.address]
    assert [c.isArmed(m.module, op.address).call() for op in (op1, op2, op3)] == [False, False, True]
    m.send(c.unpause(m.module), m.council)
    # A disarmed operator cannot vote, and its pending vote no longer counts.
    assert m.revert_as(c.votePause(m.module, incident(2), EVIDENCE), op1.address).name == "OperatorNotArmed"
    receipt = vote(m, op3, incident("pending"))
    assert m.events(receipt, "PauseVoted")[0].args.votes == 1 and not paused(m)
    m.send(c.rearmOperator(m.module, op2.address), m.council)
    receipt = vote(m, op2, incident("pending"))
    assert m.events(receipt, "ModulePaused")
    assert sorted(c.incidentInfo(incident("pending")).call()[2]) == sorted([op2.address, op3.address])


def test_one_shot_applies_to_rollbacks(quorum) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    f = m.contract.functions
    m.send(f.proposeVersion(m.module, 2, keccak(text="weights v2"), ZERO), m.proposer)
    m.send(f.approveVersion(m.module, 2), m.council)
    m.send(f.activateVersion(m.module, 2), m.council)
    configure(m, 2, one_shot=True)
    receipt = m.send_signed(c.rollback(m.module, 1, incident(1), EVIDENCE), op1)
    assert m.events(receipt, "OperatorDisarmed")[0].args.operator == op1.address
    err = m.revert_as(c.rollback(m.module, 2, incident(2), EVIDENCE), op1.address)
    assert err.name == "OperatorNotArmed"
    assert c.incidentInfo(incident(1)).call() == [True, NO_VERDICT, [op1.address]]


# ---------------------------------------------------------------------------------------------------
# Contest
# ---------------------------------------------------------------------------------------------------


def test_overturned_incidents_are_counted_per_operator(quorum) -> None:
    m, (op1, op2, op3) = quorum
    c = m.contract.functions
    configure(m, 2)
    vote(m, op1, incident(1))
    vote(m, op2, incident(1))
    receipt = m.send(c.resolveIncident(incident(1), False, REASON), m.council)
    (resolved,) = m.events(receipt, "IncidentResolved")
    assert dict(resolved.args) == {"incidentId": incident(1), "upheld": False, "reasonHash": REASON, "by": m.council}
    assert [
        (e.args.operator, e.args.incidentId, e.args.overturned) for e in m.events(receipt, "OperatorOverturned")
    ] == [
        (op1.address, incident(1), 1),
        (op2.address, incident(1), 1),
    ]
    assert [c.overturnedIncidents(op.address).call() for op in (op1, op2, op3)] == [1, 1, 0]
    assert c.incidentInfo(incident(1)).call() == [True, OVERTURNED, [op1.address, op2.address]]
    err = m.revert_of(c.resolveIncident(incident(1), True, REASON), m.council)
    assert (err.name, err.args) == ("IncidentAlreadyResolved", (incident(1), OVERTURNED))
    assert paused(m)  # a verdict does not unpause; the council does
    m.send(c.unpause(m.module), m.council)

    # An upheld incident counts against nobody; a second overturned one adds up.
    configure(m, 1, window=0)
    m.send_signed(c.pause(m.module, incident(2), EVIDENCE), op1)
    receipt = m.send(c.resolveIncident(incident(2), True, REASON), m.council)
    assert m.events(receipt, "OperatorOverturned") == []
    assert c.incidentInfo(incident(2)).call()[1] == UPHELD
    m.send(c.unpause(m.module), m.council)
    m.send_signed(c.pause(m.module, incident(3), EVIDENCE), op1)
    m.send(c.resolveIncident(incident(3), False, REASON), m.council)
    assert [c.overturnedIncidents(op.address).call() for op in (op1, op2, op3)] == [2, 1, 0]


def test_only_watchdog_incidents_can_be_judged(quorum) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    m.send(c.pause(m.module, incident("council"), EVIDENCE), m.council)
    for incident_id in (incident("council"), incident("never")):
        err = m.revert_of(c.resolveIncident(incident_id, False, REASON), m.council)
        assert (err.name, err.args) == ("NotAWatchdogIncident", (incident_id,))
    m.send(c.unpause(m.module), m.council)
    m.send_signed(c.pause(m.module, incident(1), EVIDENCE), op1)
    assert m.revert_of(c.resolveIncident(incident(1), False, ZERO), m.council).name == "ZeroReasonHash"
    err = m.revert_as(c.resolveIncident(incident(1), False, REASON), op1.address)
    assert (err.name, err.args) == ("AccessControlUnauthorizedAccount", (op1.address, m.role("COUNCIL_ROLE")))


def test_the_admin_names_the_contest_role(quorum) -> None:
    m, (op1, _op2, _op3) = quorum
    c = m.contract.functions
    council_role = m.role("COUNCIL_ROLE")
    assert c.contestRole().call() == council_role
    assert m.revert_of(c.setContestRole(ARBITER_ROLE), m.council).name == "AccessControlUnauthorizedAccount"
    err = m.revert_of(c.setContestRole(m.role("WATCHDOG_ROLE")), m.admin)
    assert (err.name, err.args) == ("InvalidContestRole", (m.role("WATCHDOG_ROLE"),))
    receipt = m.send(c.setContestRole(ARBITER_ROLE), m.admin)
    (event,) = m.events(receipt, "ContestRoleSet")
    assert dict(event.args) == {"previousRole": council_role, "newRole": ARBITER_ROLE, "by": m.admin}
    m.send(c.grantRole(ARBITER_ROLE, m.outsider), m.admin)
    m.send_signed(c.pause(m.module, incident(1), EVIDENCE), op1)
    err = m.revert_of(c.resolveIncident(incident(1), False, REASON), m.council)
    assert (err.name, err.args) == ("AccessControlUnauthorizedAccount", (m.council, ARBITER_ROLE))
    m.send(c.resolveIncident(incident(1), False, REASON), m.outsider)
    assert c.overturnedIncidents(op1.address).call() == 1


# ---------------------------------------------------------------------------------------------------
# Gas
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3])
def test_gas_of_votes_relays_and_expiry(quorum, anvil: AnvilNode, k: int) -> None:
    """Gas of the new actions (printed with -s); generous bounds catch accidental blow-ups."""
    m, ops = quorum
    c = m.contract.functions
    configure(m, k, max_pause=600)
    gas = {"vote (first)": vote(m, ops[0], incident(1))["gasUsed"]}
    for op in ops[1 : k - 1]:
        gas["vote (middle)"] = vote(m, op, incident(1))["gasUsed"]
    gas["vote (quorum, pauses)"] = vote(m, ops[k - 1], incident(1))["gasUsed"]
    gas["extendPause"] = m.send(c.extendPause(m.module, m.now() + 1200), m.council)["gasUsed"]
    anvil.increase_time(1200)
    gas["expirePause"] = m.send(c.expirePause(m.module), m.outsider)["gasUsed"]
    deadline = m.now() + 3600
    votes = [m.sign_vote(op, m.module, incident(2), EVIDENCE, deadline) for op in ops[:k]]
    gas[f"relayPauseVotes ({k} of 3)"] = m.send(c.relayPauseVotes(m.module, incident(2), EVIDENCE, votes), m.outsider)[
        "gasUsed"
    ]
    gas["resolveIncident (overturned)"] = m.send(c.resolveIncident(incident(2), False, REASON), m.council)["gasUsed"]
    print("\n" + "\n".join(f"{name:>30}: {value:>7,} gas" for name, value in gas.items()))
    assert all(value < 100_000 * k + 100_000 for value in gas.values()), gas
