"""Regenerate the demo log bundled with the package (seeded, so the output is byte-identical).

    .venv/bin/python scripts/generate_demo_log.py [--out watchdog/data/demo.jsonl]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from watchdog.service.demo_data import write_log

DEFAULT = Path(__file__).resolve().parent.parent / "watchdog" / "data" / "demo.jsonl"

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(DEFAULT))
    args = ap.parse_args()
    lines = write_log(args.out)
    print(f"wrote {lines} lines to {args.out}")
