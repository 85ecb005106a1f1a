"""``watchdog run``: read a log (JSON Lines, Parquet or CSV) once through the detectors and rules, act, and
print what happened."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from watchdog.commands.options import add_signer_arguments, address, signer_options
from watchdog.errors import ConfigError
from watchdog.observe import notify

log = logging.getLogger("watchdog.cli")


_host_port = address("--metrics-addr", "127.0.0.1:9464")


def _share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--max-quarantined-share must be a number, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"--max-quarantined-share must be from 0 to 1, got {text!r}")
    return v


def quarantined_sentence(quarantined: int, lines: int, limit: float, quarantine: Path) -> str | None:
    """The warning `run` prints when more than ``limit`` of the lines read were quarantined (exit 4), else None."""
    if lines == 0 or quarantined / lines <= limit:
        return None
    return (f"{quarantined:,} of {lines:,} records ({quarantined / lines:.0%}) were quarantined, more than "
            f"--max-quarantined-share {limit:g}: the detectors saw too little of this source for its verdict to "
            f"mean anything. Read the reasons in {quarantine}; is the source in the policy's format?")


def cmd_run(args: argparse.Namespace) -> int:
    # web3, pyarrow, the engine: loaded when running, not for `watchdog --help`
    from prometheus_client import start_http_server

    from watchdog.actions.responder import unsent_sentence
    from watchdog.service.oneshot import RunOptions, run
    from watchdog.service.runner import file_source

    if Path(args.source).is_file():
        file_source(args.source)  # a binary file of no known format is refused before anything starts

    opts = RunOptions(
        policy=Path(args.policy), source=Path(args.source), rpc_url=args.rpc_url, monitor=args.monitor,
        key_file=args.key_file, key_password_file=args.key_password_file, store=Path(args.store),
        quarantine=Path(args.quarantine), metrics_addr=args.metrics_addr, dry_run=args.dry_run,
        max_fee_gwei=args.max_fee_gwei, progress=not args.no_progress,
        confirmations=args.confirmations, stuck_blocks=args.stuck_blocks,
        **notify.options(args), **signer_options(args),
    )

    def start_metrics(registry: Any) -> None:
        if opts.metrics_addr is None:
            return
        host, port = opts.metrics_addr
        try:
            start_http_server(port, host, registry=registry)
        except OSError as e:
            raise ConfigError(f"--metrics-addr {host}:{port} cannot be served: {e.strerror or e}; choose another "
                              "address or 'off'.") from None
        log.info("metrics_serving", extra={"addr": f"{host}:{port}"})

    result = run(opts, start_metrics=start_metrics)
    print(result.render())
    too_many = quarantined_sentence(result.summary.quarantined, result.summary.lines, args.max_quarantined_share,
                                    opts.quarantine)
    if too_many is not None:
        print(f"WARNING: {too_many}", file=sys.stderr)
    if result.unsent:  # an unsent protective action outranks bad input: exit 3
        print(unsent_sentence(result.unsent), file=sys.stderr)
        return 3
    return 4 if too_many is not None else 0


def register(sub: Any) -> None:
    r = sub.add_parser("run", help="read a JSON Lines log through the detectors and rules, and act")
    r.add_argument("--policy", required=True)
    r.add_argument("--source", required=True,
                   help="file of records: JSON Lines, or Parquet (.parquet) or CSV (.csv) by suffix")
    r.add_argument("--rpc-url", action="append",
                   help="JSON-RPC endpoint, repeatable (failover in order); without it actions are recorded, not sent")
    r.add_argument("--monitor", help="address of the deployed ModelMonitor")
    r.add_argument("--key-file",
                   help="encrypted JSON keystore (password from WATCHDOG_KEY_PASSWORD or --key-password-file)")
    r.add_argument("--key-password-file")
    r.add_argument("--store", default="watchdog.db",
                   help="SQLite file for incidents and actions (default: %(default)s)")
    r.add_argument("--quarantine", default="quarantine.jsonl", help="where invalid records go (default: %(default)s)")
    r.add_argument("--metrics-addr", type=_host_port, default=_host_port("127.0.0.1:9464"),
                   help="host:port for /metrics, or 'off' (default: 127.0.0.1:9464)")
    r.add_argument("--dry-run", action="store_true", help="evaluate and record everything, send nothing on-chain")
    r.add_argument("--max-fee-gwei", type=float, default=500.0, help="cap on the fee per gas (default: %(default)s)")
    r.add_argument("--confirmations", type=int, default=3,
                   help="blocks deep before an action is confirmed (default: %(default)s)")
    r.add_argument("--stuck-blocks", type=int, default=3,
                   help="blocks without inclusion before a transaction is replaced with a 12.5%% higher fee "
                        "(default: %(default)s)")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--max-quarantined-share", type=_share, default=0.5,
                   help="exit 4 with a warning when more than this share of the records is quarantined "
                        "(default: %(default)s)")
    notify.add_arguments(r)
    add_signer_arguments(r)
    r.set_defaults(func=cmd_run)

