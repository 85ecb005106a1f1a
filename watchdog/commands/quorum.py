"""Steward commands for k-of-n pauses: see a module's quorum and its pending votes, and set it.

    watchdog quorum status --module M --rpc-url URL --monitor ADDR [--store DB]
    watchdog quorum set --module M --quorum K --vote-window S --max-pause S [--one-shot]
                        --rpc-url URL --monitor ADDR --key-file KEYSTORE

``set`` calls ``ModelMonitor.setPauseConfig``, which only the holder of ``DEFAULT_ADMIN_ROLE`` (the DAO
timelock) may call: the key is checked for that role before anything is signed. With ``--quorum`` above 1
the watchdogs vote (``votePause``) and the module pauses once K operators agree on the same incident id and
evidence hash within the vote window; see watchdog/actions/quorum.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from watchdog.errors import ConfigError

ADMIN_ROLE = "DEFAULT_ADMIN_ROLE"


def register(sub: Any) -> None:
    q = sub.add_parser("quorum", help="k-of-n pauses: a module's quorum and pending votes (status), or set it")
    qsub = q.add_subparsers(dest="quorum_command", required=True, metavar="ACTION")
    s = qsub.add_parser("status", help="a module's quorum, vote window, pause expiry, one-shot flag and the "
                                       "votes pending on it")
    _common(s, signer=False)
    s.add_argument("--store", help="the watchdog's store: also show this watchdog's own votes")
    s.add_argument("--from-block", type=int, default=0,
                   help="read the votes from this block on (default: %(default)s, the whole chain)")
    s.set_defaults(func=cmd_quorum_status)
    p = qsub.add_parser("set", help=f"set a module's pause configuration (setPauseConfig; the key must hold "
                                    f"{ADMIN_ROLE}, the DAO timelock's role)")
    _common(p, signer=True)
    p.add_argument("--quorum", type=int, required=True, help="operators that must agree (1 to 16; 1: no vote)")
    p.add_argument("--vote-window", type=int, required=True,
                   help="seconds a vote counts (at least 1 with a quorum above 1)")
    p.add_argument("--max-pause", type=int, required=True,
                   help="seconds a watchdog pause lasts before it ends by itself (0: until the council unpauses)")
    p.add_argument("--one-shot", action="store_true",
                   help="an operator whose vote or call paused the module is disarmed for it until the council "
                        "re-arms it")
    p.set_defaults(func=cmd_quorum_set)


def _common(p: argparse.ArgumentParser, *, signer: bool) -> None:
    p.add_argument("--module", required=True, help="module name (its id is keccak256 of it) or a 0x bytes32 id")
    p.add_argument("--rpc-url", action="append", required=True, help="JSON-RPC URL (repeat for failover)")
    p.add_argument("--monitor", required=True, help="address of the deployed ModelMonitor")
    if signer:
        p.add_argument("--key-file", help=f"encrypted JSON keystore of a {ADMIN_ROLE} holder (password from "
                                          "WATCHDOG_KEY_PASSWORD or --key-password-file)")
        p.add_argument("--key-password-file")
        p.add_argument("--max-fee-gwei", type=float, default=500.0)


def _module(text: str) -> bytes:
    from rules import module_id_bytes32

    try:
        return module_id_bytes32(text)
    except ValueError as e:
        raise ConfigError(f"Bad --module {text!r}: {e}.") from None


def _client(args: argparse.Namespace, signer: bool) -> Any:
    from watchdog.actions.chain import MonitorClient, connect, load_signer

    key = load_signer(args.key_file, args.key_password_file) if signer else None
    return MonitorClient(connect(args.rpc_url), args.monitor, key, max_fee_gwei=getattr(args, "max_fee_gwei", 500.0))


def _registered(client: Any, module: bytes, text: str) -> None:
    registered, _paused, _active = client.module_info(module)
    if not registered:
        raise ConfigError(f"The module {text} (0x{module.hex()}) is not registered on the ModelMonitor at "
                          f"{client.address}; the council registers it first.")


def status_lines(client: Any, module: bytes, *, store: Any = None, from_block: int = 0) -> list[str]:
    """The module's pause configuration and pending quorums, one line each (also used by ``watchdog status``)."""
    from watchdog.actions.quorum import pause_config, pending_quorums

    cfg = pause_config(client, module)
    me = client.signer.address if client.signer is not None else None
    out = [f"pause config: {cfg.describe()}"]
    if not cfg.voting:
        out.append("one watchdog pauses alone (no votes)")
    pending = pending_quorums(client, module=module, from_block=from_block)
    out.append(f"pending quorums: {len(pending)}")
    out += ["    " + p.describe(me) for p in pending]
    if store is not None:
        from watchdog.actions.outbox import Outbox

        mine = [i for i in Outbox(store, None).items(("voted",)) if i.module_id.lower() == "0x" + module.hex()]
        out += [f"    our vote for incident {i.incident_id}: {i.quorum_note or 'voted'} (tx {i.tx_hash})" for i in mine]
    return out


def cmd_quorum_status(args: argparse.Namespace) -> int:
    module = _module(args.module)
    client = _client(args, signer=False)
    _registered(client, module, args.module)
    store = None
    if args.store:
        from watchdog.store.db import is_postgres_url
        from watchdog.store.store import Store

        if not is_postgres_url(args.store) and not Path(args.store).is_file():
            raise ConfigError(f"The store {args.store} does not exist; pass --store with the watchdog's database.")
        store = Store(args.store)
    try:
        lines = status_lines(client, module, store=store, from_block=args.from_block)
    finally:
        if store is not None:
            store.close()
    print(f"module {args.module} (0x{module.hex()}) on {client.address}")
    print("\n".join(lines))
    return 0


def cmd_quorum_set(args: argparse.Namespace) -> int:
    from watchdog.actions.quorum import check_pause_config, pause_config
    from watchdog.errors import ActionReverted

    check_pause_config(args.quorum, args.vote_window, args.max_pause)
    module = _module(args.module)
    client = _client(args, signer=True)
    _registered(client, module, args.module)
    address = client.signer.address
    if not client.has_role(ADMIN_ROLE, address):
        raise ConfigError(
            f"watchdog quorum set needs {ADMIN_ROLE} (the DAO timelock's role) on the ModelMonitor at "
            f"{client.address}, and the key {address} does not hold it; sign with the admin's key, or have the "
            f"timelock call setPauseConfig({args.module}, {args.quorum}, {args.vote_window}, {args.max_pause}, "
            f"{str(args.one_shot).lower()}).")
    try:
        res = client.transact("setPauseConfig", module, args.quorum, args.vote_window, args.max_pause,
                              bool(args.one_shot))
    except ActionReverted as e:
        raise ConfigError(f"setPauseConfig was refused: {e}") from None
    cfg = pause_config(client, module)
    print(f"module {args.module}: {cfg.describe()} (tx {res.tx_hash} block {res.block_number})")
    return 0
