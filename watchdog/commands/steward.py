"""Steward commands for every chain operation of the monitor: versions, modules, roles, unpause.

    watchdog unpause MODULE                                            COUNCIL_ROLE
    watchdog versions propose MODULE VERSION --artifact-hash H|--artifact FILE [--metadata-hash H|--metadata FILE]
                                                                       PROPOSER_ROLE
    watchdog versions approve|activate|deprecate|revoke MODULE VERSION COUNCIL_ROLE
    watchdog versions list MODULE [--json]                             (read)
    watchdog modules register MODULE                                   COUNCIL_ROLE
    watchdog modules list [MODULE...] [--policy P] [--json]            (read)
    watchdog modules extend-pause MODULE --until TIME|none             COUNCIL_ROLE
    watchdog modules expire-pause MODULE                               any key
    watchdog roles grant|revoke ROLE ADDRESS                           the role's admin (DEFAULT_ADMIN_ROLE)
    watchdog roles list [ROLE] [--json]                                (read)

Each write checks with ``hasRole`` that the key holds the role before it signs anything, and says which
role and which address when it does not; a revert is told as a sentence from the decoded custom error.
Writes are sent directly (they carry no incident id, so the outbox's idempotency key does not apply) and
recorded in the store's audit log (``--store``) as ``steward_chain_call`` with the transaction.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.commands.chain import _chain_args, _client, _module, _monitor_args
from watchdog.errors import ConfigError
from watchdog.fmt import iso_utc

if TYPE_CHECKING:
    from watchdog.actions.chain import MonitorClient, TxResult

ROLE_HELP = "admin, council, proposer, watchdog, contest (the role that judges incidents) or a 0x bytes32 role id"
MAX_UINT64 = 2**64 - 1


# argument types -------------------------------------------------------------------------------------

def version_number(text: str) -> int:
    """A version number: 1 to 2**64 - 1 (0 means "no active version" on-chain)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a version is a whole number of at least 1, got {text!r}") from None
    if not 1 <= v <= MAX_UINT64:
        raise argparse.ArgumentTypeError(f"a version must be from 1 to {MAX_UINT64}, got {v}")
    return v


def bytes32_hex(text: str) -> bytes:
    """``0x`` and 64 hex digits."""
    body = text[2:] if text.startswith(("0x", "0X")) else None
    if body is None or len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise argparse.ArgumentTypeError(f"expected 0x followed by 64 hex digits, got {text[:70]!r}")
    return bytes.fromhex(body)


def address_arg(text: str) -> str:
    """A 20-byte address, returned checksummed."""
    from web3 import Web3

    if not Web3.is_address(text):
        raise argparse.ArgumentTypeError(f"{text[:60]!r} is not an address (0x followed by 40 hex digits)")
    return str(Web3.to_checksum_address(text))


def expiry_arg(text: str) -> int:
    """``--until``: seconds since the epoch, an ISO 8601 time with a zone (``2026-12-03T08:00:00Z``), or
    ``none`` / ``0`` for a pause without expiry (it then lasts until ``watchdog unpause``)."""
    if text.lower() in ("none", "0"):
        return 0
    if text.isdigit():
        v = int(text)
    else:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--until must be seconds since the epoch, an ISO 8601 time such as 2026-12-03T08:00:00Z, or "
                f"'none'; got {text[:60]!r}") from None
        if dt.tzinfo is None:
            raise argparse.ArgumentTypeError(f"--until {text!r} has no time zone; add Z for UTC")
        v = int(dt.timestamp())
    if not 0 < v <= MAX_UINT64:
        raise argparse.ArgumentTypeError(f"--until must be after 1970 and fit in 64 bits, got {text[:60]!r}")
    return v


def role_id(client: MonitorClient, text: str) -> bytes:
    """A role by short name (``council``), constant name (``COUNCIL_ROLE``), ``contest`` or 0x id."""
    from watchdog.actions.chain import ROLE_CONSTANTS

    key = text.strip().lower().removesuffix("_role")
    if key in ("default_admin", "admin"):
        key = "admin"
    if key in ROLE_CONSTANTS:
        return client.role_id(ROLE_CONSTANTS[key])
    if key == "contest":
        return client.contest_role()
    try:
        return bytes32_hex(text)
    except argparse.ArgumentTypeError:
        raise ConfigError(f"Unknown role {text[:60]!r}; use {ROLE_HELP}.") from None


# shared pieces ----------------------------------------------------------------------------------------

def _reader(p: argparse.ArgumentParser) -> None:
    _chain_args(p, signer=False)
    p.add_argument("--monitor", required=True, help="address of the deployed ModelMonitor")
    p.add_argument("--from-block", type=int, default=0,
                   help="first block to read the monitor's events from (default: %(default)s)")


def _writer(p: argparse.ArgumentParser) -> None:
    _chain_args(p)
    _monitor_args(p)
    p.add_argument("--reason", default="", help="why: kept in the store's audit log with the transaction")


def _module_names(args: argparse.Namespace) -> dict[bytes, str]:
    module = getattr(args, "module", None)
    return {_module(module): module} if isinstance(module, str) else {}


def _check_monitor(args: argparse.Namespace) -> None:
    try:
        address_arg(args.monitor)
    except argparse.ArgumentTypeError as e:
        raise ConfigError(f"Bad --monitor: {e}.") from None


Role = str | Callable[["MonitorClient"], bytes] | None
"""The role a write needs: a constant's name, a function of the client (the role's admin), or None."""


def send(args: argparse.Namespace, action: str, fn_name: str, fn_args: Sequence[Any], *, role: Role,
         client: MonitorClient | None = None, model: str | None = None, incident_id: str | None = None,
         detail: Mapping[str, Any] | None = None) -> TxResult:
    """Check the role, send ``fn_name(*fn_args)``, audit it in ``--store`` and print one line.

    The store is opened first, so a store that cannot be written refuses the command before anything is
    signed; the call is audited as ``steward_chain_call_intent`` before it is signed (a crash between the
    send and the outcome leaves that line, for the auditor to look the call up on-chain), and its outcome
    afterwards: ``mined``, ``reverted`` (mined, but reverted: before its error is raised), ``not_sent`` (the
    node's simulation refused it) or ``refused`` (the key lacks the role; nothing was signed).
    """
    from watchdog.actions.chain import ActionReverted, RoleRequired
    from watchdog.store.store import Store

    if client is None:
        _check_monitor(args)
        client = _client(args)
    with Store(args.store) as store:
        needed = client.role_id(role) if isinstance(role, str) else (None if role is None else role(client))
        shown = ["0x" + a.hex() if isinstance(a, bytes) else a for a in fn_args]
        entry: dict[str, Any] = {
            "function": fn_name, "args": shown, "by": client.signer.address if client.signer else None,
            "role": None if needed is None else client.role_label(needed), "reason": args.reason,
            "monitor": client.address, **(detail or {})}
        store.audit(time.time(), "steward_chain_call_intent", entry, model=model, incident_id=incident_id)
        try:
            result = client.send_as(needed, action, fn_name, *fn_args, names=_module_names(args))
        except RoleRequired:
            store.audit(time.time(), "steward_chain_call", {**entry, "outcome": "refused"}, model=model,
                        incident_id=incident_id)
            raise
        except ActionReverted as e:
            if e.tx_hash is not None:  # it was mined: on the chain for good, so in the audit log too
                store.audit(time.time(), "steward_chain_call", {**entry, "outcome": "reverted", "tx_hash": e.tx_hash},
                            model=model, incident_id=incident_id)
            else:  # the node's simulation refused it: nothing was sent
                store.audit(time.time(), "steward_chain_call", {**entry, "outcome": "not_sent", "error": str(e)[:500]},
                            model=model, incident_id=incident_id)
            raise
        store.audit(time.time(), "steward_chain_call",
                    {**entry, "outcome": "mined", "tx_hash": result.tx_hash, "block_number": result.block_number},
                    model=model, incident_id=incident_id)
    print(f"{action}: mined, tx {result.tx_hash} block {result.block_number}")
    return result


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    u = sub.add_parser("unpause", help="unpause a module on-chain (needs COUNCIL_ROLE)",
                       description="Unpause a module. Needs COUNCIL_ROLE; the module's active version, if any, "
                                   "must be approved.")
    u.add_argument("module", help="module name (its id is keccak256 of it) or a 0x bytes32 id")
    _writer(u)
    u.set_defaults(func=cmd_unpause)

    _register_versions(sub)
    _register_modules(sub)
    _register_roles(sub)


def _register_versions(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = sub.add_parser("versions", help="a module's model versions: propose, approve, activate, deprecate, "
                                        "revoke, list")
    vs = v.add_subparsers(dest="versions_action", metavar="{propose,approve,activate,deprecate,revoke,list}",
                          required=True)
    p = vs.add_parser("propose", help="propose a new version (needs PROPOSER_ROLE)",
                      description="Propose VERSION of MODULE with the hash of its artifact (and of its metadata "
                                  "document). Needs PROPOSER_ROLE. A file given is hashed with keccak-256.")
    p.add_argument("module")
    p.add_argument("version", type=version_number)
    art = p.add_mutually_exclusive_group(required=True)
    art.add_argument("--artifact-hash", type=bytes32_hex, help="0x bytes32 hash of the model artifact")
    art.add_argument("--artifact", type=Path, help="the artifact file, hashed with keccak-256")
    meta = p.add_mutually_exclusive_group()
    meta.add_argument("--metadata-hash", type=bytes32_hex, help="0x bytes32 hash of the metadata document")
    meta.add_argument("--metadata", type=Path, help="the metadata document, hashed with keccak-256")
    _writer(p)
    p.set_defaults(func=cmd_versions_propose)
    steps = {
        "approve": ("approveVersion", "approve a proposed or deprecated version"),
        "activate": ("activateVersion", "make an approved version the active one (does not unpause)"),
        "deprecate": ("deprecateVersion", "deprecate an approved version that is not active: no longer "
                                          "activated or rolled back to"),
        "revoke": ("revokeVersion", "revoke a version for good (revoking the active one pauses the module)"),
    }
    for name, (fn, what) in steps.items():
        s = vs.add_parser(name, help=f"{what} (needs COUNCIL_ROLE)", description=f"{what[0].upper()}{what[1:]}. "
                                                                                 "Needs COUNCIL_ROLE.")
        s.add_argument("module")
        s.add_argument("version", type=version_number)
        _writer(s)
        s.set_defaults(func=cmd_versions_step, fn_name=fn)
    ls = vs.add_parser("list", help="every version of a module: status, hashes, which is active and which a "
                                    "rollback would pick (read only)")
    ls.add_argument("module")
    ls.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    _reader(ls)
    ls.set_defaults(func=cmd_versions_list)


def _register_modules(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    m = sub.add_parser("modules", help="the modules the monitor holds: register, list, extend or expire a pause")
    ms = m.add_subparsers(dest="modules_action", metavar="{register,list,extend-pause,expire-pause}", required=True)
    r = ms.add_parser("register", help="register a module (needs COUNCIL_ROLE)",
                      description="Register MODULE so versions can be proposed for it. Needs COUNCIL_ROLE.")
    r.add_argument("module")
    _writer(r)
    r.set_defaults(func=cmd_modules_register)
    ls = ms.add_parser("list", help="each module's state, active version, pause, rate-limit use and the last "
                                    "heartbeat (read only)",
                       description="Without MODULE, every module registered on the monitor (its ModuleRegistered "
                                   "events), named when a MODULE or --policy gives the name.")
    ls.add_argument("modules", nargs="*", metavar="MODULE", help="module names or 0x ids to show (default: all)")
    ls.add_argument("--policy", help="name the modules of this policy file")
    ls.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    _reader(ls)
    ls.set_defaults(func=cmd_modules_list)
    e = ms.add_parser("extend-pause", help="move a watchdog pause's expiry later, or remove it (needs COUNCIL_ROLE)",
                      description="Move the expiry of MODULE's watchdog pause to --until, or remove it with "
                                  "--until none (the pause then lasts until watchdog unpause). Needs COUNCIL_ROLE.")
    e.add_argument("module")
    e.add_argument("--until", type=expiry_arg, required=True,
                   help="seconds since the epoch, an ISO 8601 time with a zone, or none")
    _writer(e)
    e.set_defaults(func=cmd_modules_extend)
    x = ms.add_parser("expire-pause", help="record that a watchdog pause has expired (any key)",
                      description="Record that MODULE's watchdog pause has passed its expiry (the views treat it "
                                  "as ended already). Any funded key may send it; no role is needed.")
    x.add_argument("module")
    _writer(x)
    x.set_defaults(func=cmd_modules_expire)


def _register_roles(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("roles", help="the monitor's roles: grant, revoke, list")
    rs = r.add_subparsers(dest="roles_action", metavar="{grant,revoke,list}", required=True)
    for name, fn in (("grant", "grantRole"), ("revoke", "revokeRole")):
        g = rs.add_parser(name, help=f"{name} a role (needs the role's admin role: DEFAULT_ADMIN_ROLE)",
                          description=f"{name.capitalize()} ROLE {'to' if name == 'grant' else 'from'} ADDRESS. "
                                      "Needs the role's admin role, DEFAULT_ADMIN_ROLE for every role of the "
                                      "monitor. The admin role itself moves only by the delayed two-step "
                                      "transfer.")
        g.add_argument("role", help=ROLE_HELP)
        g.add_argument("address", type=address_arg)
        _writer(g)
        g.set_defaults(func=cmd_roles_change, fn_name=fn)
    ls = rs.add_parser("list", help="the holders of each role (read only)")
    ls.add_argument("role", nargs="?", help=ROLE_HELP + " (default: every role)")
    ls.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    _reader(ls)
    ls.set_defaults(func=cmd_roles_list)


# writes -----------------------------------------------------------------------------------------------

def cmd_unpause(args: argparse.Namespace) -> int:
    send(args, f"watchdog unpause {args.module}", "unpause", [_module(args.module)], role="COUNCIL_ROLE",
         model=args.module)
    return 0


def _file_hash(path: Path, flag: str) -> bytes:
    from eth_utils.crypto import keccak

    try:
        return keccak(path.read_bytes())
    except OSError as e:
        raise ConfigError(f"{flag} {path} could not be read: {e.strerror or e}.") from None


def cmd_versions_propose(args: argparse.Namespace) -> int:
    artifact = args.artifact_hash if args.artifact is None else _file_hash(args.artifact, "--artifact")
    if artifact == bytes(32):
        raise ConfigError("--artifact-hash must not be zero: a version names the artifact it denotes.")
    metadata = args.metadata_hash if args.metadata is None else _file_hash(args.metadata, "--metadata")
    metadata = metadata if metadata is not None else bytes(32)
    send(args, f"watchdog versions propose {args.module} {args.version}", "proposeVersion",
         [_module(args.module), args.version, artifact, metadata], role="PROPOSER_ROLE", model=args.module)
    print(f"artifact hash 0x{artifact.hex()}, metadata hash 0x{metadata.hex()}")
    return 0


def cmd_versions_step(args: argparse.Namespace) -> int:
    send(args, f"watchdog versions {args.versions_action} {args.module} {args.version}", args.fn_name,
         [_module(args.module), args.version], role="COUNCIL_ROLE", model=args.module)
    return 0


def cmd_modules_register(args: argparse.Namespace) -> int:
    send(args, f"watchdog modules register {args.module}", "registerModule", [_module(args.module)],
         role="COUNCIL_ROLE", model=args.module)
    return 0


def cmd_modules_extend(args: argparse.Namespace) -> int:
    until = "none" if args.until == 0 else iso_utc(args.until)
    send(args, f"watchdog modules extend-pause {args.module} --until {until}", "extendPause",
         [_module(args.module), args.until], role="COUNCIL_ROLE", model=args.module)
    return 0


def cmd_modules_expire(args: argparse.Namespace) -> int:
    send(args, f"watchdog modules expire-pause {args.module}", "expirePause", [_module(args.module)], role=None,
         model=args.module)
    return 0


def cmd_roles_change(args: argparse.Namespace) -> int:
    _check_monitor(args)
    client: MonitorClient = _client(args)
    role = role_id(client, args.role)  # the contest role is read from the chain
    verb = "grant" if args.fn_name == "grantRole" else "revoke"
    send(args, f"watchdog roles {verb} {client.role_label(role)} {args.address}", args.fn_name,
         [role, args.address], role=lambda c: c.role_admin(role), client=client)
    return 0


# reads ------------------------------------------------------------------------------------------------

def _read_client(args: argparse.Namespace) -> MonitorClient:
    _check_monitor(args)
    client: MonitorClient = _client(args, signer=False)
    return client


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True))


def cmd_versions_list(args: argparse.Namespace) -> int:
    from watchdog.actions.chain import ChainError

    client = _read_client(args)
    module = _module(args.module)
    registered, _paused, active = client.module_info(module)
    if not registered:
        raise ConfigError(f"Module {args.module} is not registered on the monitor {client.address}.")
    try:
        target: int | None = client.rollback_target(module) if active else None
    except ChainError:
        target = None
    rows = []
    for n in client.proposed_versions(module, from_block=args.from_block):
        d = client.version_details(module, n)
        rows.append({"version": n, "status": d.status, "active": n == active, "was_active": d.was_active,
                     "rollback_target": n == target, "artifact_hash": "0x" + d.artifact_hash.hex(),
                     "metadata_hash": "0x" + d.metadata_hash.hex()})
    if args.json:
        _print_json({"module": args.module, "module_id": "0x" + module.hex(), "active_version": active,
                     "rollback_target": target, "versions": rows})
        return 0
    print(f"{args.module} (0x{module.hex()}): active version {active or 'none'}, rollback target "
          f"{target if target is not None else 'none'}")
    for r in rows:
        marks = [m for m, on in (("active", r["active"]), ("rollback target", r["rollback_target"]),
                                 ("was active", r["was_active"] and not r["active"])) if on]
        print(f"  v{r['version']:<4} {r['status']:<10} artifact {r['artifact_hash']}"
              + (f"  [{', '.join(marks)}]" if marks else ""))
    return 0


def _state_line(s: Any) -> str:
    if not s.registered:
        return "not registered"
    if s.paused:
        return "PAUSED" + (f" until {iso_utc(s.paused_until)}" if s.paused_until else "")
    return "active" if s.active_version else "no active version"


def cmd_modules_list(args: argparse.Namespace) -> int:
    client = _read_client(args)
    names: dict[bytes, str] = {}
    if args.policy:
        from watchdog.service.compose import load_policy_or_refuse

        for model in load_policy_or_refuse(Path(args.policy)).models:
            names[_module(str(model.module))] = str(model.module)
    for text in args.modules:
        names[_module(text)] = text
    ids = [_module(t) for t in args.modules] or client.registered_modules(from_block=args.from_block)
    max_actions, window = client.rate_limit()
    by, at, report = client.last_heartbeat()
    now = client.latest_timestamp()
    mods: list[dict[str, Any]] = []
    for mid in ids:
        s = client.module_state(mid)
        mods.append({"module": names.get(mid), "module_id": "0x" + mid.hex(), "registered": s.registered,
                     "paused": s.paused, "paused_until": s.paused_until or None, "active_version": s.active_version,
                     "actions_in_window": s.actions_in_window, "max_actions_per_window": max_actions,
                     "next_action_at": s.next_action_at, "quorum": s.quorum, "vote_window_seconds": s.vote_window,
                     "max_pause_seconds": s.max_pause_duration, "one_shot": s.one_shot,
                     "state": _state_line(s)})
    heartbeat = {"by": by, "at": at or None, "report_hash": "0x" + report.hex() if at else None}
    if args.json:
        _print_json({"monitor": client.address, "chain_time": now, "rate_limit": {
            "max_actions_per_window": max_actions, "window_seconds": window}, "last_heartbeat": heartbeat,
            "modules": mods})
        return 0
    beat = (f"last heartbeat {iso_utc(at)} ({now - at} s ago) by {by}" if at else "no heartbeat yet")
    print(f"monitor {client.address}: rate limit {max_actions} watchdog actions per module per {window} s; {beat}")
    if not mods:
        print("no module is registered")
    for m in mods:
        label = f"{m['module']} ({m['module_id'][:14]}...)" if m["module"] else m["module_id"]
        nxt = "now" if m["next_action_at"] <= now else iso_utc(m["next_action_at"])
        print(f"{label}: {m['state']}, version {m['active_version'] or 'none'}, watchdog actions in window "
              f"{m['actions_in_window']}/{max_actions} (next allowed {nxt}), quorum {m['quorum']}"
              + (f", pauses last {m['max_pause_seconds']} s" if m["max_pause_seconds"] else "")
              + (", one-shot" if m["one_shot"] else ""))
    return 0


def cmd_roles_list(args: argparse.Namespace) -> int:
    client = _read_client(args)
    only = role_id(client, args.role) if args.role else None
    members = client.role_members(only, from_block=args.from_block)
    contest = client.contest_role()
    roles = [only] if only is not None else list(client.role_names())
    roles += [r for r in members if r not in roles]
    doc = {client.role_label(r): members.get(r, []) for r in roles}
    if args.json:
        _print_json({"monitor": client.address, "contest_role": client.role_label(contest), "roles": doc})
        return 0
    for name, holders in doc.items():
        print(f"{name}: {', '.join(holders) if holders else 'nobody'}")
    print(f"contest role: {client.role_label(contest)}")
    return 0
