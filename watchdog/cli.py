"""The ``watchdog`` command line: check a policy, run on a log, run the demo."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Sequence

from prometheus_client import start_http_server

import rules

from watchdog import __version__
from watchdog.observe import logs, notify
from watchdog.errors import WatchdogError

log = logging.getLogger("watchdog.cli")


def _host_port(text: str) -> tuple[str, int] | None:
    if text.lower() in ("", "none", "off"):
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--metrics-addr must look like 127.0.0.1:9464 or 'off', got {text!r}")
    return (host or "127.0.0.1", int(port))


def cmd_check(args: argparse.Namespace) -> int:
    try:
        policy = rules.load_policy(args.policy)
    except rules.PolicyError as e:
        for issue in e.errors:
            print(issue, file=sys.stderr)
        print(f"{len(e.errors)} error(s) in {args.policy}; the watchdog would refuse to start.", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{args.policy}: cannot read the policy: {e.strerror}", file=sys.stderr)
        return 1
    print(f"{args.policy}: OK, policy {policy.name!r}, hash {policy.hash}")
    print(rules.format_summary(policy))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from watchdog.service.compose import RunOptions, run

    opts = RunOptions(
        policy=Path(args.policy), source=Path(args.source), rpc_url=args.rpc_url, monitor=args.monitor,
        key_file=args.key_file, key_password_file=args.key_password_file, store=Path(args.store),
        quarantine=Path(args.quarantine), metrics_addr=args.metrics_addr, dry_run=args.dry_run,
        max_fee_gwei=args.max_fee_gwei, progress=not args.no_progress,
        confirmations=args.confirmations, stuck_blocks=args.stuck_blocks,
        **notify.options(args),
    )
    if opts.metrics_addr is not None:
        log.info("metrics_serving", extra={"addr": f"{opts.metrics_addr[0]}:{opts.metrics_addr[1]}"})
    result = run(opts, start_metrics=lambda reg: start_http_server(opts.metrics_addr[1], opts.metrics_addr[0],
                                                                   registry=reg) if opts.metrics_addr else None)
    print(result.render())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from watchdog.service.demo import run_demo

    return run_demo(out_dir=Path(args.out), progress=not args.no_progress)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watchdog", allow_abbrev=False, description="Monitoring and circuit breaker for ML models on-chain.")
    p.add_argument("--version", action="version", version=f"watchdog {__version__}")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", help="validate a policy file and summarise what each tier may do")
    c.add_argument("policy")
    c.set_defaults(func=cmd_check)

    r = sub.add_parser("run", help="read a JSON Lines log through the detectors and rules, and act")
    r.add_argument("--policy", required=True)
    r.add_argument("--source", required=True, help="JSON Lines file of records")
    r.add_argument("--rpc-url", action="append",
                   help="JSON-RPC endpoint, repeatable (failover in order); without it actions are recorded, not sent")
    r.add_argument("--monitor", help="address of the deployed ModelMonitor")
    r.add_argument("--key-file", help="encrypted JSON keystore (password from WATCHDOG_KEY_PASSWORD or --key-password-file)")
    r.add_argument("--key-password-file")
    r.add_argument("--store", default="watchdog.db", help="SQLite file for incidents and actions (default: %(default)s)")
    r.add_argument("--quarantine", default="quarantine.jsonl", help="where invalid records go (default: %(default)s)")
    r.add_argument("--metrics-addr", type=_host_port, default=_host_port("127.0.0.1:9464"),
                   help="host:port for /metrics, or 'off' (default: 127.0.0.1:9464)")
    r.add_argument("--dry-run", action="store_true", help="evaluate and record everything, send nothing on-chain")
    r.add_argument("--max-fee-gwei", type=float, default=500.0, help="cap on the fee per gas (default: %(default)s)")
    r.add_argument("--confirmations", type=int, default=3, help="blocks deep before an action is confirmed (default: %(default)s)")
    r.add_argument("--stuck-blocks", type=int, default=3,
                   help="blocks without inclusion before a transaction is replaced with a 12.5%% higher fee (default: %(default)s)")
    r.add_argument("--no-progress", action="store_true")
    notify.add_arguments(r)
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="replay a bundled drifting log against an in-process chain")
    d.add_argument("--out", default="watchdog-demo", help="folder for the demo's store and quarantine (default: %(default)s)")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_demo)

    # Every module in watchdog/commands/ adds its own subcommands: register(subparsers).
    for mod in _command_modules():
        mod.register(sub)
    return p


def _command_modules() -> list:
    import importlib
    import pkgutil

    from watchdog import commands

    return [importlib.import_module(f"{commands.__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if hasattr(signal, "SIGPIPE"):  # `watchdog check P | head` ends quietly, as a Unix tool should
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return int(args.func(args) or 0)
    except WatchdogError as e:
        print(f"watchdog: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
