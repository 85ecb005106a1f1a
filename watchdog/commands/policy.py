"""``watchdog check POLICY`` validates a policy; ``watchdog policy schema`` prints the policy's JSON Schema;
``watchdog policy test FILE...`` runs policy tests.

The schema lets an editor validate a policy as it is typed (e.g. YAML language server:
``# yaml-language-server: $schema=policy.schema.json``). Policy tests are data files in the spirit of
``promtool test rules`` (see `rules.testing`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import rules
from rules.testing import run_file


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy file, with the keys as they are written (``for``, ``all``)."""
    schema = rules.Policy.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "Watchdog policy")
    return schema


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(policy_json_schema(), indent=2, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"wrote the policy JSON Schema to {args.out}")
    else:
        print(text)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    failed = 0
    for name in args.files:
        try:
            result = run_file(name)
        except rules.PolicyError as e:
            for issue in e.errors:
                print(issue, file=sys.stderr)
            print(f"{name}: cannot run: {len(e.errors)} problem(s) in the test file or its policy", file=sys.stderr)
            failed += 1
            continue
        except OSError as e:
            print(f"{name}: cannot read: {e.strerror}", file=sys.stderr)
            failed += 1
            continue
        print(result.render())
        failed += not result.passed
    return 1 if failed else 0


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


def register(subparsers: Any) -> None:
    sub0 = subparsers
    c = sub0.add_parser("check", help="validate a policy file and summarise what each tier may do")
    c.add_argument("policy")
    c.set_defaults(func=cmd_check)

    p = subparsers.add_parser("policy", help="policy tools: JSON Schema export, policy tests")
    sub = p.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    s = sub.add_parser("schema", help="print the JSON Schema of policy files (for editors)")
    s.add_argument("--out", help="write to this file instead of standard output")
    s.set_defaults(func=cmd_schema)
    t = sub.add_parser("test", help="run policy tests (input signals over time, expected decisions)")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.set_defaults(func=cmd_test)
