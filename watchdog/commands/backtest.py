"""``watchdog backtest``: replay a history through a policy's detectors and rules, score it against ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cmd_backtest(args: argparse.Namespace) -> int:
    import rules
    from rules import load_policy
    from watchdog.service.backtest import backtest, load_truth
    from watchdog.service.runner import Progress

    truth = None
    if args.truth:
        try:
            models = load_policy(args.policy).model_ids
        except (rules.PolicyError, OSError):  # the backtest itself reports a bad policy in full
            models = None
        truth = load_truth(args.truth, models)
    log = Path(args.log)
    progress = Progress(log.stat().st_size if log.is_file() else 0, enabled=not args.no_progress)
    result = backtest(args.policy, log, truth, max_delay_records=args.max_delay_records, progress=progress)
    print(result.render())
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("backtest", help="replay a history through a policy: what would have fired, and how well")
    p.add_argument("--policy", required=True)
    p.add_argument("--log", required=True, help="JSON Lines history of records")
    p.add_argument("--truth", help="JSON list of known change points: {model, at_line | at_ts, kind}")
    p.add_argument("--max-delay-records", type=int, default=None,
                   help="a fire later than this many of the model's predictions after a change is a false alarm")
    p.add_argument("--json", help="also write the results as JSON to this file")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_backtest)
