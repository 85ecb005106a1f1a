"""Subcommands of ``watchdog``, one module per area; each module defines ``register(subparsers)``.

``register`` adds its parsers and sets ``func`` to a function taking the parsed ``argparse.Namespace``
and returning an exit code (0 done, 1 found problems, 2 refused), raising ``WatchdogError`` for a
refusal that ``watchdog.cli.main`` prints as one sentence.
"""
