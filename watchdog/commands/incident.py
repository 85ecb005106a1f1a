"""Steward commands for one incident: show it, acknowledge it, contest it on-chain.

    watchdog incident show ID [--store DB] [--rpc-url URL --monitor ADDR] [--json]
    watchdog incident ack ID --who NAME [--note TEXT] [--store DB]
    watchdog incident contest ID --upheld|--overturned --reason TEXT --rpc-url URL --monitor ADDR
                                                          the contest role (COUNCIL_ROLE unless the admin named another)

``show`` and ``ack`` work on the store, as ``GET /v1/incidents/{id}`` and ``POST /v1/incidents/{id}/ack`` of
the API do: an ack is kept (who, note, when), moves an open incident to ``acknowledged`` and is audited
as ``incident_acknowledged``. ``contest`` sends ``resolveIncident(incidentId, upheld, keccak256(reason))``;
the reason's text stays in the store's audit log, its hash goes on-chain.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.commands.chain import _chain_args, _monitor_args
from watchdog.commands.steward import _read_client, bytes32_hex, send
from watchdog.errors import ConfigError
from watchdog.fmt import iso_utc

if TYPE_CHECKING:
    from watchdog.store.store import Incident, Store

#: The API's limits for an acknowledgement (``AckIn``).
MAX_WHO = 200
MAX_NOTE = 4000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    i = sub.add_parser("incident", help="one incident: show, acknowledge, contest on-chain")
    isub = i.add_subparsers(dest="incident_action", metavar="{show,ack,contest}", required=True)

    s = isub.add_parser("show", help="an incident with its evidence, actions and acknowledgements (read only)")
    s.add_argument("incident", help="the incident id (0x...)")
    s.add_argument("--store", default="watchdog.db", help="SQLite file or postgresql:// URL (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    _chain_args(s, signer=False, required=False)
    s.add_argument("--monitor", help="with --rpc-url: also show the incident on-chain (used, verdict, operators)")
    s.set_defaults(func=cmd_show)

    a = isub.add_parser("ack", help="acknowledge an incident, as the API's POST /v1/incidents/{id}/ack does",
                        description="Record that a steward saw the incident: who, a note, when. An open incident "
                                    "becomes acknowledged; the ack is audited. No role: it touches only the store.")
    a.add_argument("incident", help="the incident id (0x...)")
    a.add_argument("--who", required=True, help=f"who acknowledges (1 to {MAX_WHO} characters)")
    a.add_argument("--note", default="", help=f"a note (at most {MAX_NOTE} characters)")
    a.add_argument("--store", default="watchdog.db", help="SQLite file or postgresql:// URL (default: %(default)s)")
    a.set_defaults(func=cmd_ack)

    c = isub.add_parser("contest", help="judge a watchdog incident on-chain: upheld or overturned (needs the "
                                        "contest role, COUNCIL_ROLE by default)",
                        description="Send resolveIncident(ID, upheld, keccak256(REASON)). Needs the monitor's "
                                    "contest role (contestRole(): COUNCIL_ROLE unless the admin named another). "
                                    "Only an incident a watchdog paused or rolled back for can be judged, once.")
    c.add_argument("incident", help="the incident id (0x...)")
    verdict = c.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--upheld", dest="upheld", action="store_true", default=None,
                         help="the watchdog was right")
    verdict.add_argument("--overturned", dest="upheld", action="store_false",
                         help="the watchdog was wrong: counted against each operator that made the incident")
    _chain_args(c)
    _monitor_args(c)
    c.add_argument("--reason", required=True, help="the written reasons: hashed on-chain, kept in the audit log")
    c.set_defaults(func=cmd_contest)


def _incident_id(text: str) -> bytes:
    try:
        return bytes32_hex(text)
    except argparse.ArgumentTypeError as e:
        raise ConfigError(f"Bad incident id: {e}.") from None


def _open_store(target: str) -> Store:
    from watchdog.store.db import is_postgres_url
    from watchdog.store.store import Store

    if not is_postgres_url(target) and not Path(target).is_file():
        raise ConfigError(f"The store {target} does not exist; pass --store with the watchdog's database.")
    return Store(target)


def _get(store: Store, incident_id: str) -> Incident:
    inc = store.incident(incident_id)
    if inc is None:
        raise ConfigError(f"No incident has id {incident_id[:80]!r} in the store {store.path}.")
    return inc


def acknowledge(store: Store, incident_id: str, who: str, note: str, at: float) -> dict[str, Any]:
    """Record a steward's acknowledgement the way the API's ack does, in one transaction."""
    store.acknowledge(_get(store, incident_id), who, note, at)
    return {"incident_id": incident_id, "who": who, "note": note, "at": iso_utc(at)}


def cmd_ack(args: argparse.Namespace) -> int:
    who = args.who.strip()
    if not who or len(args.who) > MAX_WHO:
        raise ConfigError(f"--who must name who acknowledges, in 1 to {MAX_WHO} characters.")
    if len(args.note) > MAX_NOTE:
        raise ConfigError(f"--note has {len(args.note)} characters, more than the limit of {MAX_NOTE}.")
    iid = _normal_id(args.incident)
    with _open_store(args.store) as store:
        out = acknowledge(store, iid, args.who, args.note, time.time())
        state = _get(store, iid).state
    print(f"acknowledged {out['incident_id']} by {out['who']} at {out['at']} (incident {state})")
    return 0


def _normal_id(text: str) -> str:
    """Incident ids are stored as ``0x`` and lower-case hex; accept any case."""
    return text.lower() if text[:2].lower() == "0x" else text


def cmd_show(args: argparse.Namespace) -> int:
    from watchdog.report.incidents import is_manual

    if args.rpc_url and not args.monitor:
        raise ConfigError("--rpc-url needs --monitor to read the incident on-chain.")
    iid = _normal_id(args.incident)
    with _open_store(args.store) as store:
        inc = store.incident(iid)
        if inc is None and not args.rpc_url:
            raise ConfigError(f"No incident has id {iid[:80]!r} in the store {store.path}; pass --rpc-url and "
                              "--monitor to read it on-chain.")
        actions = store.query("SELECT kind, module, status, tx_hash, block_number, error, created_at, updated_at "
                              "FROM actions WHERE incident_id = ? ORDER BY created_at", (iid,))
        acks = store.acks(iid)
        where = store.path
    doc: dict[str, Any] = {"id": iid, "in_store": inc is not None}
    if inc is not None:
        doc.update({
            "model": inc.model, "rule": inc.rule, "tier": inc.tier, "state": inc.state,
            "opened_at": iso_utc(inc.opened_at), "record_index": inc.record_index, "policy_hash": inc.policy_hash,
            "dry_run": inc.dry_run, "manual": is_manual(inc), "evidence_hash": inc.evidence_hash,
            "evidence": inc.evidence_data,
            "actions": [{**a, "created_at": iso_utc(a["created_at"]), "updated_at": iso_utc(a["updated_at"])}
                        for a in actions],
            "acks": [{**a, "at": iso_utc(a["at"])} for a in acks],
        })
    if args.rpc_url:
        client = _read_client(args)
        used, verdict, operators = client.incident_info(_incident_id(iid))
        doc["chain"] = {"used": used, "verdict": verdict, "operators": operators}
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    if inc is None:
        print(f"incident {iid}: not in the store {where}")
    else:
        print(f"incident {inc.id}: {inc.state}{' (manual)' if doc['manual'] else ''}"
              f"{' (dry run)' if inc.dry_run else ''}")
        print(f"  model {inc.model}, rule {inc.rule}, tier {inc.tier}, opened {doc['opened_at']} at record "
              f"{inc.record_index}")
        print(f"  policy {inc.policy_hash or '-'}, evidence hash {inc.evidence_hash}")
        for a in doc["actions"]:
            tx = f" tx {a['tx_hash']}" if a["tx_hash"] else ""
            print(f"  action {a['kind']} {a['module']}: {a['status']}{tx}"
                  + (f" ({a['error']})" if a["error"] else ""))
        for a in doc["acks"]:
            print(f"  ack by {a['who']} at {a['at']}" + (f": {a['note']}" if a["note"] else ""))
    if "chain" in doc:
        ch = doc["chain"]
        print(f"  on-chain: {'used' if ch['used'] else 'not used'}, verdict {ch['verdict']}, operators "
              f"{', '.join(ch['operators']) or 'none (the council, or unused)'}")
    if inc is not None:
        print("  evidence: " + json.dumps(doc["evidence"], sort_keys=True))
    return 0


def cmd_contest(args: argparse.Namespace) -> int:
    from eth_utils.crypto import keccak

    if not args.reason.strip():
        raise ConfigError("--reason must give the written reasons for the verdict; its hash goes on-chain.")
    incident = _incident_id(args.incident)
    reason_hash = keccak(text=args.reason)
    verdict = "upheld" if args.upheld else "overturned"
    send(args, f"watchdog incident contest {args.incident} --{verdict}", "resolveIncident",
         [incident, bool(args.upheld), reason_hash], role=lambda c: c.contest_role(),
         incident_id="0x" + incident.hex(), detail={"verdict": verdict, "reason_hash": "0x" + reason_hash.hex()})
    print(f"incident 0x{incident.hex()} {verdict}; reason hash 0x{reason_hash.hex()}")
    return 0
