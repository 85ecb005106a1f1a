"""Two operators' watchdogs over the same records: an engine with a responder and a store of its own."""

from __future__ import annotations

from pathlib import Path

import rules
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.ingest.sources import Position, RawBatch
from watchdog.service.feed import feed
from watchdog.store.store import Incident, Store


def operator(policy_path: Path, store_path: Path) -> tuple[Engine, Store]:
    policy = rules.load_policy(policy_path)
    store = Store(store_path)
    responder = Responder(store, None, clock=lambda: 1.0e9)
    return Engine(policy, base_dir=policy_path.parent, on_decision=responder), store


def by_file(engine: Engine, log: list[bytes], step: int = 700, *, finish: bool = True) -> None:
    """The file path: blocks of lines into the columnar seam, line numbers from 1 (``finish``: the stream
    ends here, what is left in the batches is evaluated)."""
    for at in range(0, len(log), step):
        part = log[at:at + step]
        feed(engine, RawBatch("file", Position(at + len(part), at + len(part)), lines=part,
                              line_numbers=list(range(at + 1, at + len(part) + 1))), columnar=True)
    if finish:
        engine.finish()


def by_lines(engine: Engine, log: list[bytes], first_line: int = 50_001, junk_every: int = 0) -> None:
    """The HTTP / stream path: one line at a time, other line numbers, and (``junk_every``) lines that are
    not JSON in between, which only this operator sees and quarantines."""
    line = first_line
    for i, raw in enumerate(log):
        if junk_every and i % junk_every == 0:
            engine.process_line(b"not json {", line)
            line += 1
        engine.process_line(raw, line)
        line += 1
    engine.finish()


def incidents(store: Store) -> list[Incident]:
    return sorted(store.incidents(), key=lambda i: i.id)
