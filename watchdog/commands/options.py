"""Options several commands share (no subcommand of its own): the signing key's guards."""

from __future__ import annotations

import argparse
from collections.abc import Callable
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


def address(flag: str, example: str) -> Callable[[str], tuple[str, int] | None]:
    """An argparse type for ``host:port`` or ``off`` (None), its error naming ``flag`` and an ``example``."""
    def parse(text: str) -> tuple[str, int] | None:
        if text.lower() in ("", "none", "off"):
            return None
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise argparse.ArgumentTypeError(f"{flag} must look like {example} or 'off', got {text!r}")
        return (host or "127.0.0.1", int(port))
    return parse
