"""``watchdog report``: the weekly model health report, its on-chain anchor and its verification.

    watchdog report --model M --week 2026-W47 [--store watchdog.db] [--policy P] [--out DIR] [--explorer-url URL]
    watchdog report anchor FILE --rpc-url URL --monitor ADDRESS [--key-file KEYSTORE]
    watchdog report verify FILE --rpc-url URL --monitor ADDRESS
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.errors import ConfigError

if TYPE_CHECKING:
    from watchdog.actions.chain import MonitorClient


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="write the weekly model health report (HTML + JSON); anchor or verify it",
                       description="Write one model's weekly health report, or anchor / verify a report's hash.")
    p.add_argument("--model", help="model id, as in the policy")
    p.add_argument("--week", help="ISO week, UTC, e.g. 2026-W47")
    p.add_argument("--store", default="watchdog.db",
                   help="the watchdog's store: SQLite file or postgresql:// URL (default: %(default)s)")
    p.add_argument("--policy", help="policy file: adds rule summaries and checks it was the policy in force")
    p.add_argument("--out", default="reports", help="folder for the two files (default: %(default)s)")
    p.add_argument("--explorer-url", help="block explorer base URL for transaction and block links")
    p.set_defaults(func=cmd_report)
    actions = p.add_subparsers(dest="report_action", metavar="{anchor,verify}")
    for name, help_ in (("anchor", "send ModelMonitor.heartbeat(reportHash) for a report's JSON file"),
                        ("verify", "check a report's JSON file against the hashes anchored on-chain")):
        a = actions.add_parser(name, help=help_)
        a.add_argument("file", help="the report's .json file (the hash covers its exact bytes)")
        a.add_argument("--rpc-url", required=True)
        a.add_argument("--monitor", required=True, help="address of the deployed ModelMonitor")
        a.add_argument("--from-block", type=int, default=0, help="first block to search for anchors (default: 0)")
        if name == "anchor":
            a.add_argument("--key-file", help="encrypted JSON keystore of an account with the watchdog role")
            a.add_argument("--key-password-file")
            a.set_defaults(func=cmd_anchor)
        else:
            a.set_defaults(func=cmd_verify)


def cmd_report(args: argparse.Namespace) -> int:
    import rules
    from watchdog.report import parse_week, write_report
    from watchdog.service.compose import load_policy_or_refuse
    from watchdog.store.db import is_postgres_url
    from watchdog.store.store import Store

    if not args.model or not args.week:
        raise ConfigError("watchdog report needs --model and --week (or the subcommand anchor / verify).")
    week = parse_week(args.week)
    if not is_postgres_url(args.store) and not Path(args.store).is_file():
        raise ConfigError(f"The store {args.store} does not exist; pass --store, the file `watchdog run` wrote.")
    policy: rules.Policy | None = load_policy_or_refuse(Path(args.policy)) if args.policy else None
    if policy is not None and args.model not in policy.model_ids:
        raise ConfigError(f"The model {args.model!r} is not in the policy {args.policy}; "
                          f"its models are {', '.join(policy.model_ids)}.")
    with Store(args.store) as store:
        files = write_report(store, args.model, week, args.out, policy=policy, now=datetime.now(UTC),
                             explorer_url=args.explorer_url)
    print(f"{args.model} {week.label}: {files.verdict}")
    print(f"  html: {files.html_path}")
    print(f"  json: {files.json_path}")
    print(f"  report hash: {files.report_hash}")
    return 0


def _client(args: argparse.Namespace, signing: bool) -> MonitorClient:
    from watchdog.actions.chain import MonitorClient, connect, load_signer

    signer = load_signer(args.key_file, args.key_password_file) if signing else None
    return MonitorClient(connect(args.rpc_url), args.monitor, signer)


def cmd_anchor(args: argparse.Namespace) -> int:
    from watchdog.report.anchor import anchor_report

    anchor, sent = anchor_report(args.file, _client(args, signing=True))
    verb = "anchored" if sent else "was already anchored"
    print(f"{args.file}: report hash {anchor.report_hash} {verb} on monitor {args.monitor} "
          f"in block {anchor.block_number} (tx {anchor.tx_hash}).")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from watchdog.report.anchor import verify_report

    result = verify_report(args.file, _client(args, signing=False), from_block=args.from_block)
    print(result.sentence)
    return 0 if result.ok else 1
