"""Reading a JSON Lines source through the engine, with quarantine, progress and a summary."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from .engine import Engine
from .records import Quarantined

log = logging.getLogger("watchdog.runner")


@dataclass
class RunSummary:
    lines: int = 0
    predictions: int = 0
    labels: int = 0
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Progress:
    """A one-line progress display on a terminal, periodic plain lines elsewhere."""

    def __init__(self, total_bytes: int, stream: IO[str] | None = None, every: float = 0.25,
                 enabled: bool = True, clock: Callable[[], float] = time.monotonic):
        self.total = max(total_bytes, 1)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else 2.0
        self.enabled = enabled
        self.clock = clock
        self.start = clock()
        self.last = -1e9

    def update(self, done_bytes: int, lines: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self.last < self.every:
            return
        self.last = now
        frac = min(done_bytes / self.total, 1.0)
        rate = lines / max(now - self.start, 1e-9)
        bar = "#" * int(frac * 30)
        text = f"[{bar:<30}] {frac:6.1%}  {lines:,} lines  {rate:,.0f} lines/s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if force else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def replay_file(engine: Engine, path: str | Path, quarantine: BinaryIO | None, *,
                progress: Progress | None = None, after_line: Callable[[int], None] | None = None) -> RunSummary:
    """Read every line of ``path`` through ``engine``; bad lines go to ``quarantine``. Never stops on bad data."""
    path = Path(path)
    summary = RunSummary()
    t0 = time.monotonic()
    source = path.name
    done = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            done += len(raw)
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            summary.lines += 1
            rec = engine.process_line(line, lineno, source)
            if isinstance(rec, Quarantined):
                summary.quarantined += 1
                summary.quarantine_by_reason[rec.reason_code] = summary.quarantine_by_reason.get(rec.reason_code, 0) + 1
                if quarantine is not None:
                    quarantine.write(rec.to_json(str(path)) + b"\n")
                    quarantine.flush()
                log.info("record_quarantined", extra={"line": lineno, "reason": rec.reason_code})
            elif hasattr(rec, "prediction"):
                summary.predictions += 1
            else:
                summary.labels += 1
            if progress is not None:
                progress.update(done, summary.lines)
            if after_line is not None:
                after_line(lineno)
    engine.finish()
    if progress is not None:
        progress.update(done, summary.lines, force=True)
    summary.seconds = time.monotonic() - t0
    return summary
