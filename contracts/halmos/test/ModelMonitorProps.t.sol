// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ModelMonitor} from "../src/ModelMonitor.sol";

/// @dev The few Foundry cheatcodes halmos interprets that these properties need.
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 timestamp) external;
    function assume(bool condition) external;
}

/**
 * @title ModelMonitorProps
 * @notice Symbolic properties of {ModelMonitor}, proved by halmos for every value of each `check_`
 *         function's arguments (loops unrolled to the bound the test runner passes). Run from contracts/:
 *         `halmos --loop 4` (tests/contracts/test_analysis.py runs them, and shows that each one fails on
 *         a copy of the contract with a bug planted for it).
 *
 * Deployment of every check: this contract is the admin and the proposer, `COUNCIL` the council, `OP_A`,
 * `OP_B`, `OP_C` the watchdog operators; `MODULE` is registered with versions 1 (approved, was active) and
 * 2 (approved, active), so rollbacks have a target; the rate limit is 2 actions per `WINDOW`.
 */
contract ModelMonitorProps {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    bytes32 private constant MODULE = keccak256("risk-engine");
    address private constant COUNCIL = address(0xC0C0);
    address private constant OP_A = address(0xA001);
    address private constant OP_B = address(0xB002);
    address private constant OP_C = address(0xC003);
    address private constant OUTSIDER = address(0xDEAD);
    uint32 private constant WINDOW = 3600;
    uint256 private constant START = 1_700_000_000;

    ModelMonitor private monitor;

    function setUp() public {
        vm.warp(START);
        monitor = new ModelMonitor(3 days, address(this), 2, WINDOW);
        monitor.grantRole(monitor.COUNCIL_ROLE(), COUNCIL);
        monitor.grantRole(monitor.PROPOSER_ROLE(), address(this));
        monitor.grantRole(monitor.WATCHDOG_ROLE(), OP_A);
        monitor.grantRole(monitor.WATCHDOG_ROLE(), OP_B);
        monitor.grantRole(monitor.WATCHDOG_ROLE(), OP_C);
        vm.prank(COUNCIL);
        monitor.registerModule(MODULE);
        monitor.proposeVersion(MODULE, 1, keccak256("weights v1"), bytes32(0));
        monitor.proposeVersion(MODULE, 2, keccak256("weights v2"), bytes32(0));
        vm.startPrank(COUNCIL);
        monitor.approveVersion(MODULE, 1);
        monitor.approveVersion(MODULE, 2);
        monitor.activateVersion(MODULE, 1);
        monitor.activateVersion(MODULE, 2);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------------------------------------
    // 1. No k-1 operators pause.
    // ---------------------------------------------------------------------------------------------

    /// @notice With quorum 3, two operators (k - 1) vote for an incident, each for any evidence hash, at
    ///         any times, with any vote window, and one of them votes again later: the module never pauses.
    function check_noPauseWithFewerThanQuorumOperators(
        uint32 voteWindow,
        bytes32 incidentId,
        bytes32 eA,
        bytes32 eB,
        bool bFirst,
        bool againB,
        uint32[3] memory gaps
    ) public {
        vm.assume(voteWindow > 0);
        monitor.setPauseConfig(MODULE, 3, voteWindow, 0, false);
        _tryVote(bFirst ? OP_B : OP_A, incidentId, bFirst ? eB : eA, gaps[0]);
        _tryVote(bFirst ? OP_A : OP_B, incidentId, bFirst ? eA : eB, gaps[1]);
        _tryVote(againB ? OP_B : OP_A, incidentId, againB ? eB : eA, gaps[2]);
        assert(!monitor.isPaused(MODULE));
        assert(monitor.isActive(MODULE));
    }

    function _tryVote(address voter, bytes32 incidentId, bytes32 evidenceHash, uint32 gap) private {
        vm.warp(block.timestamp + gap);
        vm.prank(voter);
        try monitor.votePause(MODULE, incidentId, evidenceHash) {} catch {}
    }

    // ---------------------------------------------------------------------------------------------
    // 2. A watchdog pause never outlives its expiry unless the council extends it.
    // ---------------------------------------------------------------------------------------------

    /// @notice A watchdog pause with `maxPauseDuration = d` started at t0 ends at t0 + d, whatever a
    ///         watchdog or an outsider does meanwhile (pause or vote again, expire, extend, unpause, re-arm,
    ///         reconfigure); only a council extension to `until` makes it last to `until`, and no further.
    function check_pauseEndsAtItsExpiryUnlessExtended(
        uint32 d,
        bytes32 incidentId,
        bytes32 evidenceHash,
        bool outsider,
        uint8 action,
        uint32 callAfter,
        bytes32 otherIncident,
        uint64 anyTime,
        bool extend,
        uint64 until,
        uint32 lateBy
    ) public {
        vm.assume(d > 0);
        monitor.setPauseConfig(MODULE, 1, 0, d, false);
        vm.prank(OP_A);
        monitor.pause(MODULE, incidentId, evidenceHash);
        uint256 expiry = block.timestamp + d;
        assert(monitor.pausedUntil(MODULE) == expiry);

        vm.assume(callAfter < d);
        vm.warp(block.timestamp + callAfter);
        _otherCall(outsider ? OUTSIDER : OP_B, action % 8, otherIncident, evidenceHash, anyTime);
        assert(monitor.pausedUntil(MODULE) == expiry);

        uint256 end = expiry;
        if (extend) {
            vm.assume(until > expiry);
            vm.prank(COUNCIL);
            monitor.extendPause(MODULE, until);
            end = until;
            vm.warp(end - 1);
            assert(monitor.isPaused(MODULE));
        }
        vm.warp(end + lateBy);
        assert(!monitor.isPaused(MODULE));
        assert(monitor.isActive(MODULE));
    }

    /// @dev One call by `caller` (not the council, not the admin); whether it reverts does not matter.
    function _otherCall(address caller, uint8 action, bytes32 incidentId, bytes32 evidenceHash, uint64 anyTime)
        private
    {
        bytes memory call;
        if (action == 0) call = abi.encodeCall(ModelMonitor.pause, (MODULE, incidentId, evidenceHash));
        else if (action == 1) call = abi.encodeCall(ModelMonitor.votePause, (MODULE, incidentId, evidenceHash));
        else if (action == 2) call = abi.encodeCall(ModelMonitor.expirePause, (MODULE));
        else if (action == 3) call = abi.encodeCall(ModelMonitor.extendPause, (MODULE, anyTime));
        else if (action == 4) call = abi.encodeCall(ModelMonitor.unpause, (MODULE));
        else if (action == 5) call = abi.encodeCall(ModelMonitor.rearmOperator, (MODULE, caller));
        else if (action == 6) call = abi.encodeCall(ModelMonitor.setPauseConfig, (MODULE, 1, 0, 0, false));
        else call = abi.encodeCall(ModelMonitor.rollback, (MODULE, 1, incidentId, evidenceHash));
        vm.prank(caller);
        (bool ok,) = address(monitor).call(call);
        ok;
    }

    // ---------------------------------------------------------------------------------------------
    // 3. An incident id is used once.
    // ---------------------------------------------------------------------------------------------

    /// @notice Once a pause (by a watchdog, by a quorum of two votes, or by the council) or a rollback used
    ///         an incident id, no later pause, vote or rollback with it succeeds, by anyone.
    function check_incidentIdIsUsedOnce(
        bytes32 incidentId,
        bytes32 e1,
        bytes32 e2,
        uint8 firstUse,
        uint8 secondUse,
        uint8 who,
        uint64 version
    ) public {
        _useIncident(firstUse % 4, incidentId, e1);
        assert(monitor.incidentUsed(incidentId));
        // Clear the way: unpause and allow more actions, so only the incident id can stop the next one.
        vm.prank(COUNCIL);
        try monitor.unpause(MODULE) {} catch {}
        monitor.setRateLimit(64, WINDOW);

        address caller = who % 4 == 0 ? OP_A : (who % 4 == 1 ? OP_B : (who % 4 == 2 ? OP_C : COUNCIL));
        uint8 action = secondUse % 3;
        bytes memory call;
        if (action == 0) call = abi.encodeCall(ModelMonitor.pause, (MODULE, incidentId, e2));
        else if (action == 1) call = abi.encodeCall(ModelMonitor.votePause, (MODULE, incidentId, e2));
        else call = abi.encodeCall(ModelMonitor.rollback, (MODULE, version, incidentId, e2));
        vm.prank(caller);
        (bool ok,) = address(monitor).call(call);
        assert(!ok);
    }

    function _useIncident(uint8 how, bytes32 incidentId, bytes32 evidenceHash) private {
        if (how == 0) {
            vm.prank(OP_A);
            monitor.pause(MODULE, incidentId, evidenceHash);
        } else if (how == 1) {
            vm.prank(COUNCIL);
            monitor.pause(MODULE, incidentId, evidenceHash);
        } else if (how == 2) {
            vm.prank(OP_B);
            monitor.rollback(MODULE, 1, incidentId, evidenceHash);
        } else {
            monitor.setPauseConfig(MODULE, 2, 600, 0, false);
            vm.prank(OP_A);
            monitor.votePause(MODULE, incidentId, evidenceHash);
            vm.prank(OP_C);
            monitor.votePause(MODULE, incidentId, evidenceHash);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // 4. The rate limit holds.
    // ---------------------------------------------------------------------------------------------

    /// @notice With at most 2 watchdog actions per `w` seconds, three successful watchdog actions (pauses
    ///         or rollbacks, by any operators, with council unpauses between) are never within `w` seconds.
    function check_rateLimitHolds(uint32 w, bool[3] memory rollback_, bool[3] memory byB, uint32[3] memory gaps)
        public
    {
        vm.assume(w > 0);
        monitor.setRateLimit(2, w);
        uint256 succeeded = 0;
        uint256 firstAt = 0;
        for (uint256 i = 0; i < 3; ++i) {
            vm.warp(block.timestamp + gaps[i]);
            address op = byB[i] ? OP_B : OP_A;
            bytes32 incidentId = keccak256(abi.encode("incident", i));
            bool ok;
            (, , uint64 active) = monitor.moduleInfo(MODULE);
            vm.prank(op);
            if (rollback_[i]) {
                try monitor.rollback(MODULE, active == 1 ? 2 : 1, incidentId, keccak256("evidence")) {
                    ok = true;
                } catch {}
            } else {
                try monitor.pause(MODULE, incidentId, keccak256("evidence")) {
                    ok = true;
                } catch {}
                vm.prank(COUNCIL);
                try monitor.unpause(MODULE) {} catch {}
            }
            if (ok) {
                if (succeeded == 0) firstAt = block.timestamp;
                ++succeeded;
            }
        }
        if (succeeded == 3) assert(block.timestamp >= firstAt + w);
    }

    // ---------------------------------------------------------------------------------------------
    // 5. A rollback lands only on an approved, earlier-active version.
    // ---------------------------------------------------------------------------------------------

    /// @notice After any history of a version 3 (proposed, maybe approved, activated, deprecated or revoked,
    ///         in the order of the booleans) next to versions 1 (was active) and 2 (active), a watchdog
    ///         rollback to any version that succeeds lands on a version that was Approved, had been active
    ///         before, and was not the active one.
    function check_rollbackOnlyToApprovedEarlierActive(bool[4] memory steps, uint64 to) public {
        _history(3, steps);
        (ModelMonitor.VersionStatus status, , , bool wasActive) = monitor.versionInfo(MODULE, to);
        (, , uint64 activeBefore) = monitor.moduleInfo(MODULE);
        vm.prank(OP_A);
        try monitor.rollback(MODULE, to, keccak256("incident"), keccak256("evidence")) {
            (, , uint64 activeAfter) = monitor.moduleInfo(MODULE);
            assert(status == ModelMonitor.VersionStatus.Approved);
            assert(wasActive);
            assert(to != activeBefore);
            assert(activeAfter == to);
        } catch {}
    }

    /// @dev Propose `version`, then, each step switched on by a boolean: approve, activate, (back to
    ///      version 2, then) deprecate, revoke. Steps that the lifecycle refuses are skipped.
    function _history(uint64 version, bool[4] memory steps) private {
        monitor.proposeVersion(MODULE, version, keccak256(abi.encode("weights", version)), bytes32(0));
        vm.startPrank(COUNCIL);
        if (steps[0]) try monitor.approveVersion(MODULE, version) {} catch {}
        if (steps[1]) {
            try monitor.activateVersion(MODULE, version) {} catch {}
            try monitor.activateVersion(MODULE, 2) {} catch {}
        }
        if (steps[2]) try monitor.deprecateVersion(MODULE, version) {} catch {}
        if (steps[3]) try monitor.revokeVersion(MODULE, version) {} catch {}
        vm.stopPrank();
    }
}
