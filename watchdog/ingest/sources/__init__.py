"""Sources of records: JSON Lines files (replay and follow), Parquet and CSV tables, oracle events.

All behind one small interface (:class:`Source`, yielding :class:`RawBatch` with the :class:`Position`
after each batch); :func:`watchdog.service.feed.feed` runs a batch through validation and the engine.
See :mod:`watchdog.ingest.sources.base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdog.ingest.sources.base import Position, RawBatch, Source
from watchdog.ingest.sources.jsonl import JsonlSource

__all__ = ["JsonlSource", "Position", "RawBatch", "Source", "TableSource"]

if TYPE_CHECKING:
    from watchdog.ingest.sources.chain import ChainSource
    from watchdog.ingest.sources.table import TableSource


def __getattr__(name: str) -> type[ChainSource] | type[TableSource]:
    # imported when first asked for: ChainSource pulls in web3 and TableSource pyarrow's CSV and Parquet
    # readers, which `watchdog --help` and the commands that read no table need not pay for
    if name == "ChainSource":
        from watchdog.ingest.sources.chain import ChainSource
        return ChainSource
    if name == "TableSource":
        from watchdog.ingest.sources.table import TableSource
        return TableSource
    raise AttributeError(name)
