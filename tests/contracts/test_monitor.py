"""ModelMonitor on a real anvil node: role boundaries, registry, pause / rollback, rate limit, heartbeat,
admin transfer, and the committed artifact matching the source."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from tests.anvil import AnvilNode
from tests.contracts.monitor import (
    ADMIN_DELAY,
    APPROVED,
    ARTIFACT_V1,
    DEPRECATED,
    MAX_ACTIONS,
    METADATA_V1,
    PROPOSED,
    REVOKED,
    WINDOW_SECONDS,
    Deployment,
    decode_custom_error,
    deploy_monitor,
    load_artifact,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ZERO = b"\x00" * 32
EVIDENCE = keccak(text="evidence: psi 0.41 > 0.25 on feature utilisation")


def incident(n: int | str) -> bytes:
    return keccak(text=f"incident-{n}")


def add_version(m: Deployment, version: int, *, approve: bool = True, activate: bool = False) -> None:
    f = m.contract.functions
    m.send(f.proposeVersion(m.module, version, keccak(text=f"weights v{version}"), ZERO), m.proposer)
    if approve:
        m.send(f.approveVersion(m.module, version), m.council)
    if activate:
        m.send(f.activateVersion(m.module, version), m.council)


def status_of(m: Deployment, version: int) -> int:
    return m.contract.functions.versionInfo(m.module, version).call()[0]


def assert_unauthorized(m: Deployment, call, sender: str, role: str) -> None:
    err = m.revert_of(call, sender)
    assert err.name == "AccessControlUnauthorizedAccount"
    assert err.args == (sender, m.role(role))


# ---------------------------------------------------------------------------------------------------
# Deployment and views
# ---------------------------------------------------------------------------------------------------


def test_deployment_state(monitor: Deployment) -> None:
    c = monitor.contract.functions
    assert c.defaultAdmin().call() == monitor.admin
    assert c.defaultAdminDelay().call() == ADMIN_DELAY
    assert c.maxActionsPerWindow().call() == MAX_ACTIONS
    assert c.windowSeconds().call() == WINDOW_SECONDS
    assert c.moduleInfo(monitor.module).call() == [True, False, 1]
    assert c.versionInfo(monitor.module, 1).call() == [APPROVED, ARTIFACT_V1, METADATA_V1, True]
    assert c.isActive(monitor.module).call() is True
    assert c.isPaused(monitor.module).call() is False
    assert c.requireActive(monitor.module).call() == 1


def test_constructor_rejects_bad_rate_limit(anvil: AnvilNode) -> None:
    abi = load_artifact()["abi"]
    for max_actions, window in [(0, 3600), (65, 3600), (1, 0)]:
        with pytest.raises(ContractCustomError) as info:
            deploy_monitor(anvil, max_actions=max_actions, window_seconds=window)
        err = decode_custom_error(abi, info.value)
        assert (err.name, err.args) == ("InvalidRateLimit", (max_actions, window))


def test_unknown_module_views(monitor: Deployment) -> None:
    unknown = keccak(text="unknown")
    c = monitor.contract.functions
    assert c.isActive(unknown).call() is False
    assert c.isPaused(unknown).call() is False
    assert c.moduleInfo(unknown).call() == [False, False, 0]
    assert c.versionInfo(unknown, 1).call() == [0, ZERO, ZERO, False]
    assert monitor.revert_of(c.requireActive(unknown)).name == "ModuleNotRegistered"


def test_require_active_reverts_when_paused_and_returns_version_when_fine(monitor: Deployment) -> None:
    c = monitor.contract.functions
    assert c.requireActive(monitor.module).call() == 1
    monitor.send(c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog)
    err = monitor.revert_of(c.requireActive(monitor.module))
    assert err == type(err)("ModuleIsPaused", (monitor.module,))
    assert c.isActive(monitor.module).call() is False
    monitor.send(c.unpause(monitor.module), monitor.council)
    assert c.requireActive(monitor.module).call() == 1


def test_require_active_without_active_version(monitor: Deployment) -> None:
    c = monitor.contract.functions
    other = keccak(text="other-module")
    monitor.send(c.registerModule(other), monitor.council)
    assert c.isActive(other).call() is False
    assert monitor.revert_of(c.requireActive(other)).name == "NoActiveVersion"


# ---------------------------------------------------------------------------------------------------
# Registry and version lifecycle
# ---------------------------------------------------------------------------------------------------


def test_register_module_rules(monitor: Deployment) -> None:
    c = monitor.contract.functions
    assert (
        monitor.revert_of(c.registerModule(monitor.module), monitor.council).name == "ModuleAlreadyRegistered"
    )
    assert monitor.revert_of(c.registerModule(ZERO), monitor.council).name == "InvalidModuleId"
    new = keccak(text="pricing-model")
    receipt = monitor.send(c.registerModule(new), monitor.council)
    (event,) = monitor.events(receipt, "ModuleRegistered")
    assert event.args.module == new and event.args.by == monitor.council


def test_propose_rules(monitor: Deployment) -> None:
    c = monitor.contract.functions
    p = monitor.proposer
    assert (
        monitor.revert_of(c.proposeVersion(monitor.module, 1, ARTIFACT_V1, ZERO), p).name
        == "VersionAlreadyExists"
    )
    assert (
        monitor.revert_of(c.proposeVersion(monitor.module, 0, ARTIFACT_V1, ZERO), p).name
        == "InvalidVersionNumber"
    )
    assert monitor.revert_of(c.proposeVersion(monitor.module, 2, ZERO, ZERO), p).name == "ZeroArtifactHash"
    unknown = keccak(text="unknown")
    assert monitor.revert_of(c.proposeVersion(unknown, 1, ARTIFACT_V1, ZERO), p).name == "ModuleNotRegistered"
    receipt = monitor.send(c.proposeVersion(monitor.module, 2, ARTIFACT_V1, METADATA_V1), p)
    (event,) = monitor.events(receipt, "VersionProposed")
    assert dict(event.args) == {
        "module": monitor.module,
        "version": 2,
        "artifactHash": ARTIFACT_V1,
        "metadataHash": METADATA_V1,
        "by": p,
    }
    assert c.versionInfo(monitor.module, 2).call() == [PROPOSED, ARTIFACT_V1, METADATA_V1, False]


def test_lifecycle_transitions(monitor: Deployment) -> None:
    c = monitor.contract.functions
    council = monitor.council
    add_version(monitor, 2, approve=False)
    assert monitor.revert_of(c.activateVersion(monitor.module, 2), council).name == "VersionNotApproved"
    assert monitor.revert_of(c.deprecateVersion(monitor.module, 2), council).name == "InvalidVersionStatus"
    monitor.send(c.approveVersion(monitor.module, 2), council)
    assert monitor.revert_of(c.approveVersion(monitor.module, 2), council).name == "InvalidVersionStatus"
    monitor.send(c.deprecateVersion(monitor.module, 2), council)
    assert status_of(monitor, 2) == DEPRECATED
    assert monitor.revert_of(c.activateVersion(monitor.module, 2), council).name == "VersionNotApproved"
    monitor.send(c.approveVersion(monitor.module, 2), council)  # a deprecated version can be re-approved
    receipt = monitor.send(c.activateVersion(monitor.module, 2), council)
    (event,) = monitor.events(receipt, "VersionActivated")
    assert (event.args.previousVersion, event.args.version) == (1, 2)
    assert c.versionInfo(monitor.module, 2).call()[3] is True
    assert monitor.revert_of(c.activateVersion(monitor.module, 2), council).name == "VersionAlreadyActive"
    assert (
        monitor.revert_of(c.deprecateVersion(monitor.module, 2), council).name
        == "CannotDeprecateActiveVersion"
    )
    assert monitor.revert_of(c.approveVersion(monitor.module, 9), council).name == "VersionNotFound"
    monitor.send(c.revokeVersion(monitor.module, 1), council)
    assert monitor.revert_of(c.revokeVersion(monitor.module, 1), council).name == "InvalidVersionStatus"
    assert monitor.revert_of(c.approveVersion(monitor.module, 1), council).name == "InvalidVersionStatus"


def test_revoking_active_version_pauses_module(monitor: Deployment) -> None:
    c = monitor.contract.functions
    add_version(monitor, 2)  # approved, never active
    receipt = monitor.send(c.revokeVersion(monitor.module, 1), monitor.council)
    (revoked,) = monitor.events(receipt, "VersionRevoked")
    assert revoked.args.wasActiveVersion is True
    (paused,) = monitor.events(receipt, "ModulePaused")
    assert (paused.args.incidentId, paused.args.evidenceHash, paused.args.by) == (ZERO, ZERO, monitor.council)
    assert c.moduleInfo(monitor.module).call() == [True, True, 1]
    assert c.isActive(monitor.module).call() is False
    # The revoked version cannot come back by unpausing; the council must activate another one first.
    assert monitor.revert_of(c.unpause(monitor.module), monitor.council).name == "ActiveVersionNotApproved"
    monitor.send(c.activateVersion(monitor.module, 2), monitor.council)
    monitor.send(c.unpause(monitor.module), monitor.council)
    assert c.requireActive(monitor.module).call() == 2


def test_revoking_inactive_version_does_not_pause(monitor: Deployment) -> None:
    c = monitor.contract.functions
    add_version(monitor, 2)
    receipt = monitor.send(c.revokeVersion(monitor.module, 2), monitor.council)
    assert monitor.events(receipt, "ModulePaused") == []
    assert c.isActive(monitor.module).call() is True
    assert status_of(monitor, 2) == REVOKED


# ---------------------------------------------------------------------------------------------------
# Role boundaries
# ---------------------------------------------------------------------------------------------------


def test_watchdog_cannot_govern(monitor: Deployment) -> None:
    c = monitor.contract.functions
    w, mod = monitor.watchdog, monitor.module
    add_version(monitor, 2, approve=False)
    monitor.send(c.pause(mod, incident(1), EVIDENCE), w)
    assert_unauthorized(monitor, c.unpause(mod), w, "COUNCIL_ROLE")
    assert_unauthorized(monitor, c.approveVersion(mod, 2), w, "COUNCIL_ROLE")
    assert_unauthorized(monitor, c.activateVersion(mod, 1), w, "COUNCIL_ROLE")
    assert_unauthorized(monitor, c.deprecateVersion(mod, 1), w, "COUNCIL_ROLE")
    assert_unauthorized(monitor, c.revokeVersion(mod, 2), w, "COUNCIL_ROLE")
    assert_unauthorized(monitor, c.registerModule(keccak(text="x")), w, "COUNCIL_ROLE")
    assert_unauthorized(monitor, c.proposeVersion(mod, 3, ARTIFACT_V1, ZERO), w, "PROPOSER_ROLE")
    assert_unauthorized(monitor, c.setRateLimit(100, 1), w, "DEFAULT_ADMIN_ROLE")
    assert_unauthorized(monitor, c.grantRole(monitor.role("COUNCIL_ROLE"), w), w, "DEFAULT_ADMIN_ROLE")


def test_watchdog_rollback_targets(monitor: Deployment) -> None:
    c = monitor.contract.functions
    w, mod = monitor.watchdog, monitor.module
    add_version(monitor, 2, activate=True)  # 1 was active, 2 is active now
    add_version(monitor, 3, approve=False)  # proposed
    add_version(monitor, 4)  # approved, never active
    add_version(monitor, 5, activate=True)  # was active ...
    monitor.send(c.activateVersion(mod, 2), monitor.council)
    monitor.send(c.revokeVersion(mod, 5), monitor.council)  # ... then revoked
    add_version(monitor, 6, activate=True)  # was active ...
    monitor.send(c.activateVersion(mod, 2), monitor.council)
    monitor.send(c.deprecateVersion(mod, 6), monitor.council)  # ... then deprecated

    cases = {
        3: ("VersionNotApproved", (mod, 3, PROPOSED)),
        4: ("VersionNeverActive", (mod, 4)),
        5: ("VersionNotApproved", (mod, 5, REVOKED)),
        6: ("VersionNotApproved", (mod, 6, DEPRECATED)),
        7: ("VersionNotFound", (mod, 7)),
        2: ("VersionAlreadyActive", (mod, 2)),
    }
    for n, (version, (name, args)) in enumerate(cases.items()):
        err = monitor.revert_of(c.rollback(mod, version, incident(f"rb-{n}"), EVIDENCE), w)
        assert (err.name, err.args) == (name, args), version

    receipt = monitor.send(c.rollback(mod, 1, incident("rb-ok"), EVIDENCE), w)
    (event,) = monitor.events(receipt, "ModuleRolledBack")
    assert dict(event.args) == {
        "module": mod,
        "incidentId": incident("rb-ok"),
        "fromVersion": 2,
        "toVersion": 1,
        "evidenceHash": EVIDENCE,
        "by": w,
    }
    assert c.moduleInfo(mod).call() == [True, False, 1]


def test_rollback_does_not_unpause(monitor: Deployment) -> None:
    c = monitor.contract.functions
    add_version(monitor, 2, activate=True)
    monitor.send(c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog)
    monitor.send(c.rollback(monitor.module, 1, incident(2), EVIDENCE), monitor.watchdog)
    assert c.moduleInfo(monitor.module).call() == [True, True, 1]
    assert c.isActive(monitor.module).call() is False


def test_only_watchdog_or_council_may_pause_rollback_heartbeat(monitor: Deployment) -> None:
    c = monitor.contract.functions
    add_version(monitor, 2, activate=True)
    for sender in (monitor.outsider, monitor.proposer, monitor.admin):
        assert_unauthorized(monitor, c.pause(monitor.module, incident(1), EVIDENCE), sender, "WATCHDOG_ROLE")
        assert_unauthorized(
            monitor, c.rollback(monitor.module, 1, incident(2), EVIDENCE), sender, "WATCHDOG_ROLE"
        )
        assert_unauthorized(monitor, c.heartbeat(EVIDENCE), sender, "WATCHDOG_ROLE")
    assert_unauthorized(monitor, c.heartbeat(EVIDENCE), monitor.council, "WATCHDOG_ROLE")
    # The council may pause and roll back (with incident ids of its own).
    monitor.send(c.pause(monitor.module, incident(3), EVIDENCE), monitor.council)
    monitor.send(c.rollback(monitor.module, 1, incident(4), EVIDENCE), monitor.council)


def test_proposer_cannot_approve_own_version(monitor: Deployment) -> None:
    c = monitor.contract.functions
    add_version(monitor, 2, approve=False)
    assert_unauthorized(monitor, c.approveVersion(monitor.module, 2), monitor.proposer, "COUNCIL_ROLE")
    assert_unauthorized(monitor, c.activateVersion(monitor.module, 2), monitor.proposer, "COUNCIL_ROLE")


def test_revoked_watchdog_loses_power(monitor: Deployment) -> None:
    c = monitor.contract.functions
    monitor.send(c.revokeRole(monitor.role("WATCHDOG_ROLE"), monitor.watchdog), monitor.admin)
    assert_unauthorized(
        monitor, c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog, "WATCHDOG_ROLE"
    )


# ---------------------------------------------------------------------------------------------------
# Pause: incident ids and evidence
# ---------------------------------------------------------------------------------------------------


def test_pause_event_carries_incident_and_evidence(monitor: Deployment) -> None:
    c = monitor.contract.functions
    receipt = monitor.send(c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog)
    (event,) = monitor.events(receipt, "ModulePaused")
    assert dict(event.args) == {
        "module": monitor.module,
        "incidentId": incident(1),
        "evidenceHash": EVIDENCE,
        "by": monitor.watchdog,
    }
    # incidentId is indexed: the outbox can find the event of an incident by topic.
    logs = monitor.contract.events.ModulePaused().get_logs(
        from_block=receipt["blockNumber"], argument_filters={"incidentId": incident(1)}
    )
    assert [log.transactionHash for log in logs] == [receipt["transactionHash"]]
    assert c.incidentUsed(incident(1)).call() is True
    assert c.incidentUsed(incident(2)).call() is False
    assert c.isPaused(monitor.module).call() is True


def test_pause_requires_incident_and_evidence(monitor: Deployment) -> None:
    c = monitor.contract.functions
    for sender in (monitor.watchdog, monitor.council):
        assert (
            monitor.revert_of(c.pause(monitor.module, incident(1), ZERO), sender).name == "ZeroEvidenceHash"
        )
        assert monitor.revert_of(c.pause(monitor.module, ZERO, EVIDENCE), sender).name == "ZeroIncidentId"
        err = monitor.revert_of(c.rollback(monitor.module, 1, incident(1), ZERO), sender)
        assert err.name == "ZeroEvidenceHash"
        err = monitor.revert_of(c.rollback(monitor.module, 1, ZERO, EVIDENCE), sender)
        assert err.name == "ZeroIncidentId"


def test_incident_id_is_single_use_across_actions(monitor: Deployment) -> None:
    c = monitor.contract.functions
    add_version(monitor, 2, activate=True)
    monitor.send(c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog)
    monitor.send(c.unpause(monitor.module), monitor.council)
    for call, sender in [
        (c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog),
        (c.pause(monitor.module, incident(1), EVIDENCE), monitor.council),
        (c.rollback(monitor.module, 1, incident(1), EVIDENCE), monitor.watchdog),
    ]:
        err = monitor.revert_of(call, sender)
        assert (err.name, err.args) == ("IncidentAlreadyUsed", (incident(1),))
    # Incident ids are global, not per module.
    other = keccak(text="other-module")
    monitor.send(c.registerModule(other), monitor.council)
    assert (
        monitor.revert_of(c.pause(other, incident(1), EVIDENCE), monitor.watchdog).name
        == "IncidentAlreadyUsed"
    )


def test_pausing_paused_module_reverts(monitor: Deployment) -> None:
    c = monitor.contract.functions
    monitor.send(c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog)
    err = monitor.revert_of(c.pause(monitor.module, incident(2), EVIDENCE), monitor.watchdog)
    assert (err.name, err.args) == ("AlreadyPaused", (monitor.module,))
    assert (
        monitor.revert_of(c.pause(monitor.module, incident(2), EVIDENCE), monitor.council).name
        == "AlreadyPaused"
    )
    # A failed pause does not burn its incident id.
    assert c.incidentUsed(incident(2)).call() is False


def test_unpause_rules(monitor: Deployment) -> None:
    c = monitor.contract.functions
    assert monitor.revert_of(c.unpause(monitor.module), monitor.council).name == "NotPaused"
    assert monitor.revert_of(c.unpause(keccak(text="nope")), monitor.council).name == "ModuleNotRegistered"
    unknown_pause = c.pause(keccak(text="nope"), incident(1), EVIDENCE)
    assert monitor.revert_of(unknown_pause, monitor.watchdog).name == "ModuleNotRegistered"
    monitor.send(c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog)
    receipt = monitor.send(c.unpause(monitor.module), monitor.council)
    (event,) = monitor.events(receipt, "ModuleUnpaused")
    assert (event.args.module, event.args.by) == (monitor.module, monitor.council)
    assert c.isActive(monitor.module).call() is True


# ---------------------------------------------------------------------------------------------------
# Rate limit
# ---------------------------------------------------------------------------------------------------


def _pause_unpause(m: Deployment, tag: str, module: bytes | None = None) -> dict:
    module = module or m.module
    receipt = m.send(m.contract.functions.pause(module, incident(tag), EVIDENCE), m.watchdog)
    m.send(m.contract.functions.unpause(module), m.council)
    return receipt


def test_rate_limit_holds_and_resets_after_window(monitor: Deployment, anvil: AnvilNode) -> None:
    c = monitor.contract.functions
    first = _pause_unpause(monitor, "a")
    _pause_unpause(monitor, "b")
    t_first = monitor.block_timestamp(first)
    assert c.rateLimitState(monitor.module).call()[0] == MAX_ACTIONS
    err = monitor.revert_of(c.pause(monitor.module, incident("c"), EVIDENCE), monitor.watchdog)
    assert (err.name, err.args) == ("RateLimited", (monitor.module, t_first + WINDOW_SECONDS))
    # Rollbacks count against the same budget.
    add_version(monitor, 2, activate=True)
    assert monitor.revert_of(
        c.rollback(monitor.module, 1, incident("d"), EVIDENCE), monitor.watchdog
    ).name == ("RateLimited")
    # The limit is per module: another module still has its full budget.
    other = keccak(text="other-module")
    monitor.send(c.registerModule(other), monitor.council)
    _pause_unpause(monitor, "e", other)
    # The council is never rate-limited.
    for i in range(3):
        monitor.send(c.pause(monitor.module, incident(f"council-{i}"), EVIDENCE), monitor.council)
        monitor.send(c.unpause(monitor.module), monitor.council)

    anvil.increase_time(WINDOW_SECONDS + 1)  # evm_increaseTime + evm_mine
    assert c.rateLimitState(monitor.module).call()[0] == 0
    monitor.send(c.pause(monitor.module, incident("c"), EVIDENCE), monitor.watchdog)
    monitor.send(c.rollback(monitor.module, 1, incident("d"), EVIDENCE), monitor.watchdog)
    assert (
        monitor.revert_of(c.unpause(monitor.module), monitor.watchdog).name
        == "AccessControlUnauthorizedAccount"
    )


def test_rate_limit_is_a_sliding_window(monitor: Deployment, anvil: AnvilNode) -> None:
    """Actions at t0 and t0 + W/2 block a third until t0 + W exactly; the next frees at t0 + W/2 + W."""
    c = monitor.contract.functions
    t0 = anvil.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"]
    t0 = int(t0, 16) + 100
    half = WINDOW_SECONDS // 2

    def pause_at(timestamp: int, tag: str) -> int:
        anvil.rpc("evm_setNextBlockTimestamp", [timestamp])
        receipt = monitor.send_unchecked(c.pause(monitor.module, incident(tag), EVIDENCE), monitor.watchdog)
        if receipt["status"] == 1:
            monitor.send(c.unpause(monitor.module), monitor.council)
        return receipt["status"]

    assert pause_at(t0, "1") == 1
    assert pause_at(t0 + half, "2") == 1
    assert pause_at(t0 + WINDOW_SECONDS - 1, "3") == 0  # both still inside (t - W, t]
    assert pause_at(t0 + WINDOW_SECONDS, "4") == 1  # the first left the window
    # A fixed window starting at t0 + W would allow this one; the sliding window does not.
    assert pause_at(t0 + WINDOW_SECONDS + 1, "5") == 0
    assert pause_at(t0 + half + WINDOW_SECONDS, "6") == 1


def test_set_rate_limit(monitor: Deployment) -> None:
    c = monitor.contract.functions
    assert_unauthorized(monitor, c.setRateLimit(5, 60), monitor.council, "DEFAULT_ADMIN_ROLE")
    for bad in [(0, 60), (65, 60), (5, 0)]:
        err = monitor.revert_of(c.setRateLimit(*bad), monitor.admin)
        assert (err.name, err.args) == ("InvalidRateLimit", bad)
    receipt = monitor.send(c.setRateLimit(1, 60), monitor.admin)
    (event,) = monitor.events(receipt, "RateLimitSet")
    assert (event.args.maxActionsPerWindow, event.args.windowSeconds, event.args.by) == (1, 60, monitor.admin)
    assert (c.maxActionsPerWindow().call(), c.windowSeconds().call()) == (1, 60)
    _pause_unpause(monitor, "a")
    assert monitor.revert_of(c.pause(monitor.module, incident("b"), EVIDENCE), monitor.watchdog).name == (
        "RateLimited"
    )
    # Raising the limit applies at once, against the recorded history.
    monitor.send(c.setRateLimit(2, 60), monitor.admin)
    monitor.send(c.pause(monitor.module, incident("b"), EVIDENCE), monitor.watchdog)


def test_rate_limit_ring_buffer_wraps(monitor: Deployment, anvil: AnvilNode) -> None:
    """More actions than the ring holds, at the cap: the limit still counts the right timestamps."""
    c = monitor.contract.functions
    cap = c.MAX_ACTIONS_PER_WINDOW_CAP().call()
    monitor.send(c.setRateLimit(cap, 10_000), monitor.admin)
    add_version(monitor, 2, activate=True)
    # Rollbacks between 1 and 2 need no unpause in between: one transaction per watchdog action.
    for burst in ("first", "second"):
        for i in range(cap):
            rollback = c.rollback(monitor.module, 1 + i % 2, incident(f"{burst}-{i}"), EVIDENCE)
            monitor.send(rollback, monitor.watchdog)
        over = c.pause(monitor.module, incident(f"{burst}-over"), EVIDENCE)
        assert monitor.revert_of(over, monitor.watchdog).name == "RateLimited"
        used, next_at = c.rateLimitState(monitor.module).call()
        assert used == cap and next_at > monitor.w3.eth.get_block("latest")["timestamp"]
        anvil.increase_time(10_001)
    assert c.rateLimitState(monitor.module).call()[0] == 0
    monitor.send(c.pause(monitor.module, incident("after"), EVIDENCE), monitor.watchdog)


# ---------------------------------------------------------------------------------------------------
# Heartbeat
# ---------------------------------------------------------------------------------------------------


def test_heartbeat_records_report_hash(monitor: Deployment) -> None:
    c = monitor.contract.functions
    report = keccak(text="weekly report 2026-W21")
    receipt = monitor.send(c.heartbeat(report), monitor.watchdog)
    at = monitor.block_timestamp(receipt)
    (event,) = monitor.events(receipt, "Heartbeat")
    assert dict(event.args) == {"by": monitor.watchdog, "reportHash": report, "at": at}
    assert c.lastReportHash().call() == report
    assert c.lastReportAt().call() == at
    assert c.lastHeartbeatAt().call() == at
    assert c.lastHeartbeatBy().call() == monitor.watchdog
    # A plain liveness heartbeat keeps the anchored report.
    receipt = monitor.send(c.heartbeat(ZERO), monitor.watchdog)
    assert c.lastHeartbeatAt().call() == monitor.block_timestamp(receipt)
    assert c.lastReportHash().call() == report
    assert c.lastReportAt().call() == at


# ---------------------------------------------------------------------------------------------------
# Admin transfer
# ---------------------------------------------------------------------------------------------------


def test_admin_transfer_is_delayed(monitor: Deployment, anvil: AnvilNode) -> None:
    c = monitor.contract.functions
    new_admin = anvil.accounts[5].address
    admin_role = monitor.role("DEFAULT_ADMIN_ROLE")
    # No shortcut around the two-step transfer.
    err = monitor.revert_of(c.grantRole(admin_role, new_admin), monitor.admin)
    assert err.name == "AccessControlEnforcedDefaultAdminRules"
    assert_unauthorized(
        monitor, c.beginDefaultAdminTransfer(new_admin), monitor.council, "DEFAULT_ADMIN_ROLE"
    )

    receipt = monitor.send(c.beginDefaultAdminTransfer(new_admin), monitor.admin)
    pending, schedule = c.pendingDefaultAdmin().call()
    assert pending == new_admin
    assert schedule == monitor.block_timestamp(receipt) + ADMIN_DELAY

    err = monitor.revert_of(c.acceptDefaultAdminTransfer(), new_admin)
    assert (err.name, err.args) == ("AccessControlEnforcedDefaultAdminDelay", (schedule,))
    assert monitor.revert_of(c.acceptDefaultAdminTransfer(), monitor.outsider).name == (
        "AccessControlInvalidDefaultAdmin"
    )

    anvil.increase_time(ADMIN_DELAY + 1)
    monitor.send(c.acceptDefaultAdminTransfer(), new_admin)
    assert c.defaultAdmin().call() == new_admin
    assert c.hasRole(admin_role, monitor.admin).call() is False
    assert_unauthorized(monitor, c.setRateLimit(3, 60), monitor.admin, "DEFAULT_ADMIN_ROLE")
    monitor.send(c.setRateLimit(3, 60), new_admin)


# ---------------------------------------------------------------------------------------------------
# Gas and artifact
# ---------------------------------------------------------------------------------------------------


def test_gas_per_action(monitor: Deployment) -> None:
    """Gas of each action (printed with -s); generous bounds catch accidental blow-ups."""
    c = monitor.contract.functions
    gas = {
        "propose": monitor.send(
            c.proposeVersion(monitor.module, 2, ARTIFACT_V1, METADATA_V1), monitor.proposer
        ),
        "approve": monitor.send(c.approveVersion(monitor.module, 2), monitor.council),
        "activate": monitor.send(c.activateVersion(monitor.module, 2), monitor.council),
        "pause": monitor.send(c.pause(monitor.module, incident(1), EVIDENCE), monitor.watchdog),
        "rollback": monitor.send(c.rollback(monitor.module, 1, incident(2), EVIDENCE), monitor.watchdog),
        "unpause": monitor.send(c.unpause(monitor.module), monitor.council),
        "heartbeat": monitor.send(c.heartbeat(keccak(text="report")), monitor.watchdog),
    }
    used = {name: receipt["gasUsed"] for name, receipt in gas.items()}
    print("\n" + "\n".join(f"{name:>10}: {value:>7,} gas" for name, value in used.items()))
    assert all(value < 200_000 for value in used.values()), used


def test_committed_artifact_matches_source() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so contracts/compile.js --check cannot run")
    if not (REPO_ROOT / "contracts" / "node_modules" / "solc").is_dir():
        pytest.skip("contracts/node_modules/solc is missing; run `cd contracts && npm ci`")
    result = subprocess.run(
        [node, str(REPO_ROOT / "contracts" / "compile.js"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_artifact_shape() -> None:
    artifact = load_artifact()
    assert artifact["contractName"] == "ModelMonitor"
    assert artifact["bytecode"].startswith("0x") and artifact["deployedBytecode"].startswith("0x")
    assert artifact["compiler"]["version"].startswith("0.8.")
    assert artifact["settings"] == {"evmVersion": "cancun", "optimizer": {"enabled": True, "runs": 200}}
    assert artifact["sourceHash"].startswith("0x") and len(artifact["sourceHash"]) == 66
    assert "src/ModelMonitor.sol" in artifact["sources"]
    # EIP-170: the runtime code must fit in 24 KiB.
    assert (len(artifact["deployedBytecode"]) - 2) // 2 <= 24_576
