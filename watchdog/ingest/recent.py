"""A model's recent predictions by request id: the duplicate-id check and the late-label join, bounded.

One window, the model's last ``capacity`` predictions in arrival order, serves both:

* a prediction whose id is in the window is a duplicate (quarantined ``duplicate_id``);
* a late label joins the prediction of its id while that prediction is in the window, has no label yet,
  and is no older than ``label_window`` seconds of the model's clock (data time); each prediction
  takes at most one label.

Every prediction gets a sequence number; its value, time and whether it awaits a label live in numpy
rings at ``seq % capacity``. The ids are kept in two forms, each built only when something needs it:

* Arrow string chunks, for the columnar path: a table's ids are checked against the whole window at
  once with ``pyarrow.compute.is_in`` (a hash set in C++), so a million rows cost no Python objects;
* a dict id -> seq, for the line path, for labels and for small tables: it absorbs new chunks lazily,
  ignores entries that have left the window and is rebuilt from the window when it grows to twice it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SEAL = 4096  # ids the line path appends before they become an Arrow chunk
FEW = 64  # tables of at most this many predictions are added one by one


class RecentPredictions:
    """The last ``capacity`` predictions of one model (see the module docstring)."""

    def __init__(self, capacity: int, *, numeric: bool = True):
        if capacity < 1:
            raise ValueError(f"the join capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.numeric = numeric
        self._next = 0  # sequence number of the next prediction
        self._value = np.zeros(capacity, dtype=float) if numeric else np.full(capacity, None, dtype=object)
        self._ts = np.zeros(capacity, dtype=float)
        self._open = np.zeros(capacity, dtype=bool)  # awaits its label
        self._chunks: deque[tuple[int, pa.Array]] = deque()  # (first seq, ids), oldest first
        self._pending: list[str] = []  # ids added one by one since the last chunk
        self._pending_start = 0
        self._index: dict[str, int] = {}
        self._indexed = 0  # the index holds every id with seq below this

    # -- size ---------------------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The oldest sequence number still in the window."""
        return max(0, self._next - self.capacity)

    def __len__(self) -> int:
        return self._next - self.head

    def awaiting(self, horizon: float | None = None) -> int:
        """Predictions in the window still awaiting a label (made at or after ``horizon``, when given)."""
        live = self._live_slots()
        open_ = self._open[live]
        if horizon is not None:
            open_ &= self._ts[live] >= horizon
        return int(open_.sum())

    def _live_slots(self) -> np.ndarray:
        return np.arange(self.head, self._next) % self.capacity

    # -- one at a time (the line path) -----------------------------------------------------------------

    def __contains__(self, rid: str) -> bool:
        return self.seq_of(rid) is not None

    @property
    def next_seq(self) -> int:
        """The sequence number the next prediction gets."""
        return self._next

    def add(self, rid: str, value: Any, ts: float, awaiting: bool) -> None:
        """Append one prediction (``awaiting``: it has no label yet)."""
        seq = self._next
        slot = seq % self.capacity
        self._value[slot] = value
        self._ts[slot] = ts
        self._open[slot] = awaiting
        if not self._pending:
            self._pending_start = seq
        self._pending.append(rid)
        self._next = seq + 1
        if self._indexed == seq:  # the index is current: keep it so
            self._index[rid] = seq
            self._indexed = seq + 1
            if len(self._index) > 2 * self.capacity:  # mostly ids that left the window: rebuild when next read
                self._index, self._indexed = {}, self.head
        if len(self._pending) >= _SEAL:
            self._seal()

    def take(self, rid: str, horizon: float | None = None) -> tuple[bool, Any]:
        """Join a label: ``(True, prediction)`` for an awaiting prediction of ``rid`` made at or after
        ``horizon``, which then awaits no more; ``(False, None)`` otherwise."""
        seq = self.seq_of(rid)
        if seq is None:
            return False, None
        slot = seq % self.capacity
        if not self._open[slot] or (horizon is not None and self._ts[slot] < horizon):
            return False, None
        self._open[slot] = False
        value = self._value[slot]
        return True, (float(value) if self.numeric else value)

    def seq_of(self, rid: str) -> int | None:
        """The sequence number of ``rid``'s prediction in the window, or None."""
        self._catch_up()
        seq = self._index.get(rid)
        return seq if seq is not None and seq >= self.head else None

    def _catch_up(self) -> None:
        """Bring the dict index up to every id in the window."""
        if self._indexed == self._next:
            return
        head = self.head
        if self._indexed < head or len(self._index) > 2 * self.capacity:
            self._index, self._indexed = {}, head
        behind = []  # the chunks with ids not yet indexed: the newest ones, found from the end
        for start, ids in reversed(self._chunks):
            if start + len(ids) <= self._indexed:
                break
            behind.append((start, ids))
        for start, ids in reversed(behind):
            end = start + len(ids)
            skip = max(0, self._indexed - start)
            self._index.update(zip(ids.slice(skip).to_pylist(), range(self._indexed, end), strict=False))
            self._indexed = end
        if self._pending and self._indexed < self._next:
            skip = self._indexed - self._pending_start
            self._index.update(zip(self._pending[skip:], range(self._indexed, self._next), strict=False))
        self._indexed = self._next

    # -- many at once (the columnar path) ---------------------------------------------------------------

    def contains_many(self, ids: pa.Array) -> np.ndarray:
        """Which of ``ids`` (a string array without nulls) are in the window."""
        n = len(ids)
        if n == 0 or not len(self):
            return np.zeros(n, dtype=bool)
        if 16 * n < len(self):  # few ids: the dict (each id enters it once), else a hash set of the window in C++
            self._catch_up()
            index, head = self._index, self.head
            return np.fromiter(((s := index.get(r)) is not None and s >= head for r in ids.to_pylist()),
                               dtype=bool, count=n)
        found: np.ndarray = pc.is_in(ids, value_set=self._window_ids()).to_numpy(zero_copy_only=False)
        return found

    def add_many(self, ids: pa.Array | list[str], values: np.ndarray, ts: np.ndarray, awaiting: np.ndarray, *,
                 before: int = 0) -> None:
        """Append predictions in order (equal lengths; ``awaiting``: no label yet; ids as an Arrow string
        array or a list).

        ``before``: that many predictions came just before these, which leave the window with them
        (so there must be at least ``capacity`` of these when it is not 0): they only count."""
        n = len(ids)
        if before and n < self.capacity:
            raise ValueError(f"{before} predictions cannot leave a window of {self.capacity} behind only {n}")
        if not before and n <= FEW:  # a few rows (a table cut by labels): one by one, into the pending ids
            names = ids if isinstance(ids, list) else ids.to_pylist()
            for rid, value, t, aw in zip(names, values.tolist(), ts.tolist(), awaiting.tolist(), strict=False):
                self.add(rid, value, t, aw)
            return
        if isinstance(ids, list):
            ids = pa.array(ids, pa.string())
        elif ids.type != pa.string():
            ids = ids.cast(pa.string())  # one type for every chunk (a table may bring large_string)
        self._seal()
        self._next += before
        if n == 0:
            return
        keep = min(n, self.capacity)  # the first n - keep leave the window at once
        first = self._next + n - keep
        slots = (first + np.arange(keep)) % self.capacity
        self._value[slots] = values[n - keep:]
        self._ts[slots] = ts[n - keep:]
        self._open[slots] = awaiting[n - keep:]
        self._chunks.append((first, ids.slice(n - keep)))
        self._next += n
        self._trim()

    def _seal(self) -> None:
        if self._pending:
            self._chunks.append((self._pending_start, pa.array(self._pending, pa.string())))
            self._pending = []
        self._trim()

    def _trim(self) -> None:
        head = self.head
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= head:
            self._chunks.popleft()

    def _window_ids(self) -> pa.Array:
        self._seal()
        head = self.head
        parts = [ids.slice(max(0, head - start)) for start, ids in self._chunks]
        return pa.concat_arrays(parts) if len(parts) != 1 else parts[0]

    # -- checkpoints ------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The window as plain JSON data, oldest first."""
        slots = self._live_slots()
        return {"next": self._next, "ids": self._window_ids().to_pylist() if len(self) else [],
                "values": self._value[slots].tolist(), "ts": self._ts[slots].tolist(),
                "awaiting": self._open[slots].tolist()}

    def restore(self, s: dict[str, Any]) -> None:
        ids = list(s["ids"])
        n = len(ids)
        if not (len(s["values"]) == len(s["ts"]) == len(s["awaiting"]) == n) or n > int(s["next"]):
            raise ValueError("the recent predictions' arrays differ in length")
        self.__init__(self.capacity, numeric=self.numeric)  # type: ignore[misc]
        keep = min(n, self.capacity)
        self._next = int(s["next"]) - keep
        values = np.asarray(s["values"][n - keep:], dtype=float if self.numeric else object)
        self.add_many(pa.array(ids[n - keep:], pa.string()), values,
                      np.asarray(s["ts"][n - keep:], dtype=float), np.asarray(s["awaiting"][n - keep:], dtype=bool))
