"""``watchdog evidence``: an incident's evidence as a bundle anyone can check, and the check.

    watchdog evidence export ID [--store DB] [--policy P] [--log FILE [--with-records]] [--out BUNDLE]
    watchdog evidence verify BUNDLE --log FILE [--policy P] (--rpc-url URL --monitor ADDR | --no-chain)
    watchdog evidence prove BUNDLE RECORD_ID [--out FILE]

``verify`` exits 0 when every check passes, 1 when one fails (each failure says what differs), 2 when the
bundle, log or policy cannot be read. The formats are in :mod:`watchdog.evidence.bundle`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _lines(path: str) -> Iterator[bytes]:
    from watchdog.evidence.bundle import EvidenceError

    try:
        with open(path, "rb") as f:
            yield from (raw for raw in f if raw.strip())
    except OSError as e:
        raise EvidenceError(f"The log {path} could not be read: {e.strerror}.") from None


def _write(text: str, out: str | None) -> None:
    if out is None:
        print(text)
        return
    Path(out).write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out}")


def cmd_export(args: argparse.Namespace) -> int:
    from watchdog.evidence.bundle import EvidenceError, export
    from watchdog.store.store import Store

    if args.with_records and not args.log:
        raise EvidenceError("--with-records needs --log: the records come from the log the watchdog read.")
    if not Path(args.store).is_file():
        raise EvidenceError(f"The store {args.store} does not exist; pass --store.")
    policy_text = None
    if args.policy:
        try:
            policy_text = Path(args.policy).read_text(encoding="utf-8")
        except OSError as e:
            raise EvidenceError(f"The policy {args.policy} could not be read: {e.strerror}.") from None
    with Store(args.store) as store:
        bundle = export(store, args.incident, policy_text=policy_text,
                        log_lines=_lines(args.log) if args.with_records else None)
    _write(json.dumps(bundle, indent=1, sort_keys=True), args.out)
    return 0


def _onchain(args: argparse.Namespace) -> Any:
    from watchdog.actions.chain import MonitorClient, connect, to_bytes32

    client = MonitorClient(connect(args.rpc_url), args.monitor)  # read-only: no signer

    def hashes(incident_id: str) -> list[str]:
        key = to_bytes32(incident_id)
        out = []
        for event in (client.contract.events.ModulePaused, client.contract.events.ModuleRolledBack):
            for e in event().get_logs(from_block=0, argument_filters={"incidentId": key}):
                out.append("0x" + bytes(e["args"]["evidenceHash"]).hex())
        return out

    return hashes


def cmd_verify(args: argparse.Namespace) -> int:
    import rules
    from watchdog.evidence.bundle import EvidenceError
    from watchdog.evidence.verify import load_bundle, verify

    if not args.no_chain and not (args.rpc_url and args.monitor):
        raise EvidenceError("verify checks the evidence hash on-chain: pass --rpc-url and --monitor "
                            "(or --no-chain to skip that check).")
    bundle = load_bundle(args.bundle)
    try:
        if args.policy:
            policy = rules.load_policy(args.policy)
            base = Path(args.policy).parent
        elif isinstance(bundle.get("policy"), dict) and bundle["policy"].get("text"):
            base = Path(args.bundle).parent
            policy = rules.load_policy_text(str(bundle["policy"]["text"]), f"the policy in {args.bundle}",
                                            base_dir=base)
        else:
            raise EvidenceError(f"The bundle {args.bundle} carries no policy: pass the policy file with --policy.")
    except rules.PolicyError as e:
        raise EvidenceError(f"The policy cannot be loaded: {e}") from None
    except OSError as e:
        raise EvidenceError(f"The policy {args.policy} could not be read: {e.strerror}.") from None
    onchain = None if args.no_chain else _onchain(args)
    report = verify(bundle, _lines(args.log), policy, base, onchain)
    print(report.render())
    return 0 if report.ok else 1


def cmd_prove(args: argparse.Namespace) -> int:
    from watchdog.evidence.bundle import EvidenceError
    from watchdog.evidence.merkle import from_hex, proof
    from watchdog.evidence.verify import load_bundle

    bundle = load_bundle(args.bundle)
    leaves = bundle["leaves"]
    index = next((i for i, lf in enumerate(leaves) if lf.get("id") == args.record), None)
    if index is None:
        raise EvidenceError(f"Record {args.record!r} is not in the window of incident {bundle['incident_id']}.")
    prf = proof([from_hex(str(lf["hash"])) for lf in leaves], index)
    out = {"incident_id": bundle["incident_id"], "record": args.record,
           "merkle_root": bundle["evidence"]["window"]["merkle_root"], "proof": prf}
    record = next((r for r in bundle.get("records") or [] if r.get("id") == args.record), None)
    if record is not None:
        out["record_json"] = record
    _write(json.dumps(out, indent=1, sort_keys=True), args.out)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("evidence", help="export an incident's evidence as a bundle, or verify one")
    sub = p.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")

    e = sub.add_parser("export", help="write an incident's evidence bundle (evidence, record hashes, records)")
    e.add_argument("incident", help="the incident id (0x...)")
    e.add_argument("--store", default="watchdog.db", help="the watchdog's SQLite store (default: %(default)s)")
    e.add_argument("--policy", help="the policy file, to carry in the bundle")
    e.add_argument("--log", help="the log the watchdog read, for --with-records")
    e.add_argument("--with-records", action="store_true", help="carry the window's raw records too")
    e.add_argument("--out", help="the bundle's file (default: standard output)")
    e.set_defaults(func=cmd_export)

    v = sub.add_parser("verify", help="recompute a bundle from the raw records and check it up to the chain")
    v.add_argument("bundle")
    v.add_argument("--log", required=True, help="the raw records (JSON Lines), replayed from the first line")
    v.add_argument("--policy", help="the policy file (default: the one the bundle carries)")
    v.add_argument("--rpc-url", action="append", help="JSON-RPC endpoint, repeatable (failover in order)")
    v.add_argument("--monitor", help="address of the deployed ModelMonitor")
    v.add_argument("--no-chain", action="store_true", help="skip the on-chain check")
    v.set_defaults(func=cmd_verify)

    r = sub.add_parser("prove", help="a Merkle proof that one record was in an incident's window")
    r.add_argument("bundle")
    r.add_argument("record", help="the record's id")
    r.add_argument("--out", help="the proof's file (default: standard output)")
    r.set_defaults(func=cmd_prove)
