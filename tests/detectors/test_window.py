from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors._window import RingBuffer

# An operation is an int (append) or a list of ints (extend, possibly longer than the buffer).
operations = st.lists(st.one_of(st.integers(-1000, 1000), st.lists(st.integers(-1000, 1000), max_size=30)))


@given(capacity=st.integers(1, 12), ops=operations)
def test_contents_are_the_last_capacity_items(capacity: int, ops: list[int | list[int]]) -> None:
    buf = RingBuffer(capacity, dtype=np.int64)
    looped = RingBuffer(capacity, dtype=np.int64)
    pushed: list[int] = []
    evicted: list[int] = []
    for op in ops:
        batch = op if isinstance(op, list) else [op]
        if isinstance(op, list):
            evicted.extend(buf.extend(op).tolist())
        else:
            out = buf.append(op)
            evicted.extend([] if out is None else [int(out)])
        for value in batch:
            looped.append(value)
        pushed.extend(batch)

        assert buf.values().tolist() == pushed[-capacity:] if pushed else buf.values().tolist() == []
        assert len(buf) == min(capacity, len(pushed))
        assert evicted + buf.values().tolist() == pushed  # what fell out, oldest first, then the rest
        assert buf.state() == looped.state()  # extend lays values out as the loop does
        assert sorted(buf.unordered().tolist()) == sorted(buf.values().tolist())

    again = RingBuffer.from_state(capacity, buf.state(), dtype=np.int64)
    assert again.state() == buf.state() and again.values().tolist() == buf.values().tolist()


def test_from_state_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer.from_state(2, {"data": [1, 2, 3], "pos": 0})
    with pytest.raises(ValueError, match="position"):
        RingBuffer.from_state(4, {"data": [1, 2], "pos": 3})


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(0)
