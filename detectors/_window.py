"""A fixed-capacity ring buffer over a numpy array: the sliding window of every detector.

Memory is bounded by the capacity whatever the length of the stream. ``append`` and ``extend``
return what they evict, so a detector can keep counts over the window incrementally (add what
came in, subtract what fell out) instead of recounting the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["RingBuffer"]


class RingBuffer:
    """The last ``capacity`` values pushed, stored in place.

    ``extend`` leaves the storage exactly as the equivalent sequence of ``append`` calls would,
    position for position, so the state (and a snapshot of it) does not depend on how a stream
    was split into batches.

    Parameters
    ----------
    capacity
        Maximum number of values held.
    dtype
        Numpy dtype of the storage.

    Examples
    --------
    >>> buf = RingBuffer(3, dtype=np.int64)
    >>> buf.extend([1, 2])
    array([], dtype=int64)
    >>> buf.append(3) is None
    True
    >>> buf.extend([4, 5, 6, 7]).tolist()   # everything that fell out, oldest first
    [1, 2, 3, 4]
    >>> buf.values().tolist()
    [5, 6, 7]

    """

    __slots__ = ("_count", "_data", "_pos", "capacity")

    def __init__(self, capacity: int, dtype: DTypeLike = np.float64) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._data = np.zeros(capacity, dtype=dtype)
        self._pos = 0  # where the next value goes
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        """Whether the buffer holds ``capacity`` values."""
        return self._count == self.capacity

    def append(self, value: Any) -> Any:
        """Push one value; return the value it evicted (a numpy scalar), or None."""
        evicted = self._data[self._pos] if self._count == self.capacity else None
        self._data[self._pos] = value
        self._pos = (self._pos + 1) % self.capacity
        if self._count < self.capacity:
            self._count += 1
        return evicted

    def extend(self, values: ArrayLike, skipped: int = 0) -> np.ndarray:
        """Push many values in order; return the evicted values, oldest first.

        Batches longer than the capacity are allowed: their own first values are evicted too.
        ``skipped`` values that are not given are taken as pushed before ``values`` and evicted
        by them (so ``values`` must fill the buffer): the storage ends as if they had been pushed,
        position for position, and they are not among the values returned.
        """
        new = np.asarray(values, dtype=self._data.dtype).reshape(-1)
        k, cap = new.shape[0], self.capacity
        if skipped < 0 or (skipped and k < cap):
            raise ValueError(f"skipped values must be evicted by those pushed: {skipped} skipped, {k} pushed")
        if k == 0:
            return new
        overflow = max(0, k - cap)  # values of the batch that never survive it
        n_old_out = min(self._count, max(0, self._count + skipped + k - cap))
        start = (self._pos - self._count) % cap
        old_out = self._data[(start + np.arange(n_old_out)) % cap]  # fancy indexing copies
        kept = new[overflow:]
        pos = self._pos + skipped
        self._data[(pos + overflow + np.arange(kept.shape[0])) % cap] = kept
        self._pos = (pos + k) % cap
        self._count = min(cap, self._count + skipped + k)
        return np.concatenate([old_out, new[:overflow]])

    def values(self) -> np.ndarray:
        """A copy of the contents, oldest first."""
        if self._count < self.capacity:
            return self._data[: self._count].copy()
        return np.concatenate([self._data[self._pos :], self._data[: self._pos]])

    def unordered(self) -> np.ndarray:
        """A read-only view of the contents in storage order (cheaper when order does not matter)."""
        view = self._data[: self._count]
        view.flags.writeable = False
        return view

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state: the filled storage as a list and the write position."""
        return {"data": self._data[: self._count].tolist(), "pos": self._pos}

    @classmethod
    def from_state(cls, capacity: int, state: dict[str, Any], dtype: DTypeLike = np.float64) -> RingBuffer:
        """Rebuild a buffer from :meth:`state`, storage position for position."""
        data = np.asarray(state["data"], dtype=dtype).reshape(-1)
        pos = int(state["pos"])
        if data.shape[0] > capacity:
            raise ValueError(f"state holds {data.shape[0]} values, more than the capacity {capacity}")
        if not 0 <= pos < capacity or (data.shape[0] < capacity and pos != data.shape[0] % capacity):
            raise ValueError(f"state position {pos} is inconsistent with {data.shape[0]} values")
        buf = cls(capacity, dtype)
        buf._data[: data.shape[0]] = data
        buf._count = data.shape[0]
        buf._pos = pos
        return buf
