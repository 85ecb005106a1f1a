// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/**
 * @title ModelMonitor
 * @author ml-watchdog
 * @notice On-chain registry and circuit breaker for ML-model modules that steer a protocol.
 *
 * A consuming protocol asks {isActive} (or calls {requireActive}) before it trusts a module's model.
 * Governance decides which model versions may run; the off-chain watchdog may only stop a module
 * ({pause}, {votePause}, {relayPauseVotes}) or put back a version that governance approved and that
 * already ran ({rollback}).
 *
 * Roles:
 * - `DEFAULT_ADMIN_ROLE` (the DAO timelock), managed by OpenZeppelin's {AccessControlDefaultAdminRules}:
 *   one holder, transferred in two delayed steps. It grants and revokes every other role, sets the
 *   watchdog rate limit, each module's pause configuration ({setPauseConfig}) and the contest role.
 * - `COUNCIL_ROLE` registers modules, approves / deprecates / revokes versions, activates a version,
 *   unpauses, extends a watchdog pause and re-arms one-shot operators; it may also pause and roll back,
 *   without a rate limit, a quorum or an expiry. By default it also judges contested incidents.
 * - `PROPOSER_ROLE` proposes versions.
 * - `WATCHDOG_ROLE`: the registered watchdog operators. They pause (alone, or by a quorum of votes),
 *   roll back to an approved version that was active before, and send heartbeats. Their actions are
 *   rate-limited per module, so a stolen watchdog key can at worst stop modules, never steer them.
 *
 * Version lifecycle: `None -> Proposed -> Approved <-> Deprecated`, and any existing version can be
 * `Revoked` (terminal). Version number 0 is reserved for "no active version".
 *
 * Rate limit: a true sliding window. A watchdog pause or rollback on a module at time `t` is allowed
 * only if fewer than `maxActionsPerWindow` watchdog actions on that module happened in `(t - windowSeconds, t]`.
 * The contract keeps the timestamps of the last {MAX_ACTIONS_PER_WINDOW_CAP} watchdog actions per module in a
 * ring buffer, which is why `maxActionsPerWindow` is capped; changing the limit takes effect at once
 * and keeps the recorded history. A pause reached by a quorum of votes is one watchdog action.
 *
 * Incident ids are idempotency keys shared with the off-chain outbox: each non-zero id can be used by
 * exactly one pause or rollback, ever, whoever sends it.
 *
 * k-of-n pause. The operators are the holders of `WATCHDOG_ROLE` (one registry for every module, managed
 * with {grantRole} / {revokeRole}); the admin sets per module a quorum `k` ({setPauseConfig}). With
 * `k = 1` (the default) one operator pauses at once, with {pause} as before or with {votePause}. With
 * `k > 1`, {pause} by a watchdog reverts with {QuorumRequired}; each operator instead votes for an
 * `(incidentId, evidenceHash)` with {votePause}, or anyone relays the operators' EIP-712 signed votes
 * ({relayPauseVotes}, type {PAUSE_VOTE_TYPEHASH}, domain `ModelMonitor` / `1`). The module pauses at the
 * vote that makes `k` distinct operators agree on the same incident id and the same evidence hash, each
 * vote cast in the last `voteWindow` seconds, i.e. in `(now - voteWindow, now]`. At that moment a vote
 * counts only if its operator still holds `WATCHDOG_ROLE` and is armed for the module, so revoking a key
 * takes its pending votes away. An operator votes for one evidence hash per incident, for good
 * ({AlreadyVoted} otherwise); a vote for an evidence hash other than the incident's first one counts
 * only with votes for that same hash and emits {EvidenceDisagreement}. Repeating a vote that is still in
 * the window changes nothing (a no-op, so a resent or front-run vote never reverts); a vote that left the
 * window may be cast again. The first vote binds the incident to its module.
 *
 * Bounded watchdog pauses. A pause made by watchdogs (alone or by quorum) ends by itself
 * `maxPauseDuration` seconds after it started (0: never, as before) unless the council extends it
 * ({extendPause}); {isActive}, {isPaused}, {requireActive} and {moduleInfo} treat an expired pause as no
 * pause, and anyone may record the expiry with {expirePause}. Council pauses do not expire. With
 * `oneShot` set, an operator whose vote or call paused (or rolled back) a module is disarmed for that
 * module until the council re-arms it ({rearmOperator}); the rate limit applies as well.
 *
 * Contest. The holder of {contestRole} (the council unless the admin names another role) marks a
 * watchdog incident upheld or overturned, with a reason hash ({resolveIncident}); each operator whose
 * vote or call made an overturned incident has it counted in {overturnedIncidents}.
 */
contract ModelMonitor is AccessControlDefaultAdminRules, EIP712 {
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

    /// @notice Judgement of a contested watchdog incident.
    enum Verdict {
        None,
        Upheld,
        Overturned
    }

    /// @dev Per-module state, packed in one storage slot.
    /// @param registered Whether {registerModule} was called for the module.
    /// @param paused Whether the module is paused (a watchdog pause may have expired since, see `pausedUntil`).
    /// @param activeVersion The active version, 0 if none was ever activated.
    /// @param watchdogActions Number of rate-limited (watchdog) actions ever taken on the module.
    /// @param pausedUntil When the current watchdog pause ends; 0 for a pause without expiry.
    struct Module {
        bool registered;
        bool paused;
        uint64 activeVersion;
        uint64 watchdogActions;
        uint64 pausedUntil;
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

    /// @dev A module's watchdog pause configuration (all zero: quorum 1, no expiry, not one-shot).
    /// @param quorum Number of distinct operators that must agree; 0 reads as 1.
    /// @param oneShot Whether an operator is disarmed for the module by its own successful action.
    /// @param voteWindow Seconds a vote stays valid.
    /// @param maxPauseDuration Seconds a watchdog pause lasts; 0 for no expiry.
    struct PauseConfig {
        uint8 quorum;
        bool oneShot;
        uint32 voteWindow;
        uint32 maxPauseDuration;
    }

    /// @dev What a used incident id did, in one slot.
    /// @param used Whether a pause or rollback used the id.
    /// @param verdict The contest verdict.
    /// @param voterMask For a quorum pause: the indexes, in the winning ballot, of the votes that counted.
    /// @param operator For a pause or rollback by one watchdog: that watchdog; zero otherwise.
    struct Incident {
        bool used;
        Verdict verdict;
        uint32 voterMask;
        address operator;
    }

    /// @dev Votes of a not yet used incident.
    /// @param module The module the first vote bound the incident to.
    /// @param evidenceHash The first vote's evidence hash; once the quorum is reached, the winning one.
    struct IncidentVotes {
        bytes32 module;
        bytes32 evidenceHash;
    }

    /// @dev One operator's vote in a ballot, in one slot.
    /// @param operator The operator.
    /// @param castAt When the vote was cast (or relayed).
    struct Vote {
        address operator;
        uint64 castAt;
    }

    /// @notice A vote signed by an operator, for {relayPauseVotes}.
    /// @param operator The operator (an EOA, or a contract wallet that implements ERC-1271).
    /// @param deadline Last block timestamp at which the signature may be relayed.
    /// @param signature The operator's signature of the EIP-712 `PauseVote` struct.
    struct SignedVote {
        address operator;
        uint256 deadline;
        bytes signature;
    }

    // ---------------------------------------------------------------------------------------------
    // Constants and storage
    // ---------------------------------------------------------------------------------------------

    /// @notice Role that governs versions and unpauses modules.
    bytes32 public constant COUNCIL_ROLE = keccak256("COUNCIL_ROLE");

    /// @notice Role that proposes new versions.
    bytes32 public constant PROPOSER_ROLE = keccak256("PROPOSER_ROLE");

    /// @notice Role of the off-chain watchdog operators: pause, vote, rollback, heartbeat.
    bytes32 public constant WATCHDOG_ROLE = keccak256("WATCHDOG_ROLE");

    /// @notice Largest allowed `maxActionsPerWindow`; the size of the per-module ring buffer.
    uint32 public constant MAX_ACTIONS_PER_WINDOW_CAP = 64;

    /// @notice Largest allowed quorum; also the most votes a ballot ever holds.
    uint8 public constant MAX_QUORUM = 16;

    /// @notice EIP-712 type hash of a signed pause vote (domain: name `ModelMonitor`, version `1`, the
    ///         chain id and this contract's address).
    bytes32 public constant PAUSE_VOTE_TYPEHASH = keccak256(
        "PauseVote(address operator,bytes32 module,bytes32 incidentId,bytes32 evidenceHash,uint256 deadline)"
    );

    /// @dev "No index" for ballot scans.
    uint256 private constant NO_INDEX = type(uint256).max;

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

    /// @notice The role whose holders judge contested incidents ({resolveIncident}); COUNCIL_ROLE at deployment.
    bytes32 public contestRole;

    /// @notice Operator => number of its incidents that were overturned.
    mapping(address operator => uint256) public overturnedIncidents;

    /// @dev Module id => module state.
    mapping(bytes32 module => Module) private _modules;

    /// @dev Module id => version number => version.
    mapping(bytes32 module => mapping(uint64 version => Version)) private _versions;

    /// @dev Module id => ring buffer of the timestamps of the last watchdog actions, indexed by
    ///      `actionNumber % MAX_ACTIONS_PER_WINDOW_CAP`.
    // slither-disable-next-line uninitialized-state (false positive: _consumeWatchdogAction writes it element by element through a storage pointer)
    mapping(bytes32 module => uint64[MAX_ACTIONS_PER_WINDOW_CAP]) private _watchdogActionTimes;

    /// @dev Incident id => what used it.
    mapping(bytes32 incidentId => Incident) private _incidents;

    /// @dev Module id => watchdog pause configuration.
    mapping(bytes32 module => PauseConfig) private _pauseConfigs;

    /// @dev Module id => operator => disarmed by a one-shot action, until re-armed.
    mapping(bytes32 module => mapping(address operator => bool)) private _disarmed;

    /// @dev Incident id => its module and first (later: winning) evidence hash.
    mapping(bytes32 incidentId => IncidentVotes) private _incidentVotes;

    /// @dev Incident id => operator => the evidence hash it voted for.
    mapping(bytes32 incidentId => mapping(address operator => bytes32)) private _voteOf;

    /// @dev Incident id => evidence hash => the votes for that pair (at most {MAX_QUORUM} entries: a new
    ///      voter reuses the slot of a vote that no longer counts, and a ballot with `quorum` counting votes
    ///      pauses the module, which closes the incident).
    mapping(bytes32 incidentId => mapping(bytes32 evidenceHash => Vote[])) private _ballots;

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
    ///      active version ({revokeVersion}). For a quorum pause `by` is the operator whose vote completed
    ///      the quorum (not the relayer); {PauseVoted} names every voter.
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

    /// @notice A module's watchdog pause configuration changed.
    /// @param module The module id.
    /// @param quorum Distinct operators that must agree on an incident and its evidence.
    /// @param voteWindow Seconds a vote stays valid.
    /// @param maxPauseDuration Seconds a watchdog pause lasts, 0 for no expiry.
    /// @param oneShot Whether an operator's own successful action disarms it for the module.
    /// @param by The admin.
    event PauseConfigSet(
        bytes32 indexed module,
        uint8 quorum,
        uint32 voteWindow,
        uint32 maxPauseDuration,
        bool oneShot,
        address indexed by
    );

    /// @notice An operator's pause vote was recorded (cast directly or relayed).
    /// @param module The module id.
    /// @param incidentId The incident id.
    /// @param evidenceHash The evidence hash voted for.
    /// @param operator The operator.
    /// @param votes Votes for this incident and evidence hash that count now, this one included.
    /// @param quorum The module's quorum.
    event PauseVoted(
        bytes32 indexed module,
        bytes32 indexed incidentId,
        bytes32 evidenceHash,
        address indexed operator,
        uint256 votes,
        uint256 quorum
    );

    /// @notice An operator voted for an evidence hash other than the one of the incident's first vote.
    ///         The two do not count together; watchdogs should alert on this event.
    /// @param module The module id.
    /// @param incidentId The incident id.
    /// @param evidenceHash The evidence hash this operator voted for.
    /// @param operator The operator.
    /// @param firstEvidenceHash The evidence hash of the incident's first vote.
    event EvidenceDisagreement(
        bytes32 indexed module,
        bytes32 indexed incidentId,
        bytes32 evidenceHash,
        address indexed operator,
        bytes32 firstEvidenceHash
    );

    /// @notice A watchdog pause was given an expiry (emitted right after its {ModulePaused}).
    /// @param module The module id.
    /// @param incidentId The incident id.
    /// @param pausedUntil Block timestamp from which the module counts as not paused.
    event PauseBounded(bytes32 indexed module, bytes32 indexed incidentId, uint64 pausedUntil);

    /// @notice The council moved a watchdog pause's expiry later, or removed it.
    /// @param module The module id.
    /// @param previousUntil The expiry before.
    /// @param pausedUntil The new expiry, 0 for none (the pause then lasts until {unpause}).
    /// @param by The council member.
    event PauseExtended(bytes32 indexed module, uint64 previousUntil, uint64 pausedUntil, address indexed by);

    /// @notice A watchdog pause that had expired was recorded as ended ({expirePause}).
    /// @param module The module id.
    /// @param pausedUntil The expiry that passed.
    /// @param by Whoever recorded it.
    event PauseExpired(bytes32 indexed module, uint64 pausedUntil, address indexed by);

    /// @notice A one-shot operator used its action on a module and cannot act on it until re-armed.
    /// @param module The module id.
    /// @param operator The operator.
    /// @param incidentId The incident of its action.
    event OperatorDisarmed(bytes32 indexed module, address indexed operator, bytes32 indexed incidentId);

    /// @notice The council re-armed an operator for a module.
    /// @param module The module id.
    /// @param operator The operator.
    /// @param by The council member.
    event OperatorRearmed(bytes32 indexed module, address indexed operator, address indexed by);

    /// @notice The admin named the role that judges contested incidents.
    /// @param previousRole The role before.
    /// @param newRole The role now.
    /// @param by The admin.
    event ContestRoleSet(bytes32 previousRole, bytes32 newRole, address indexed by);

    /// @notice A watchdog incident was judged.
    /// @param incidentId The incident id.
    /// @param upheld True if upheld, false if overturned.
    /// @param reasonHash Hash of the written reasons.
    /// @param by The holder of {contestRole}.
    event IncidentResolved(bytes32 indexed incidentId, bool upheld, bytes32 reasonHash, address indexed by);

    /// @notice An overturned incident was counted against one of the operators that made it.
    /// @param operator The operator.
    /// @param incidentId The incident id.
    /// @param overturned The operator's overturned incidents, this one included.
    event OperatorOverturned(address indexed operator, bytes32 indexed incidentId, uint256 overturned);

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

    /// @notice The module needs a quorum of operators: vote with {votePause} or {relayPauseVotes}.
    /// @param module The module id.
    /// @param quorum The module's quorum.
    error QuorumRequired(bytes32 module, uint8 quorum);

    /// @notice The quorum must be 1 to {MAX_QUORUM}, with a non-empty vote window when above 1.
    /// @param quorum The rejected quorum.
    /// @param voteWindow The rejected vote window.
    error InvalidPauseConfig(uint8 quorum, uint32 voteWindow);

    /// @notice The incident already has votes on another module.
    /// @param incidentId The incident id.
    /// @param module The module its first vote named.
    error IncidentModuleMismatch(bytes32 incidentId, bytes32 module);

    /// @notice The operator already voted for another evidence hash of this incident.
    /// @param incidentId The incident id.
    /// @param operator The operator.
    /// @param evidenceHash The evidence hash it voted for.
    error AlreadyVoted(bytes32 incidentId, address operator, bytes32 evidenceHash);

    /// @notice The one-shot operator already acted on this module and was not re-armed since.
    /// @param module The module id.
    /// @param operator The operator.
    error OperatorNotArmed(bytes32 module, address operator);

    /// @notice The operator is armed already.
    /// @param module The module id.
    /// @param operator The operator.
    error OperatorAlreadyArmed(bytes32 module, address operator);

    /// @notice A relayed vote's deadline has passed.
    /// @param operator The operator.
    /// @param deadline The signed deadline.
    error SignatureExpired(address operator, uint256 deadline);

    /// @notice A relayed vote's signature is not the operator's.
    /// @param operator The operator.
    error InvalidSignature(address operator);

    /// @notice The module's pause has no expiry to extend (a council pause, or extended without expiry already).
    /// @param module The module id.
    error PauseNotBounded(bytes32 module);

    /// @notice A new expiry must be later than the current one (or 0 for none).
    /// @param module The module id.
    /// @param pausedUntil The rejected expiry.
    error InvalidPauseExtension(bytes32 module, uint64 pausedUntil);

    /// @notice The module's pause has not expired.
    /// @param module The module id.
    /// @param pausedUntil Its expiry (0: none).
    error PauseNotExpired(bytes32 module, uint64 pausedUntil);

    /// @notice Only incidents that watchdogs acted on can be judged.
    /// @param incidentId The incident id.
    error NotAWatchdogIncident(bytes32 incidentId);

    /// @notice The incident was judged already.
    /// @param incidentId The incident id.
    /// @param verdict The verdict it has.
    error IncidentAlreadyResolved(bytes32 incidentId, Verdict verdict);

    /// @notice A verdict needs a non-zero reason hash.
    error ZeroReasonHash();

    /// @notice The watchdogs may not judge their own incidents.
    /// @param role The rejected role.
    error InvalidContestRole(bytes32 role);

    // ---------------------------------------------------------------------------------------------
    // Construction and configuration
    // ---------------------------------------------------------------------------------------------

    /**
     * @notice Deploys the monitor. No role but the admin is granted; the admin grants the others.
     *         Every module starts with quorum 1, no pause expiry and no one-shot limit.
     * @param adminDelay Delay, in seconds, of a default admin transfer (see {AccessControlDefaultAdminRules}).
     * @param admin The initial default admin, meant to be the DAO timelock.
     * @param maxActionsPerWindow_ Maximum watchdog actions per module per window (1 to {MAX_ACTIONS_PER_WINDOW_CAP}).
     * @param windowSeconds_ Length of the sliding window in seconds (non-zero).
     */
    constructor(uint48 adminDelay, address admin, uint32 maxActionsPerWindow_, uint32 windowSeconds_)
        AccessControlDefaultAdminRules(adminDelay, admin)
        EIP712("ModelMonitor", "1")
    {
        _setRateLimit(maxActionsPerWindow_, windowSeconds_);
        contestRole = COUNCIL_ROLE;
    }

    /**
     * @notice Sets the watchdog rate limit; takes effect at once for every module.
     * @param maxActionsPerWindow_ Maximum watchdog actions per module per window (1 to {MAX_ACTIONS_PER_WINDOW_CAP}).
     * @param windowSeconds_ Length of the sliding window in seconds (non-zero).
     */
    function setRateLimit(uint32 maxActionsPerWindow_, uint32 windowSeconds_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRateLimit(maxActionsPerWindow_, windowSeconds_);
    }

    /**
     * @notice Sets a module's watchdog pause configuration. Takes effect at once: votes already cast count
     *         against the new quorum and window; a pause in force keeps the expiry it started with.
     * @param module The module id (registered).
     * @param quorum Distinct operators that must agree (1 to {MAX_QUORUM}; 1 is a single watchdog's pause).
     * @param voteWindow Seconds a vote stays valid (non-zero when `quorum > 1`).
     * @param maxPauseDuration Seconds a watchdog pause lasts unless the council extends it; 0 for no expiry.
     * @param oneShot Whether an operator whose pause or rollback succeeds is disarmed for the module until
     *        the council re-arms it.
     */
    function setPauseConfig(bytes32 module, uint8 quorum, uint32 voteWindow, uint32 maxPauseDuration, bool oneShot)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _requireRegistered(module);
        if (quorum == 0 || quorum > MAX_QUORUM || (quorum > 1 && voteWindow == 0)) {
            revert InvalidPauseConfig(quorum, voteWindow);
        }
        _pauseConfigs[module] = PauseConfig(quorum, oneShot, voteWindow, maxPauseDuration);
        emit PauseConfigSet(module, quorum, voteWindow, maxPauseDuration, oneShot, _msgSender());
    }

    /**
     * @notice Names the role whose holders judge contested incidents ({resolveIncident}).
     * @param role The role id (not `WATCHDOG_ROLE`); grant it with {grantRole}.
     */
    function setContestRole(bytes32 role) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (role == WATCHDOG_ROLE) revert InvalidContestRole(role);
        emit ContestRoleSet(contestRole, role, _msgSender());
        contestRole = role;
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
     * @notice Revokes a version for good. Revoking the active version also pauses the module, without
     *         expiry (a {ModulePaused} event with zero incident id and evidence hash), unless it is paused
     *         already.
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
        // slither-disable-next-line timestamp (a watchdog pause's expiry is minutes to days away; seconds of leeway do not matter)
        if (isActiveVersion && !_pausedNow(m)) {
            m.paused = true;
            m.pausedUntil = 0;
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
     * @notice Pauses a module. Callable by the council (not rate-limited, no expiry) or by a watchdog when
     *         the module's quorum is 1 (rate-limited; bounded by the module's `maxPauseDuration`).
     * @param module The module id.
     * @param incidentId The incident id (non-zero, never used before).
     * @param evidenceHash Hash of the evidence (non-zero).
     */
    function pause(bytes32 module, bytes32 incidentId, bytes32 evidenceHash) external {
        bool limited = _checkEmergencyCaller();
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        if (limited) {
            PauseConfig memory cfg = _pauseConfigs[module];
            if (cfg.quorum > 1) revert QuorumRequired(module, cfg.quorum);
            _soloPause(module, m, cfg, incidentId, evidenceHash, _msgSender());
            return;
        }
        _useIncident(incidentId, evidenceHash, address(0));
        if (_pausedNow(m)) revert AlreadyPaused(module);
        m.paused = true;
        m.pausedUntil = 0;
        emit ModulePaused(module, incidentId, evidenceHash, _msgSender());
    }

    /**
     * @notice The calling operator votes to pause `module` for `(incidentId, evidenceHash)`; see the
     *         contract's description for the counting rules. With quorum 1 this pauses at once, as {pause}.
     * @param module The module id.
     * @param incidentId The incident id (non-zero, not used yet).
     * @param evidenceHash Hash of the evidence (non-zero).
     * @return paused True if this vote paused the module.
     */
    function votePause(bytes32 module, bytes32 incidentId, bytes32 evidenceHash) external returns (bool paused) {
        _checkRole(WATCHDOG_ROLE);
        return _vote(module, incidentId, evidenceHash, _msgSender());
    }

    /**
     * @notice Records operators' signed votes for `(incidentId, evidenceHash)` on `module`, in order, and
     *         stops at the vote that reaches the quorum. Anyone may relay. Each vote counts as cast now;
     *         a vote already counted is skipped, so a relay cannot be made to fail by sending some of its
     *         votes first. Reverts on an expired or invalid signature or a signer without `WATCHDOG_ROLE`.
     * @param module The module id.
     * @param incidentId The incident id (non-zero, not used yet).
     * @param evidenceHash Hash of the evidence (non-zero).
     * @param votes The signed votes: each signs `PauseVote(operator, module, incidentId, evidenceHash, deadline)`.
     * @return paused True if these votes paused the module.
     */
    function relayPauseVotes(bytes32 module, bytes32 incidentId, bytes32 evidenceHash, SignedVote[] calldata votes)
        external
        returns (bool paused)
    {
        for (uint256 i = 0; i < votes.length; ++i) {
            SignedVote calldata sv = votes[i];
            address operator = sv.operator;
            // slither-disable-next-line timestamp (a signature deadline is minutes away; the seconds a proposer can shift block.timestamp do not matter)
            if (block.timestamp > sv.deadline) revert SignatureExpired(operator, sv.deadline);
            bytes32 digest = hashPauseVote(operator, module, incidentId, evidenceHash, sv.deadline);
            if (!SignatureChecker.isValidSignatureNowCalldata(operator, digest, sv.signature)) {
                revert InvalidSignature(operator);
            }
            if (!hasRole(WATCHDOG_ROLE, operator)) revert AccessControlUnauthorizedAccount(operator, WATCHDOG_ROLE);
            if (_vote(module, incidentId, evidenceHash, operator)) return true;
        }
        return false;
    }

    /**
     * @notice Rolls a module back to a version that is Approved and was active before. Does not
     *         unpause. Callable by the watchdog (rate-limited; one-shot if the module says so) or the
     *         council (not rate-limited). A rollback needs no quorum: it can only reach a version that
     *         governance approved and that already ran.
     * @param module The module id.
     * @param toVersion The version to make active.
     * @param incidentId The incident id (non-zero, never used before).
     * @param evidenceHash Hash of the evidence (non-zero).
     */
    function rollback(bytes32 module, uint64 toVersion, bytes32 incidentId, bytes32 evidenceHash) external {
        bool limited = _checkEmergencyCaller();
        address sender = _msgSender();
        Version storage v = _existingVersion(module, toVersion);
        if (limited) _requireArmed(module, sender);
        _useIncident(incidentId, evidenceHash, limited ? sender : address(0));
        if (v.status != VersionStatus.Approved) revert VersionNotApproved(module, toVersion, v.status);
        if (!v.wasActive) revert VersionNeverActive(module, toVersion);
        Module storage m = _modules[module];
        uint64 fromVersion = m.activeVersion;
        if (fromVersion == toVersion) revert VersionAlreadyActive(module, toVersion);
        if (limited) {
            _consumeWatchdogAction(module, m);
            if (_pauseConfigs[module].oneShot) _disarm(module, sender, incidentId);
        }
        m.activeVersion = toVersion;
        emit ModuleRolledBack(module, incidentId, fromVersion, toVersion, evidenceHash, sender);
    }

    /**
     * @notice Unpauses a module. If the module has an active version, it must be Approved.
     * @param module The module id.
     */
    function unpause(bytes32 module) external onlyRole(COUNCIL_ROLE) {
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        if (!_pausedNow(m)) revert NotPaused(module);
        uint64 active = m.activeVersion;
        if (active != 0) {
            VersionStatus status = _versions[module][active].status;
            if (status != VersionStatus.Approved) revert ActiveVersionNotApproved(module, active, status);
        }
        m.paused = false;
        m.pausedUntil = 0;
        emit ModuleUnpaused(module, _msgSender());
    }

    /**
     * @notice Moves the expiry of a module's watchdog pause later, or removes it (`until = 0`): the pause
     *         then lasts until {unpause}.
     * @param module The module id.
     * @param until The new expiry (later than the current one), or 0 for none.
     */
    function extendPause(bytes32 module, uint64 until) external onlyRole(COUNCIL_ROLE) {
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        if (!_pausedNow(m)) revert NotPaused(module);
        uint64 previous = m.pausedUntil;
        if (previous == 0) revert PauseNotBounded(module);
        if (until != 0 && until <= previous) revert InvalidPauseExtension(module, until);
        m.pausedUntil = until;
        emit PauseExtended(module, previous, until, _msgSender());
    }

    /**
     * @notice Records that a module's watchdog pause has expired (views already treat it as ended);
     *         callable by anyone, for the event and the storage refund.
     * @param module The module id.
     */
    function expirePause(bytes32 module) external {
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        if (!m.paused) revert NotPaused(module);
        uint64 until = m.pausedUntil;
        // slither-disable-next-line timestamp (the expiry is in seconds to days; a few seconds of leeway do not matter)
        if (until == 0 || block.timestamp < until) revert PauseNotExpired(module, until);
        m.paused = false;
        m.pausedUntil = 0;
        emit PauseExpired(module, until, _msgSender());
    }

    /**
     * @notice Re-arms a one-shot operator for a module after its action there.
     * @param module The module id.
     * @param operator The operator.
     */
    function rearmOperator(bytes32 module, address operator) external onlyRole(COUNCIL_ROLE) {
        if (!_disarmed[module][operator]) revert OperatorAlreadyArmed(module, operator);
        _disarmed[module][operator] = false;
        emit OperatorRearmed(module, operator, _msgSender());
    }

    /**
     * @notice Judges a watchdog incident (a pause or rollback made by one or more operators): upheld, or
     *         overturned, which counts against each operator that made it ({overturnedIncidents}). Once per
     *         incident. Does not unpause: the council does that with {unpause}.
     * @param incidentId The incident id.
     * @param upheld True to uphold, false to overturn.
     * @param reasonHash Hash of the written reasons (non-zero).
     */
    function resolveIncident(bytes32 incidentId, bool upheld, bytes32 reasonHash) external {
        _checkRole(contestRole);
        if (reasonHash == bytes32(0)) revert ZeroReasonHash();
        Incident storage rec = _incidents[incidentId];
        if (!rec.used || (rec.operator == address(0) && rec.voterMask == 0)) revert NotAWatchdogIncident(incidentId);
        if (rec.verdict != Verdict.None) revert IncidentAlreadyResolved(incidentId, rec.verdict);
        rec.verdict = upheld ? Verdict.Upheld : Verdict.Overturned;
        emit IncidentResolved(incidentId, upheld, reasonHash, _msgSender());
        if (upheld) return;
        address[] memory operators = _operatorsOf(incidentId);
        for (uint256 i = 0; i < operators.length; ++i) {
            uint256 overturned = ++overturnedIncidents[operators[i]];
            emit OperatorOverturned(operators[i], incidentId, overturned);
        }
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
     * @notice Whether a module is paused now (false for an unknown module, and once a watchdog pause expired).
     * @param module The module id.
     * @return paused True if paused.
     */
    function isPaused(bytes32 module) external view returns (bool paused) {
        return _pausedNow(_modules[module]);
    }

    /**
     * @notice Whether a consuming protocol may trust the module now: registered, has an active
     *         version, not paused (an expired watchdog pause does not count), and the active version is Approved.
     * @param module The module id.
     * @return active True if the module may be used.
     */
    function isActive(bytes32 module) external view returns (bool active) {
        Module storage m = _modules[module];
        // slither-disable-next-line timestamp (a watchdog pause's expiry is minutes to days away; seconds of leeway do not matter)
        return m.registered && m.activeVersion != 0 && !_pausedNow(m)
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
        if (_pausedNow(m)) revert ModuleIsPaused(module);
        version = m.activeVersion;
        if (version == 0) revert NoActiveVersion(module);
        VersionStatus status = _versions[module][version].status;
        if (status != VersionStatus.Approved) revert ActiveVersionNotApproved(module, version, status);
    }

    /**
     * @notice A module's registry entry.
     * @param module The module id.
     * @return registered Whether it is registered.
     * @return paused Whether it is paused now.
     * @return activeVersion The active version, 0 if none.
     */
    function moduleInfo(bytes32 module) external view returns (bool registered, bool paused, uint64 activeVersion) {
        Module storage m = _modules[module];
        return (m.registered, _pausedNow(m), m.activeVersion);
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
     * @notice When the module's current pause ends.
     * @param module The module id.
     * @return pausedUntil The expiry of the pause in force; 0 if not paused or paused without expiry.
     */
    function pausedUntil(bytes32 module) external view returns (uint64) {
        Module storage m = _modules[module];
        return _pausedNow(m) ? m.pausedUntil : 0;
    }

    /**
     * @notice A module's watchdog pause configuration.
     * @param module The module id.
     * @return quorum Distinct operators that must agree (1 by default).
     * @return voteWindow Seconds a vote stays valid.
     * @return maxPauseDuration Seconds a watchdog pause lasts, 0 for no expiry.
     * @return oneShot Whether an operator's own successful action disarms it for the module.
     */
    function pauseConfig(bytes32 module)
        external
        view
        returns (uint8 quorum, uint32 voteWindow, uint32 maxPauseDuration, bool oneShot)
    {
        PauseConfig memory cfg = _pauseConfigs[module];
        return (_quorum(cfg), cfg.voteWindow, cfg.maxPauseDuration, cfg.oneShot);
    }

    /**
     * @notice Whether an operator may act on a module as far as the one-shot limit goes (its role aside).
     * @param module The module id.
     * @param operator The operator.
     * @return armed False if disarmed by a one-shot action and not re-armed since.
     */
    function isArmed(bytes32 module, address operator) external view returns (bool armed) {
        return !_disarmed[module][operator];
    }

    /**
     * @notice The votes for `(incidentId, evidenceHash)` that count now (meaningful until the incident is used).
     * @param incidentId The incident id.
     * @param evidenceHash The evidence hash.
     * @return count Number of counting votes.
     * @return operators Their operators.
     */
    function pauseVotes(bytes32 incidentId, bytes32 evidenceHash)
        external
        view
        returns (uint256 count, address[] memory operators)
    {
        bytes32 module = _incidentVotes[incidentId].module;
        Vote[] storage votes = _ballots[incidentId][evidenceHash];
        uint256 mask;
        (count, mask,,) = _tally(module, votes, _pauseConfigs[module].voteWindow, address(0));
        operators = _maskedOperators(votes, mask, count);
    }

    /**
     * @notice The evidence hash an operator voted for in an incident (zero if none) and the incident's module.
     * @param incidentId The incident id.
     * @param operator The operator.
     * @return evidenceHash The evidence hash voted for.
     * @return module The module of the incident's votes.
     */
    function voteOf(bytes32 incidentId, address operator) external view returns (bytes32 evidenceHash, bytes32 module) {
        return (_voteOf[incidentId][operator], _incidentVotes[incidentId].module);
    }

    /**
     * @notice A used incident's verdict and the operators that made it (none for a council action).
     * @param incidentId The incident id.
     * @return used Whether a pause or rollback used the id.
     * @return verdict Its contest verdict.
     * @return operators The watchdog(s) whose call or votes made it.
     */
    function incidentInfo(bytes32 incidentId)
        external
        view
        returns (bool used, Verdict verdict, address[] memory operators)
    {
        Incident storage rec = _incidents[incidentId];
        return (rec.used, rec.verdict, _operatorsOf(incidentId));
    }

    /**
     * @notice The EIP-712 digest an operator signs for a relayed vote ({relayPauseVotes}).
     * @param operator The operator.
     * @param module The module id.
     * @param incidentId The incident id.
     * @param evidenceHash The evidence hash.
     * @param deadline Last block timestamp at which the vote may be relayed.
     * @return digest The typed-data hash.
     */
    function hashPauseVote(address operator, bytes32 module, bytes32 incidentId, bytes32 evidenceHash, uint256 deadline)
        public
        view
        returns (bytes32 digest)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(PAUSE_VOTE_TYPEHASH, operator, module, incidentId, evidenceHash, deadline))
        );
    }

    /**
     * @notice Whether an incident id was already used by a pause or rollback.
     * @param incidentId The incident id.
     * @return used True if used.
     */
    function incidentUsed(bytes32 incidentId) external view returns (bool used) {
        return _incidents[incidentId].used;
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
            // slither-disable-next-line timestamp (a view; the window is minutes to days long)
            if (times[(count - i) % MAX_ACTIONS_PER_WINDOW_CAP] + window > nowTs) ++used;
        }
        nextAllowedAt = nowTs;
        if (count >= limit) {
            uint64 freeAt = times[(count - limit) % MAX_ACTIONS_PER_WINDOW_CAP] + window;
            // slither-disable-next-line timestamp (a view; the window is minutes to days long)
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

    /// @dev Reverts if `operator` is disarmed for `module`.
    /// @param module The module id.
    /// @param operator The operator.
    function _requireArmed(bytes32 module, address operator) private view {
        if (_disarmed[module][operator]) revert OperatorNotArmed(module, operator);
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

    /// @dev Whether a module is paused at the current block timestamp.
    /// @param m The module's storage.
    /// @return paused True unless unpaused or past the expiry of a bounded pause.
    function _pausedNow(Module storage m) private view returns (bool paused) {
        uint64 until = m.pausedUntil;
        // slither-disable-next-line timestamp (the expiry is in minutes to days; a few seconds of leeway do not matter)
        return m.paused && (until == 0 || block.timestamp < until);
    }

    /// @dev A configuration's quorum, 0 read as 1.
    /// @param cfg The configuration.
    /// @return quorum The quorum.
    function _quorum(PauseConfig memory cfg) private pure returns (uint8 quorum) {
        return cfg.quorum == 0 ? 1 : cfg.quorum;
    }

    /// @dev Checks the incident id and evidence hash and marks the incident used by `operator` (zero: the council).
    /// @param incidentId The incident id.
    /// @param evidenceHash The evidence hash.
    /// @param operator The watchdog acting alone, or zero.
    function _useIncident(bytes32 incidentId, bytes32 evidenceHash, address operator) private {
        if (incidentId == bytes32(0)) revert ZeroIncidentId();
        if (evidenceHash == bytes32(0)) revert ZeroEvidenceHash();
        Incident storage rec = _incidents[incidentId];
        if (rec.used) revert IncidentAlreadyUsed(incidentId);
        rec.used = true;
        rec.operator = operator;
    }

    /// @dev A pause by one operator (quorum 1).
    function _soloPause(
        bytes32 module,
        Module storage m,
        PauseConfig memory cfg,
        bytes32 incidentId,
        bytes32 evidenceHash,
        address operator
    ) private {
        _requireArmed(module, operator);
        _useIncident(incidentId, evidenceHash, operator);
        if (_pausedNow(m)) revert AlreadyPaused(module);
        _startWatchdogPause(module, m, cfg, incidentId, evidenceHash, operator);
        if (cfg.oneShot) _disarm(module, operator, incidentId);
    }

    /// @dev Spends a watchdog action, pauses with the configured expiry, emits the events.
    function _startWatchdogPause(
        bytes32 module,
        Module storage m,
        PauseConfig memory cfg,
        bytes32 incidentId,
        bytes32 evidenceHash,
        address by
    ) private {
        _consumeWatchdogAction(module, m);
        uint64 until = cfg.maxPauseDuration == 0 ? 0 : uint64(block.timestamp) + cfg.maxPauseDuration;
        m.paused = true;
        m.pausedUntil = until;
        emit ModulePaused(module, incidentId, evidenceHash, by);
        if (cfg.maxPauseDuration != 0) emit PauseBounded(module, incidentId, until);
    }

    /// @dev Disarms a one-shot operator for a module.
    function _disarm(bytes32 module, address operator, bytes32 incidentId) private {
        _disarmed[module][operator] = true;
        emit OperatorDisarmed(module, operator, incidentId);
    }

    /// @dev Records `operator`'s vote (its role was checked by the caller); pauses at the quorum.
    /// @return paused True if this vote paused the module.
    function _vote(bytes32 module, bytes32 incidentId, bytes32 evidenceHash, address operator)
        private
        returns (bool paused)
    {
        Module storage m = _modules[module];
        if (!m.registered) revert ModuleNotRegistered(module);
        PauseConfig memory cfg = _pauseConfigs[module];
        if (cfg.quorum <= 1) {
            _soloPause(module, m, cfg, incidentId, evidenceHash, operator);
            return true;
        }
        _admitVote(module, m, incidentId, evidenceHash, operator);
        Vote[] storage votes = _ballots[incidentId][evidenceHash];
        (bool recorded, uint256 count, uint256 mask) = _castVote(module, votes, cfg.voteWindow, operator);
        if (recorded) emit PauseVoted(module, incidentId, evidenceHash, operator, count, cfg.quorum);
        // Not recorded: its vote counted already. It still closes a ballot whose quorum was lowered meanwhile.
        if (count < cfg.quorum) return false;

        Incident storage rec = _incidents[incidentId];
        rec.used = true;
        rec.voterMask = uint32(mask);
        _incidentVotes[incidentId].evidenceHash = evidenceHash;
        _startWatchdogPause(module, m, cfg, incidentId, evidenceHash, operator);
        if (cfg.oneShot) {
            for (uint256 i = 0; i < votes.length; ++i) {
                if (mask & (1 << i) != 0) _disarm(module, votes[i].operator, incidentId);
            }
        }
        return true;
    }

    /// @dev The checks of a quorum vote; binds a new incident to its module, records the operator's
    ///      evidence hash and emits {EvidenceDisagreement} when it differs from the incident's first one.
    function _admitVote(bytes32 module, Module storage m, bytes32 incidentId, bytes32 evidenceHash, address operator)
        private
    {
        _requireArmed(module, operator);
        if (incidentId == bytes32(0)) revert ZeroIncidentId();
        if (evidenceHash == bytes32(0)) revert ZeroEvidenceHash();
        if (_incidents[incidentId].used) revert IncidentAlreadyUsed(incidentId);
        if (_pausedNow(m)) revert AlreadyPaused(module);
        IncidentVotes storage iv = _incidentVotes[incidentId];
        bytes32 bound = iv.module;
        if (bound == bytes32(0)) {
            iv.module = module;
            iv.evidenceHash = evidenceHash;
        } else if (bound != module) {
            revert IncidentModuleMismatch(incidentId, bound);
        }
        bytes32 previous = _voteOf[incidentId][operator];
        if (previous == bytes32(0)) {
            _voteOf[incidentId][operator] = evidenceHash;
            bytes32 first = iv.evidenceHash;
            if (first != evidenceHash) emit EvidenceDisagreement(module, incidentId, evidenceHash, operator, first);
        } else if (previous != evidenceHash) {
            revert AlreadyVoted(incidentId, operator, previous);
        }
    }

    /// @dev Writes `operator`'s vote into a ballot (its own entry, else a reusable one, else a new one).
    /// @return recorded False if its vote was in the window already (nothing written).
    /// @return count Counting votes, this one included.
    /// @return mask Their indexes as a bit mask.
    function _castVote(bytes32 module, Vote[] storage votes, uint256 window, address operator)
        private
        returns (bool recorded, uint256 count, uint256 mask)
    {
        uint256 own;
        uint256 free;
        (count, mask, own, free) = _tally(module, votes, window, operator);
        if (own != NO_INDEX) {
            // slither-disable-next-line timestamp (vote windows are minutes long; a few seconds of leeway do not matter)
            if (votes[own].castAt + window > block.timestamp) return (false, count + 1, mask | (1 << own));
        } else if (free != NO_INDEX) {
            own = free;
        } else {
            own = votes.length;
            votes.push();
        }
        votes[own] = Vote(operator, uint64(block.timestamp));
        return (true, count + 1, mask | (1 << own));
    }

    /// @dev Scans a ballot: the votes other than `operator`'s that count now (cast in the window, by a
    ///      holder of WATCHDOG_ROLE armed for the module), `operator`'s own entry, and the first entry that
    ///      no longer counts (reusable).
    /// @return count Number of counting votes, `operator`'s excluded.
    /// @return mask Their indexes as a bit mask.
    /// @return own Index of `operator`'s entry, or NO_INDEX.
    /// @return free Index of the first entry that does not count, or NO_INDEX.
    function _tally(bytes32 module, Vote[] storage votes, uint256 window, address operator)
        private
        view
        returns (uint256 count, uint256 mask, uint256 own, uint256 free)
    {
        own = NO_INDEX;
        free = NO_INDEX;
        uint256 length = votes.length;
        for (uint256 i = 0; i < length; ++i) {
            Vote memory v = votes[i];
            if (v.operator == operator) {
                own = i;
            } else if (
                // slither-disable-next-line timestamp (vote windows are minutes long; a few seconds of leeway do not matter)
                v.castAt + window > block.timestamp && hasRole(WATCHDOG_ROLE, v.operator)
                    && !_disarmed[module][v.operator]
            ) {
                ++count;
                mask |= 1 << i;
            } else if (free == NO_INDEX) {
                free = i;
            }
        }
    }

    /// @dev The operators of a ballot's entries selected by `mask` (`count` of them).
    function _maskedOperators(Vote[] storage votes, uint256 mask, uint256 count)
        private
        view
        returns (address[] memory operators)
    {
        operators = new address[](count);
        uint256 j = 0;
        for (uint256 i = 0; j < count; ++i) {
            if (mask & (1 << i) != 0) operators[j++] = votes[i].operator;
        }
    }

    /// @dev The watchdog(s) that made a used incident: the lone caller, or the votes that reached the quorum.
    function _operatorsOf(bytes32 incidentId) private view returns (address[] memory operators) {
        Incident storage rec = _incidents[incidentId];
        address solo = rec.operator;
        if (solo != address(0)) {
            operators = new address[](1);
            operators[0] = solo;
            return operators;
        }
        uint256 mask = rec.voterMask;
        uint256 count = 0;
        for (uint256 bits = mask; bits != 0; bits &= bits - 1) ++count;
        return _maskedOperators(_ballots[incidentId][_incidentVotes[incidentId].evidenceHash], mask, count);
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
            // slither-disable-next-line timestamp (the rate-limit window is minutes to days long; seconds of leeway do not matter)
            if (freeAt > nowTs) revert RateLimited(module, freeAt);
        }
        times[count % MAX_ACTIONS_PER_WINDOW_CAP] = nowTs;
        m.watchdogActions = count + 1;
    }
}
