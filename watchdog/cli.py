"""The ``watchdog`` command line: the parser and ``main``; every subcommand lives in :mod:`watchdog.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import signal
import sys
from collections.abc import Sequence
from typing import Any

from watchdog import __version__, commands
from watchdog.errors import WatchdogError
from watchdog.observe import logs

log = logging.getLogger("watchdog.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watchdog", allow_abbrev=False,
                                description="Monitoring and circuit breaker for ML models on-chain.")
    p.add_argument("--version", action="version", version=f"watchdog {__version__}")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Every module in watchdog/commands/ adds its own subcommands: register(subparsers).
    for mod in _command_modules():
        if hasattr(mod, "register"):  # (a module of shared options has none)
            mod.register(sub)
    return p


def _command_modules() -> list[Any]:
    return [importlib.import_module(f"{commands.__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name)]


def run() -> int:
    """The ``watchdog`` program: :func:`main` in a process of its own, with a Unix tool's signal handling.

    SIGTERM exits 143 and SIGPIPE is the default (``watchdog check P | head`` ends quietly). These are the
    process's, so only the program sets them: a caller of :func:`main` in its own process (a test, an embedding
    service) keeps its own (with SIGPIPE at the default, a write to a closed socket would kill it)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    try:
        return int(args.func(args) or 0)
    except WatchdogError as e:
        print(f"watchdog: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(run())
