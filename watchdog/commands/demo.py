"""``watchdog demo``: the whole path on one machine, an in-process chain, the bundled drifting log."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_demo(args: argparse.Namespace) -> int:
    from watchdog.service.demo import run_demo

    return run_demo(out_dir=Path(args.out), progress=not args.no_progress)


def register(sub: Any) -> None:
    d = sub.add_parser("demo", help="replay a bundled drifting log against an in-process chain")
    d.add_argument("--out", default="watchdog-demo",
                   help="folder for the demo's store and quarantine (default: %(default)s)")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_demo)

