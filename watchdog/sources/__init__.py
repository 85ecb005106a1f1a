"""Sources of records: JSON Lines files (replay and follow), Parquet and CSV tables, oracle events.

All behind one small interface (:class:`Source`, yielding :class:`RawBatch` with the :class:`Position`
after each batch); :func:`feed` runs a batch through the engine. See :mod:`watchdog.sources.base`.
"""

from __future__ import annotations

from .base import FeedResult, Position, RawBatch, Source, feed
from .jsonl import JsonlSource

__all__ = ["FeedResult", "JsonlSource", "Position", "RawBatch", "Source", "feed"]

from .table import TableSource

__all__ += ["TableSource"]


def __getattr__(name: str):  # ChainSource pulls in web3: import it only when asked for
    if name == "ChainSource":
        from .chain import ChainSource
        return ChainSource
    raise AttributeError(name)
