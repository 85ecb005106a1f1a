// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

/**
 * @title ModelMonitor
 * @author ml-watchdog
 * @notice On-chain registry and circuit breaker for ML-model modules that steer a protocol.
 *
 * A consuming protocol asks {isActive} (or calls {requireActive}) before it trusts a module's model.
 * Governance decides which model versions may run; the off-chain watchdog may only stop a module
 * ({pause}) or put back a version that governance approved and that already ran ({rollback}).
 *
 * Roles:
 * - `DEFAULT_ADMIN_ROLE` (the DAO timelock), managed by OpenZeppelin's {AccessControlDefaultAdminRules}:
 *   one holder, transferred in two delayed steps. It grants and revokes every other role and sets the
 *   watchdog rate limit.
 * - `COUNCIL_ROLE` registers modules, approves / deprecates / revokes versions, activates a version,
 *   unpauses; it may also pause and roll back, without a rate limit.
 * - `PROPOSER_ROLE` proposes versions.
 * - `WATCHDOG_ROLE` pauses, rolls back to an approved version that was active before, and sends
 *   heartbeats. Its pauses and rollbacks are rate-limited per module, so a stolen watchdog key can at
 *   worst stop modules, never steer them.
 *
 * Version lifecycle: `None -> Proposed -> Approved <-> Deprecated`, and any existing version can be
 * `Revoked` (terminal). Version number 0 is reserved for "no active version".
 *
 * Rate limit: a true sliding window. A watchdog pause or rollback on a module at time `t` is allowed
 * only if fewer than `maxActionsPerWindow` watchdog actions on that module happened in `(t - windowSeconds, t]`.
 * The contract keeps the timestamps of the last {MAX_ACTIONS_PER_WINDOW_CAP} watchdog actions per module in a
 * ring buffer, which is why `maxActionsPerWindow` is capped; changing the limit takes effect at once
 * and keeps the recorded history.
 *
 * Incident ids are idempotency keys shared with the off-chain outbox: each non-zero id can be used by
 * exactly one pause or rollback, ever, whoever sends it.
 */
contract ModelMonitor is AccessControlDefaultAdminRules {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice Lifecycle status of a model version.
    enum VersionStatus {
        None,
        Proposed,
        Approved,
        Deprecated,
        Revoked
    }

    /// @dev Per-module state, packed in one storage slot.
    /// @param registered Whether {registerModule} was called for the module.
    /// @param paused Whether the module is paused.
    /// @param activeVersion The active version, 0 if none was ever activated.
    /// @param watchdogActions Number of rate-limited (watchdog) actions ever taken on the module.
    struct Module {
        bool registered;
        bool paused;
        uint64 activeVersion;
        uint64 watchdogActions;
    }

    /// @dev One version of a module's model.
    /// @param status Lifecycle status.
    /// @param wasActive Whether the version has ever been the active version.
    /// @param artifactHash Hash of the model artifact (weights, code) that this version denotes.
    /// @param metadataHash Hash of the metadata document (training data, evaluation, policy), may be zero.
    struct Version {
        VersionStatus status;
        bool wasActive;
        bytes32 artifactHash;
        bytes32 metadataHash;
    }

    // ---------------------------------------------------------------------------------------------
    // Constants and storage
    // ---------------------------------------------------------------------------------------------

    /// @notice Role that governs versions and unpauses modules.
    bytes32 public constant COUNCIL_ROLE = keccak256("COUNCIL_ROLE");

    /// @notice Role that proposes new versions.
    bytes32 public constant PROPOSER_ROLE = keccak256("PROPOSER_ROLE");

    /// @notice Role of the off-chain watchdog: pause, rollback, heartbeat.
    bytes32 public constant WATCHDOG_ROLE = keccak256("WATCHDOG_ROLE");

    /// @notice Largest allowed `maxActionsPerWindow`; the size of the per-module ring buffer.
    uint32 public constant MAX_ACTIONS_PER_WINDOW_CAP = 64;

    /// @notice Maximum number of watchdog actions per module in any window of `windowSeconds`.
    uint32 public maxActionsPerWindow;

    /// @notice Length of the sliding rate-limit window, in seconds.
    uint32 public windowSeconds;

    // Declaration order packs storage: the rate limit with `lastReportAt`, the heartbeat time with its sender.

    /// @notice Timestamp at which {lastReportHash} was anchored, 0 if never.
    uint64 public lastReportAt;

    /// @notice Account that sent the last {heartbeat}.
    address public lastHeartbeatBy;

    /// @notice Timestamp of the last {heartbeat}, 0 if none.
    uint64 public lastHeartbeatAt;

    /// @notice Last non-zero report hash anchored through {heartbeat}.
    bytes32 public lastReportHash;

    /// @dev Module id => module state.
    mapping(bytes32 module => Module) private _modules;

    /// @dev Module id => version number => version.
    mapping(bytes32 module => mapping(uint64 version => Version)) private _versions;

    /// @dev Module id => ring buffer of the timestamps of the last watchdog actions, indexed by
    ///      `actionNumber % MAX_ACTIONS_PER_WINDOW_CAP`.
    mapping(bytes32 module => uint64[MAX_ACTIONS_PER_WINDOW_CAP]) private _watchdogActionTimes;

    /// @dev Incident id => whether a pause or rollback already used it.
    mapping(bytes32 incidentId => bool) private _incidentUsed;

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice A module was registered.
    /// @param module The module id.
    /// @param by The council member who registered it.
    event ModuleRegistered(bytes32 indexed module, address indexed by);

    /// @notice A version was proposed.
    /// @param module The module id.
    /// @param version The version number.
    /// @param artifactHash Hash of the model artifact.
    /// @param metadataHash Hash of the metadata document.
    /// @param by The proposer.
    event VersionProposed(
        bytes32 indexed module, uint64 indexed version, bytes32 artifactHash, bytes32 metadataHash, address indexed by
    );

    /// @notice A version was approved (from Proposed or Deprecated).
    /// @param module The module id.
    /// @param version The version number.
    /// @param by The council member.
    event VersionApproved(bytes32 indexed module, uint64 indexed version, address indexed by);

    /// @notice An approved version was deprecated: it stays known but can no longer be activated or rolled back to.
    /// @param module The module id.
    /// @param version The version number.
    /// @param by The council member.
    event VersionDeprecated(bytes32 indexed module, uint64 indexed version, address indexed by);

    /// @notice A version was revoked for good.
    /// @param module The module id.
    /// @param version The version number.
    /// @param wasActiveVersion Whether it was the module's active version (the module is then paused).
    /// @param by The council member.
    event VersionRevoked(bytes32 indexed module, uint64 indexed version, bool wasActiveVersion, address indexed by);

    /// @notice The council made a version the active one.
    /// @param module The module id.
    /// @param previousVersion The version active before, 0 if none.
    /// @param version The new active version.
    /// @param by The council member.
    event VersionActivated(bytes32 indexed module, uint64 previousVersion, uint64 indexed version, address indexed by);

    /// @notice A module was paused.
    /// @dev `incidentId` and `evidenceHash` are zero only when the pause follows the revocation of the
    ///      active version ({revokeVersion}).
    /// @param module The module id.
    /// @param incidentId The incident that caused the pause.
    /// @param evidenceHash Hash of the evidence behind the incident.
    /// @param by The watchdog or council member.
    event ModulePaused(bytes32 indexed module, bytes32 indexed incidentId, bytes32 evidenceHash, address indexed by);

    /// @notice A module was unpaused.
    /// @param module The module id.
    /// @param by The council member.
    event ModuleUnpaused(bytes32 indexed module, address indexed by);

    /// @notice A module was rolled back to an earlier active, still approved, version.
    /// @param module The module id.
    /// @param incidentId The incident that caused the rollback.
    /// @param fromVersion The version active before.
    /// @param toVersion The version active now.
    /// @param evidenceHash Hash of the evidence behind the incident.
    /// @param by The watchdog or council member.
    event ModuleRolledBack(
        bytes32 indexed module,
        bytes32 indexed incidentId,
        uint64 fromVersion,
        uint64 toVersion,
        bytes32 evidenceHash,
        address indexed by
    );

    /// @notice The watchdog rate limit changed.
    /// @param maxActionsPerWindow New maximum number of watchdog actions per module per window.
    /// @param windowSeconds New window length in seconds.
    /// @param by The admin.
    event RateLimitSet(uint32 maxActionsPerWindow, uint32 windowSeconds, address indexed by);

    /// @notice A watchdog reported that it is alive, optionally anchoring a report hash.
    /// @param by The watchdog.
    /// @param reportHash The anchored report hash, zero for a plain liveness signal.
    /// @param at The block timestamp.
    event Heartbeat(address indexed by, bytes32 reportHash, uint256 at);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice The module id is zero.
    error InvalidModuleId();

    /// @notice The module is already registered.
    /// @param module The module id.
    error ModuleAlreadyRegistered(bytes32 module);

    /// @notice The module is not registered.
    /// @param module The module id.
    error ModuleNotRegistered(bytes32 module);

    /// @notice Version number 0 is reserved for "no active version".
    error InvalidVersionNumber();

    /// @notice A version must name a non-zero artifact hash.
    error ZeroArtifactHash();

    /// @notice The version was already proposed.
    /// @param module The module id.
    /// @param version The version number.
    error VersionAlreadyExists(bytes32 module, uint64 version);

    /// @notice The version was never proposed.
    /// @param module The module id.
    /// @param version The version number.
    error VersionNotFound(bytes32 module, uint64 version);

    /// @notice The version's status does not allow this transition.
    /// @param module The module id.
    /// @param version The version number.
    /// @param status The version's current status.
    error InvalidVersionStatus(bytes32 module, uint64 version, VersionStatus status);

    /// @notice The version must be Approved for this action.
    /// @param module The module id.
    /// @param version The version number.
    /// @param status The version's current status.
    error VersionNotApproved(bytes32 module, uint64 version, VersionStatus status);

    /// @notice A rollback target must have been the active version before.
    /// @param module The module id.
    /// @param version The version number.
    error VersionNeverActive(bytes32 module, uint64 version);

    /// @notice The version is already the active version.
    /// @param module The module id.
    /// @param version The version number.
    error VersionAlreadyActive(bytes32 module, uint64 version);

    /// @notice The active version cannot be deprecated; activate another version first (or revoke it).
    /// @param module The module id.
    /// @param version The version number.
    error CannotDeprecateActiveVersion(bytes32 module, uint64 version);

    /// @notice Pauses and rollbacks need a non-zero incident id.
    error ZeroIncidentId();

    /// @notice Pauses and rollbacks need a non-zero evidence hash.
    error ZeroEvidenceHash();

    /// @notice The incident id was already used by a pause or rollback.
    /// @param incidentId The incident id.
    error IncidentAlreadyUsed(bytes32 incidentId);

    /// @notice The module is already paused.
    /// @param module The module id.
    error AlreadyPaused(bytes32 module);

    /// @notice The module is not paused.
    /// @param module The module id.
    error NotPaused(bytes32 module);

    /// @notice The module is paused ({requireActive}).
    /// @param module The module id.
    error ModuleIsPaused(bytes32 module);

    /// @notice The module has no active version.
    /// @param module The module id.
    error NoActiveVersion(bytes32 module);

    /// @notice The module's active version is not Approved.
    /// @param module The module id.
    /// @param version The active version.
    /// @param status Its status.
    error ActiveVersionNotApproved(bytes32 module, uint64 version, VersionStatus status);

    /// @notice The watchdog used up its actions on this module for the current window.
    /// @param module The module id.
    /// @param retryAt The earliest block timestamp at which the next watchdog action on the module is allowed.
    error RateLimited(bytes32 module, uint64 retryAt);

    /// @notice The rate limit must allow 1 to {MAX_ACTIONS_PER_WINDOW_CAP} actions per non-empty window.
    /// @param maxActionsPerWindow The rejected maximum.
    /// @param windowSeconds The rejected window length.
    error InvalidRateLimit(uint32 maxActionsPerWindow, uint32 windowSeconds);

    // ---------------------------------------------------------------------------------------------
    // Construction and configuration
    // ---------------------------------------------------------------------------------------------

    /**
     * @notice Deploys the monitor. No role but the admin is granted; the admin grants the others.
     * @param adminDelay Delay, in seconds, of a default admin transfer (see {AccessControlDefaultAdminRules}).
     * @param admin The initial default admin, meant to be the DAO timelock.
     * @param maxActionsPerWindow_ Maximum watchdog actions per module per window (1 to {MAX_ACTIONS_PER_WINDOW_CAP}).
     * @param windowSeconds_ Length of the sliding window in seconds (non-zero).
     */
    constructor(uint48 adminDelay, address admin, uint32 maxActionsPerWindow_, uint32 windowSeconds_)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        _setRateLimit(maxActionsPerWindow_, windowSeconds_);
    }

    /**
     * @notice Sets the watchdog rate limit; takes effect at once for every module.
     * @param maxActionsPerWindow_ Maximum watchdog actions per module per window (1 to {MAX_ACTIONS_PER_WINDOW_CAP}).
     * @param windowSeconds_ Length of the sliding window in seconds (non-zero).
     */
    function setRateLimit(uint32 maxActionsPerWindow_, uint32 windowSeconds_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRateLimit(maxActionsPerWindow_, windowSeconds_);
    }

    // ---------------------------------------------------------------------------------------------
    // Registry
    // ---------------------------------------------------------------------------------------------

    /**
     * @notice Registers a module so that versions can be proposed for it.
     * @param module The module id (non-zero).
     */
    function registerModule(bytes32 module) external onlyRole(COUNCIL_ROLE) {
        if (module == bytes32(0)) revert InvalidModuleId();
        Module storage m = _modules[module];
        if (m.registered) revert ModuleAlreadyRegistered(module);
        m.registered = true;
        emit ModuleRegistered(module, _msgSender());
    }

    /**
     * @notice Proposes a new version of a registered module.
     * @param module The module id.
     * @param version The version number (non-zero, not used before for this module).
     * @param artifactHash Hash of the model artifact (non-zero).
     * @param metadataHash Hash of the metadata document (may be zero).
     */
    function proposeVersion(bytes32 module, uint64 version, bytes32 artifactHash, bytes32 metadataHash)
        external
        onlyRole(PROPOSER_ROLE)
    {
        _requireRegistered(module);
        if (version == 0) revert InvalidVersionNumber();
        if (artifactHash == bytes32(0)) revert ZeroArtifactHash();
        Version storage v = _versions[module][version];
        if (v.status != VersionStatus.None) revert VersionAlreadyExists(module, version);
        v.status = VersionStatus.Proposed;
        v.artifactHash = artifactHash;
        v.metadataHash = metadataHash;
        emit VersionProposed(module, version, artifactHash, metadataHash, _msgSender());
    }

    /**
     * @notice Approves a Proposed version, or re-approves a Deprecated one.
     * @param module The module id.
     * @param version The version number.
     */
    function approveVersion(bytes32 module, uint64 version) external onlyRole(COUNCIL_ROLE) {
        Version storage v = _existingVersion(module, version);
        VersionStatus status = v.status;
        if (status != VersionStatus.Proposed && status != VersionStatus.Deprecated) {
            revert InvalidVersionStatus(module, version, status);
        }
        v.status = VersionStatus.Approved;
        emit VersionApproved(module, version, _msgSender());
    }

    /**
     * @notice Deprecates an Approved version that is not active: it can no longer be activated or
     *         rolled back to until it is approved again.
     * @param module The module id.
     * @param version The version number.
     */
    function deprecateVersion(bytes32 module, uint64 version) external onlyRole(COUNCIL_ROLE) {
        Version storage v = _existingVersion(module, version);
        if (v.status != VersionStatus.Approved) revert InvalidVersionStatus(module, version, v.status);
        if (_modules[module].activeVersion == version) revert CannotDeprecateActiveVersion(module, version);
        v.status = VersionStatus.Deprecated;
        emit VersionDeprecated(module, version, _msgSender());
    }

    /**
     * @notice Revokes a version for good. Revoking the active version also pauses the module
     *         (a {ModulePaused} event with zero incident id and evidence hash) unless it is paused already.
     * @param module The module id.
     * @param version The version number.
     */
    function revokeVersion(bytes32 module, uint64 version) external onlyRole(COUNCIL_ROLE) {
        Version storage v = _existingVersion(module, version);
        if (v.status == VersionStatus.Revoked) revert InvalidVersionStatus(module, version, v.status);
        v.status = VersionStatus.Revoked;
        Module storage m = _modules[module];
        bool isActiveVersion = m.activeVersion == version;
        emit VersionRevoked(module, version, isActiveVersion, _msgSender());
        if (isActiveVersion && !m.paused) {
            m.paused = true;
            emit ModulePaused(module, bytes32(0), bytes32(0), _msgSender());
        }
    }

    /**
     * @notice Makes an Approved version the active one. Does not unpause the module.
     * @param module The module id.
     * @param version The version number.
     */
    function activateVersion(bytes32 module, uint64 version) external onlyRole(COUNCIL_ROLE) {
        Version storage v = _existingVersion(module, version);
        if (v.status != VersionStatus.Approved) revert VersionNotApproved(module, version, v.status);
        Module storage m = _modules[module];
        uint64 previous = m.activeVersion;
        if (previous == version) revert VersionAlreadyActive(module, version);
        m.activeVersion = version;
        v.wasActive = true;
        emit VersionActivated(module, previous, version, _msgSender());
    }

    // ---------------------------------------------------------------------------------------------
    // Emergency actions
    // ---------------------------------------------------------------------------------------------

    /**
     * @notice Pauses a module. Callable by the watchdog (rate-limited) or the council (not rate-limited).
     * @param module The module id.
     * @param incidentId The incident id (non-zero, never used before).
     * @param evidenceHash Hash of the evidence (non-zero).
     */
    function pause(bytes32 module, bytes32 incidentId, bytes32 evidenceHash) external {
        bool limited = _checkEmergencyCaller();
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        _useIncident(incidentId, evidenceHash);
        if (m.paused) revert AlreadyPaused(module);
        if (limited) _consumeWatchdogAction(module, m);
        m.paused = true;
        emit ModulePaused(module, incidentId, evidenceHash, _msgSender());
    }

    /**
     * @notice Rolls a module back to a version that is Approved and was active before. Does not
     *         unpause. Callable by the watchdog (rate-limited) or the council (not rate-limited).
     * @param module The module id.
     * @param toVersion The version to make active.
     * @param incidentId The incident id (non-zero, never used before).
     * @param evidenceHash Hash of the evidence (non-zero).
     */
    function rollback(bytes32 module, uint64 toVersion, bytes32 incidentId, bytes32 evidenceHash) external {
        bool limited = _checkEmergencyCaller();
        Version storage v = _existingVersion(module, toVersion);
        _useIncident(incidentId, evidenceHash);
        if (v.status != VersionStatus.Approved) revert VersionNotApproved(module, toVersion, v.status);
        if (!v.wasActive) revert VersionNeverActive(module, toVersion);
        Module storage m = _modules[module];
        uint64 fromVersion = m.activeVersion;
        if (fromVersion == toVersion) revert VersionAlreadyActive(module, toVersion);
        if (limited) _consumeWatchdogAction(module, m);
        m.activeVersion = toVersion;
        emit ModuleRolledBack(module, incidentId, fromVersion, toVersion, evidenceHash, _msgSender());
    }

    /**
     * @notice Unpauses a module. If the module has an active version, it must be Approved.
     * @param module The module id.
     */
    function unpause(bytes32 module) external onlyRole(COUNCIL_ROLE) {
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        if (!m.paused) revert NotPaused(module);
        uint64 active = m.activeVersion;
        if (active != 0) {
            VersionStatus status = _versions[module][active].status;
            if (status != VersionStatus.Approved) revert ActiveVersionNotApproved(module, active, status);
        }
        m.paused = false;
        emit ModuleUnpaused(module, _msgSender());
    }

    /**
     * @notice Records that a watchdog is alive and, when `reportHash` is non-zero, anchors a report hash
     *         (the weekly model health report).
     * @param reportHash The report hash, or zero for a plain liveness signal.
     */
    function heartbeat(bytes32 reportHash) external onlyRole(WATCHDOG_ROLE) {
        uint64 nowTs = uint64(block.timestamp);
        lastHeartbeatAt = nowTs;
        lastHeartbeatBy = _msgSender();
        if (reportHash != bytes32(0)) {
            lastReportHash = reportHash;
            lastReportAt = nowTs;
        }
        emit Heartbeat(_msgSender(), reportHash, block.timestamp);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /**
     * @notice Whether a module is paused (false for an unknown module).
     * @param module The module id.
     * @return paused True if paused.
     */
    function isPaused(bytes32 module) external view returns (bool paused) {
        return _modules[module].paused;
    }

    /**
     * @notice Whether a consuming protocol may trust the module now: registered, has an active
     *         version, not paused, and the active version is Approved.
     * @param module The module id.
     * @return active True if the module may be used.
     */
    function isActive(bytes32 module) external view returns (bool active) {
        Module storage m = _modules[module];
        return m.registered && m.activeVersion != 0 && !m.paused
            && _versions[module][m.activeVersion].status == VersionStatus.Approved;
    }

    /**
     * @notice Reverts unless the module may be used; see {isActive}.
     * @param module The module id.
     * @return version The active version.
     */
    function requireActive(bytes32 module) external view returns (uint64 version) {
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        if (m.paused) revert ModuleIsPaused(module);
        version = m.activeVersion;
        if (version == 0) revert NoActiveVersion(module);
        VersionStatus status = _versions[module][version].status;
        if (status != VersionStatus.Approved) revert ActiveVersionNotApproved(module, version, status);
    }

    /**
     * @notice A module's registry entry.
     * @param module The module id.
     * @return registered Whether it is registered.
     * @return paused Whether it is paused.
     * @return activeVersion The active version, 0 if none.
     */
    function moduleInfo(bytes32 module) external view returns (bool registered, bool paused, uint64 activeVersion) {
        Module storage m = _modules[module];
        return (m.registered, m.paused, m.activeVersion);
    }

    /**
     * @notice A version's registry entry (all zero for an unknown version).
     * @param module The module id.
     * @param version The version number.
     * @return status Lifecycle status.
     * @return artifactHash Hash of the model artifact.
     * @return metadataHash Hash of the metadata document.
     * @return wasActive Whether it has ever been the active version.
     */
    function versionInfo(bytes32 module, uint64 version)
        external
        view
        returns (VersionStatus status, bytes32 artifactHash, bytes32 metadataHash, bool wasActive)
    {
        Version storage v = _versions[module][version];
        return (v.status, v.artifactHash, v.metadataHash, v.wasActive);
    }

    /**
     * @notice Whether an incident id was already used by a pause or rollback.
     * @param incidentId The incident id.
     * @return used True if used.
     */
    function incidentUsed(bytes32 incidentId) external view returns (bool used) {
        return _incidentUsed[incidentId];
    }

    /**
     * @notice The watchdog's rate-limit state for a module at the current block timestamp.
     * @param module The module id.
     * @return used Watchdog actions on the module within the current window.
     * @return nextAllowedAt Earliest timestamp at which the next watchdog action is allowed
     *         (the current timestamp if one is allowed now).
     */
    function rateLimitState(bytes32 module) external view returns (uint32 used, uint64 nextAllowedAt) {
        uint64 count = _modules[module].watchdogActions;
        uint64 limit = maxActionsPerWindow;
        uint64 window = windowSeconds;
        uint64 nowTs = uint64(block.timestamp);
        uint64[MAX_ACTIONS_PER_WINDOW_CAP] storage times = _watchdogActionTimes[module];
        uint64 lookback = count < limit ? count : limit;
        for (uint64 i = 1; i <= lookback; ++i) {
            if (times[(count - i) % MAX_ACTIONS_PER_WINDOW_CAP] + window > nowTs) ++used;
        }
        nextAllowedAt = nowTs;
        if (count >= limit) {
            uint64 freeAt = times[(count - limit) % MAX_ACTIONS_PER_WINDOW_CAP] + window;
            if (freeAt > nowTs) nextAllowedAt = freeAt;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev Validates and stores the rate limit; emits {RateLimitSet}.
    /// @param maxActions Maximum watchdog actions per module per window.
    /// @param window Window length in seconds.
    function _setRateLimit(uint32 maxActions, uint32 window) private {
        if (maxActions == 0 || maxActions > MAX_ACTIONS_PER_WINDOW_CAP || window == 0) {
            revert InvalidRateLimit(maxActions, window);
        }
        maxActionsPerWindow = maxActions;
        windowSeconds = window;
        emit RateLimitSet(maxActions, window, _msgSender());
    }

    /// @dev Reverts unless the caller is council or watchdog.
    /// @return limited True if the caller acts as watchdog only, so the rate limit applies.
    function _checkEmergencyCaller() private view returns (bool limited) {
        if (hasRole(COUNCIL_ROLE, _msgSender())) return false;
        _checkRole(WATCHDOG_ROLE);
        return true;
    }

    /// @dev Reverts unless `module` is registered.
    /// @param module The module id.
    function _requireRegistered(bytes32 module) private view {
        if (!_modules[module].registered) revert ModuleNotRegistered(module);
    }

    /// @dev Returns the storage of an existing version of a registered module, or reverts.
    /// @param module The module id.
    /// @param version The version number.
    /// @return v The version's storage.
    function _existingVersion(bytes32 module, uint64 version) private view returns (Version storage v) {
        _requireRegistered(module);
        v = _versions[module][version];
        if (v.status == VersionStatus.None) revert VersionNotFound(module, version);
    }

    /// @dev Checks the incident id and evidence hash and marks the incident used.
    /// @param incidentId The incident id.
    /// @param evidenceHash The evidence hash.
    function _useIncident(bytes32 incidentId, bytes32 evidenceHash) private {
        if (incidentId == bytes32(0)) revert ZeroIncidentId();
        if (evidenceHash == bytes32(0)) revert ZeroEvidenceHash();
        if (_incidentUsed[incidentId]) revert IncidentAlreadyUsed(incidentId);
        _incidentUsed[incidentId] = true;
    }

    /// @dev Enforces the sliding-window limit for a watchdog action on `module` and records it.
    /// @param module The module id.
    /// @param m The module's storage.
    function _consumeWatchdogAction(bytes32 module, Module storage m) private {
        uint64 count = m.watchdogActions;
        uint64 limit = maxActionsPerWindow;
        uint64 nowTs = uint64(block.timestamp);
        uint64[MAX_ACTIONS_PER_WINDOW_CAP] storage times = _watchdogActionTimes[module];
        if (count >= limit) {
            // The action `limit` places back must have left the window (t - windowSeconds, t].
            uint64 freeAt = times[(count - limit) % MAX_ACTIONS_PER_WINDOW_CAP] + windowSeconds;
            if (freeAt > nowTs) revert RateLimited(module, freeAt);
        }
        times[count % MAX_ACTIONS_PER_WINDOW_CAP] = nowTs;
        m.watchdogActions = count + 1;
    }
}
