"""The records a model's detectors' windows hold, as the evidence names them: ids, data times, values.

A :class:`RecordRing` keeps the last ``capacity`` predictions of one model that reached its detectors, in
the order they reached them: each one's id, data time and the values its detectors read (the columns of
:meth:`~watchdog.engine.model.ModelRuntime.column_keys` but the time). An incident's evidence hashes them
into its Merkle tree's leaves (:mod:`watchdog.evidence.bundle`), so the window is named by the records
themselves, not by one operator's line numbers.

Nothing here is hashed or turned into Python objects as records arrive: the table path appends column
slices (its ids stay an Arrow array), the line path appends to short lists, and both become one window
only when it is read (an incident fires, a checkpoint is written)::

    append(record)                  one record (the line path)
    extend(ids, ts, columns)        a table's rows (Arrow or list ids, numpy columns)
    last(n) -> Window               the last n records, materialised
    snapshot() / RecordRing.restore(json, capacity, keys)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Window:
    """Materialised records of a ring, oldest first: ``values[key][i]`` belongs to ``ids[i]``."""

    ids: list[str]
    ts: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)


PREDICTION_KEY = "\0prediction"  # the column of the prediction (no feature can be named so)

class Row(Protocol):
    """A record as the line path has it (:class:`watchdog.ingest.records.Prediction`)."""

    @property
    def id(self) -> str: ...
    @property
    def ts(self) -> float: ...
    @property
    def features(self) -> Mapping[str, Any]: ...
    @property
    def prediction(self) -> Any: ...


_Segment = tuple[Any, np.ndarray, dict[str, np.ndarray]]  # (ids: pa.Array | list[str], ts, columns)


class RecordRing:
    """The last ``capacity`` records of a model (see the module docstring). ``keys`` name the value columns;
    ``numeric`` those of them that are floats (the others hold objects: a category or None)."""

    def __init__(self, capacity: int, keys: Mapping[str, bool]):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.keys = dict(keys)  # key -> numeric
        self._segs: deque[_Segment] = deque()
        self._n = 0  # records in _segs
        # the line path's records as they came: turned into columns only when read, and only the last
        # ``capacity`` of them
        self._open: list[Row] = []

    def __len__(self) -> int:
        return min(self._n + len(self._open), self.capacity)

    def append(self, rec: Row) -> None:
        """One record (its features: a key of the ring that is not among them is missing; its prediction:
        the column :data:`PREDICTION_KEY`), kept as it is until read."""
        self._open.append(rec)
        if len(self._open) >= 2 * self.capacity:  # the older half can never be read: drop it unconverted
            del self._open[:-self.capacity]
            self._segs.clear()
            self._n = 0

    def extend(self, ids: pa.Array | Sequence[str], ts: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        """Records in order: their ids (an Arrow string array or a list), data times and value columns."""
        if not len(ts):
            return
        self._seal()
        self._segs.append((ids, ts, {k: columns[k] for k in self.keys}))
        self._n += len(ts)
        self._trim()

    def _seal(self) -> None:
        if not self._open:
            return
        rows = self._open[-self.capacity:]
        if len(rows) < len(self._open):
            self._segs.clear()
            self._n = 0
        self._open = []
        cols = {k: _column([r.prediction for r in rows] if k == PREDICTION_KEY else [r.features.get(k) for r in rows],
                           numeric) for k, numeric in self.keys.items()}
        self._segs.append(([r.id for r in rows], np.asarray([r.ts for r in rows], dtype=float), cols))
        self._n += len(rows)
        self._trim()

    def _trim(self) -> None:
        while self._segs and self._n - len(self._segs[0][1]) >= self.capacity:
            self._n -= len(self._segs.popleft()[1])

    def last(self, n: int | None = None) -> Window:
        """The last ``n`` records (all it holds when None or more)."""
        self._seal()
        want = len(self) if n is None else max(0, min(n, len(self)))
        ids: list[str] = []
        ts: list[np.ndarray] = []
        cols: dict[str, list[np.ndarray]] = {k: [] for k in self.keys}
        left = want
        for seg_ids, seg_ts, seg_cols in reversed(self._segs):
            if left <= 0:
                break
            take = min(left, len(seg_ts))
            start = len(seg_ts) - take
            part = seg_ids[start:]
            ids[:0] = part.to_pylist() if isinstance(part, pa.Array) else list(part)
            ts.insert(0, seg_ts[start:])
            for k in self.keys:
                cols[k].insert(0, seg_cols[k][start:])
            left -= take
        return Window(ids, np.concatenate(ts) if ts else np.zeros(0),
                      {k: np.concatenate(v) if v else _column([], self.keys[k]) for k, v in cols.items()})

    def resized(self, capacity: int, keys: Mapping[str, bool]) -> RecordRing:
        """A ring of another capacity or columns with the records this one holds (a policy reload); a column
        this one lacks is missing for them."""
        out = RecordRing(capacity, keys)
        w = self.last()
        if len(w):
            out.extend(w.ids, w.ts, {k: w.values[k] if k in w.values and self.keys[k] == numeric
                                     else _column([None] * len(w), numeric) for k, numeric in keys.items()})
        return out

    def snapshot(self) -> dict[str, Any]:
        w = self.last()
        return {"ids": w.ids, "ts": w.ts.tolist(),
                "values": {k: [None if isinstance(v, float) and math.isnan(v) else v for v in w.values[k].tolist()]
                           for k in self.keys}}

    @classmethod
    def restore(cls, j: Mapping[str, Any], capacity: int, keys: Mapping[str, bool]) -> RecordRing:
        """A ring from :meth:`snapshot` (a column the snapshot lacks is missing for its records)."""
        out = cls(capacity, keys)
        ids = [str(x) for x in j["ids"]]
        if ids:
            vals = j["values"]
            out.extend(ids, np.asarray(j["ts"], dtype=float),
                       {k: _column(vals.get(k, [None] * len(ids)), numeric) for k, numeric in keys.items()})
        return out


def _column(values: Sequence[Any], numeric: bool) -> np.ndarray:
    if numeric:
        return np.asarray([math.nan if v is None else v for v in values], dtype=float)
    return np.asarray(list(values), dtype=object)
