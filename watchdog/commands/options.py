"""Options several commands share (no subcommand of its own): the signing key's guards."""

from __future__ import annotations

import argparse
from typing import Any


def add_signer_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-privileged-key", action="store_true",
                   help="start even when the key also holds the admin or council role (which lifts the on-chain "
                        "rate limit for it); refused by default")
    p.add_argument("--min-actions", type=int, default=1,
                   help="refuse to start when the key's balance pays for fewer pauses than this, and report how "
                        "many it pays for (watchdog_signer_actions_affordable) (default: %(default)s)")


def signer_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"allow_privileged_key": args.allow_privileged_key, "min_actions": args.min_actions}
