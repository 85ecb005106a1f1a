"""Steward commands for the chain: deploy the monitor, pause or roll back by hand, see the state, veto.

    watchdog contracts deploy --rpc-url URL [--config FILE] [--watchdog ADDR]... [--module NAME]...
    watchdog pause MODULE --reason TEXT --rpc-url URL --monitor ADDR [--store DB]
    watchdog rollback MODULE --to VERSION --reason TEXT --rpc-url URL --monitor ADDR [--store DB]
    watchdog status --policy P [--rpc-url URL --monitor ADDR] [--store DB]
    watchdog outbox [--store DB] [--all] [--process --rpc-url URL --monitor ADDR]
    watchdog veto INCIDENT --by NAME --reason TEXT [--store DB]

Hand actions go through the same durable outbox as the watchdog's own (intent first, crash-safe, the
incident id as idempotency key), so a steward's pause is audited like any other. Keys: ``--key-file``
(encrypted keystore, password from ``WATCHDOG_KEY_PASSWORD`` or ``--key-password-file``), or
``WATCHDOG_PRIVATE_KEY`` for development only.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.errors import ConfigError
from watchdog.fmt import iso_utc

if TYPE_CHECKING:
    from watchdog.store.store import Store

DEPLOY_KEYS = {"watchdogs", "councils", "proposers", "modules", "max_actions_per_window", "window_seconds",
               "admin_delay_seconds"}


def _chain_args(p: argparse.ArgumentParser, signer: bool = True, required: bool = True) -> None:
    p.add_argument("--rpc-url", action="append", required=required,
                   help="JSON-RPC endpoint, repeatable (failover in order)")
    if signer:
        p.add_argument("--key-file", help="encrypted JSON keystore (password from WATCHDOG_KEY_PASSWORD "
                                          "or --key-password-file); or WATCHDOG_PRIVATE_KEY for development")
        p.add_argument("--key-password-file")
        p.add_argument("--max-fee-gwei", type=float, default=500.0,
                       help="cap on the fee per gas (default: %(default)s)")


def _monitor_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--monitor", required=required, help="address of the deployed ModelMonitor")
    p.add_argument("--store", default="watchdog.db", help="the watchdog's SQLite store (default: %(default)s)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("contracts", help="deploy the ModelMonitor contract")
    csub = c.add_subparsers(dest="contracts_action", metavar="{deploy}", required=True)
    d = csub.add_parser("deploy", help="deploy a ModelMonitor; prints its address",
                        description="Deploy a ModelMonitor with the signer as admin, council and proposer, grant "
                                    "roles and register modules (version 1 active). Flags add to --config.")
    _chain_args(d)
    d.add_argument("--config", help="YAML or JSON file with keys: " + ", ".join(sorted(DEPLOY_KEYS)))
    d.add_argument("--watchdog", action="append", default=[], help="address given the watchdog role (repeatable)")
    d.add_argument("--council", action="append", default=[], help="extra council address (repeatable)")
    d.add_argument("--proposer", action="append", default=[], help="extra proposer address (repeatable)")
    d.add_argument("--module", action="append", default=[],
                   help="module to register with version 1 active (repeatable)")
    d.add_argument("--max-actions-per-window", type=int, help="watchdog actions per module per window (default 3)")
    d.add_argument("--window-seconds", type=int, help="the rate limit's window (default 86400)")
    d.add_argument("--admin-delay-seconds", type=int, help="delay of the two-step admin transfer (default 259200)")
    d.set_defaults(func=cmd_deploy)

    p = sub.add_parser("pause", help="pause a module on-chain by hand, through the outbox")
    p.add_argument("module", help="module name (its id is keccak256 of it) or a 0x bytes32 id")
    p.add_argument("--reason", required=True, help="why: hashed into the evidence, kept in the store")
    _chain_args(p)
    _monitor_args(p)
    p.add_argument("--confirmations", type=int, default=1)
    p.set_defaults(func=cmd_pause)

    r = sub.add_parser("rollback", help="roll a module back to an approved, earlier active version")
    r.add_argument("module")
    r.add_argument("--to", type=int, required=True, dest="to_version", help="the version to make active")
    r.add_argument("--reason", required=True)
    _chain_args(r)
    _monitor_args(r)
    r.add_argument("--confirmations", type=int, default=1)
    r.set_defaults(func=cmd_rollback)

    s = sub.add_parser("status", help="chain state of each module of the policy beside local incidents and actions")
    s.add_argument("--policy", required=True)
    _chain_args(s, signer=False, required=False)
    _monitor_args(s, required=False)
    # no --store: watchdog.db if there is one; a --store given must exist
    s.set_defaults(func=cmd_status, store=None)

    o = sub.add_parser("outbox", help="pending, failed and voted (k-of-n) on-chain actions; --process advances them")
    o.add_argument("--store", default="watchdog.db")
    o.add_argument("--all", action="store_true", help="list every action, not only pending and failed ones")
    o.add_argument("--process", action="store_true", help="advance pending actions now (needs the chain flags)")
    o.add_argument("--confirmations", type=int, default=3)
    _chain_args(o, required=False)
    o.add_argument("--monitor")
    o.set_defaults(func=cmd_outbox)

    v = sub.add_parser("veto", help="cancel an incident's action held in its veto window (audited)")
    v.add_argument("incident", help="the incident id (0x...)")
    v.add_argument("--by", required=True, help="who vetoes")
    v.add_argument("--reason", required=True)
    v.add_argument("--store", default="watchdog.db")
    v.set_defaults(func=cmd_veto)


# helpers ----------------------------------------------------------------------------------------

def _client(args: argparse.Namespace, signer: bool = True) -> Any:
    # a MonitorClient with --monitor, else (Web3, Signer | None): Any, as the callers know which they asked for
    from watchdog.actions.chain import MonitorClient, connect, load_signer

    key = load_signer(args.key_file, args.key_password_file) if signer else None
    w3 = connect(args.rpc_url)
    if getattr(args, "monitor", None) is None:
        return w3, key
    return MonitorClient(w3, args.monitor, key, max_fee_gwei=getattr(args, "max_fee_gwei", 500.0))


def _module(text: str) -> bytes:
    from rules import module_id_bytes32

    try:
        return module_id_bytes32(text)
    except ValueError as e:
        raise ConfigError(f"Bad module {text!r}: {e}.") from None


def _existing_store(path: str) -> Store:
    from watchdog.store.store import Store

    if not Path(path).is_file():
        raise ConfigError(f"The store {path} does not exist; pass --store with the watchdog's database.")
    return Store(path)


def _manual(args: argparse.Namespace, kind: str, target: int | None) -> int:
    from eth_utils.crypto import keccak

    from watchdog.actions.outbox import Outbox
    from watchdog.actions.responder import canonical_json, evidence_hash
    from watchdog.store.store import Incident, Store

    if not args.reason.strip():
        raise ConfigError("--reason must say why, it goes into the evidence.")
    module_id = _module(args.module)
    client = _client(args)
    now = time.time()
    at = iso_utc(now)
    evidence = {"manual": True, "action": kind, "module": args.module, "module_id": "0x" + module_id.hex(),
                "reason": args.reason, "by": client.signer.address, "at": at, "target_version": target}
    ev = canonical_json(evidence)
    inc = Incident(id="0x" + keccak(ev).hex(), model=args.module, rule=f"manual-{kind}", tier="manual",
                   opened_at=now, record_index=0, policy_hash="", dry_run=False, evidence=ev.decode(),
                   evidence_hash=evidence_hash(ev), state="open")
    with Store(args.store) as store:
        store.add_incident(inc)
        store.audit(now, "manual_action", {"action": kind, "reason": args.reason, "by": client.signer.address},
                    model=args.module, incident_id=inc.id)
        outbox = Outbox(store, client, confirmations=args.confirmations)
        item = outbox.enqueue(incident_id=inc.id, kind=kind, module=args.module, module_id=module_id,
                              evidence_hash=inc.evidence_hash, target_version=target)
        item = outbox.step(item.action_id, wait=30.0)
    where = f" tx {item.tx_hash} block {item.block_number}" if item.block_number else ""
    print(f"{kind} {args.module}: {item.status}{where}" + (f" ({item.error})" if item.error else ""))
    print(f"incident {inc.id}")
    return 0 if item.status in ("mined", "confirmed", "sent") else 1


# commands ---------------------------------------------------------------------------------------

def cmd_deploy(args: argparse.Namespace) -> int:
    from web3 import Web3

    from watchdog.actions.chain import MonitorClient, deploy_monitor

    cfg: dict[str, Any] = {}
    if args.config:
        import yaml

        try:
            cfg = yaml.safe_load(Path(args.config).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"The deploy config {args.config} could not be read: {e}.") from None
        if not isinstance(cfg, dict):
            raise ConfigError(f"The deploy config {args.config} must be a mapping of keys to values.")
        unknown = sorted(set(cfg) - DEPLOY_KEYS)
        if unknown:
            raise ConfigError(f"The deploy config {args.config} has unknown key(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(DEPLOY_KEYS))}.")
    watchdogs = list(cfg.get("watchdogs", [])) + args.watchdog
    councils = list(cfg.get("councils", [])) + args.council
    proposers = list(cfg.get("proposers", [])) + args.proposer
    modules = list(cfg.get("modules", [])) + args.module
    for addr in watchdogs + councils + proposers:
        if not isinstance(addr, str):
            raise ConfigError(f"An address in {args.config} was read as a number ({addr}); put addresses in "
                              "quotes in YAML: \"0x...\".")
        if not Web3.is_address(addr):
            raise ConfigError(f"{addr!r} is not an address (0x followed by 40 hex digits).")
    limits = {
        "max_actions_per_window": args.max_actions_per_window or cfg.get("max_actions_per_window", 3),
        "window_seconds": args.window_seconds or cfg.get("window_seconds", 24 * 3600),
        "admin_delay": args.admin_delay_seconds or cfg.get("admin_delay_seconds", 3 * 24 * 3600),
    }
    for k, v in limits.items():
        if not isinstance(v, int) or v < 0:
            raise ConfigError(f"{k} must be a non-negative integer, got {v!r}.")
    w3, key = _client(args)
    address = deploy_monitor(w3, key, watchdogs=tuple(watchdogs), modules=tuple(_module(m) for m in modules),
                             **limits)
    client = MonitorClient(w3, address, key)
    roles = client.contract.functions
    for addr in councils:
        client.transact("grantRole", roles.COUNCIL_ROLE().call(), Web3.to_checksum_address(addr))
    for addr in proposers:
        client.transact("grantRole", roles.PROPOSER_ROLE().call(), Web3.to_checksum_address(addr))
    print(address)
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    return _manual(args, "pause", None)


def cmd_rollback(args: argparse.Namespace) -> int:
    if args.to_version < 1:
        raise ConfigError(f"--to must be a version number of at least 1, got {args.to_version}.")
    return _manual(args, "rollback", args.to_version)


STATUS_SETTLED = ("failed", "vetoed", "duplicate", "already_paused", "voted")
"""The ended actions `status` lists beside the open ones: each says why the chain did not get (or did not need)
this action; a confirmed one shows in the chain's own state."""


def cmd_status(args: argparse.Namespace) -> int:
    from watchdog.actions.outbox import OPEN_STATES, Outbox
    from watchdog.service.compose import load_policy_or_refuse
    from watchdog.store.store import Store

    policy = load_policy_or_refuse(Path(args.policy))
    client = None
    if args.rpc_url:
        if not args.monitor:
            raise ConfigError("--rpc-url needs --monitor to read the modules' state.")
        client = _client(args, signer=False)
    from watchdog.service.scheduler import describe_jobs, scheduler_jobs
    from watchdog.store.db import is_postgres_url

    if args.store is not None and not is_postgres_url(args.store) and not Path(args.store).is_file():
        raise ConfigError(f"The store {args.store} does not exist; pass --store with the watchdog's database "
                          "(or no --store for the chain state alone).")
    where = args.store or "watchdog.db"
    store = Store(where) if (is_postgres_url(where) or Path(where).is_file()) else None
    out = []
    for model in policy.models:
        module = str(model.module)
        mid = _module(module)
        line = f"{model.id} (module {module}, 0x{mid.hex()[:12]}...)"
        if client is not None:
            registered, paused, active = client.module_info(mid)
            used, _next_at = client.contract.functions.rateLimitState(mid).call()
            state = "not registered" if not registered else ("PAUSED" if paused else "active")
            line += f": chain {state}, version {active}, watchdog actions in window {used}"
        out.append(line)
        if client is not None and registered:
            from watchdog.commands.quorum import status_lines

            out += ["    " + q for q in status_lines(client, mid)]  # k-of-n: the quorum and its pending votes
        if store is not None:
            incs = store.incidents(model.id)
            open_incs = [i for i in incs if i.state == "open"]
            out.append(f"    incidents: {len(incs)} ({len(open_incs)} open)")
            for item in Outbox(store, None).items():
                if item.module == module and item.status in (*OPEN_STATES, *STATUS_SETTLED):
                    out.append(f"    {item.kind} {item.status} incident {item.incident_id}"
                               + (f" ({item.error})" if item.error else "")
                               + (f" [{item.quorum_note}]" if item.quorum_note else ""))
    if store is not None:
        jobs = describe_jobs(scheduler_jobs(store))
        out.append("scheduled jobs (from watchdog serve):" if jobs else "scheduled jobs: none recorded yet")
        out += ["    " + line for line in jobs]
        store.close()
    print("\n".join(out))
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from watchdog.actions.outbox import OPEN_STATES, Outbox

    with _existing_store(args.store) as store:
        client = None
        if args.process:
            if not args.rpc_url or not args.monitor:
                raise ConfigError("--process needs --rpc-url and --monitor (and a key) to send.")
            client = _client(args)
        outbox = Outbox(store, client, confirmations=args.confirmations)
        processed: list[Any] = []
        if client is not None:
            outbox.reconcile_nonce()
            processed = outbox.process(wait=5.0)
        items = outbox.items() if args.all else outbox.items((*OPEN_STATES, "failed", "voted"))
        # what --process just did is reported even when it left nothing open (a held pause whose window has
        # passed may end already_paused, confirmed or a duplicate: say which, not "nothing pending")
        shown = {i.action_id for i in items}
        done = [i for i in processed if i.action_id not in shown]
        for i in done:
            print(f"processed: {i.kind} {i.module} incident {i.incident_id}: {i.status}"
                  + (f" tx {i.tx_hash}" if i.tx_hash else "") + (f" ({i.error})" if i.error else "")
                  + (f" [{i.quorum_note}]" if i.quorum_note else ""))
        if not items and not done:
            print("outbox: nothing pending or failed")
        for i in items:
            nb = ""
            if i.status == "held":
                nb = " until " + datetime.fromtimestamp(i.not_before, UTC).isoformat(timespec="seconds")
            target = f" to version {i.target_version}" if i.kind == "rollback" and i.target_version else ""
            tx = f" tx {i.tx_hash}" if i.tx_hash else ""
            print(f"{i.status:<10} {i.kind}{target} {i.module} incident {i.incident_id}{nb}{tx} "
                  f"attempts {i.attempts}" + (f" ({i.error})" if i.error else "")
                  + (f" [{i.quorum_note}]" if i.quorum_note else ""))
    return 0


def cmd_veto(args: argparse.Namespace) -> int:
    from watchdog.actions.outbox import Outbox

    with _existing_store(args.store) as store:
        items = Outbox(store, None).veto(args.incident, args.by, args.reason)
    for i in items:
        print(f"vetoed {i.kind} of incident {i.incident_id} by {i.vetoed_by}: {i.veto_reason}")
    return 0
