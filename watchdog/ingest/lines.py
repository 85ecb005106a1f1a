"""Lines of one read buffer, cut only when somebody reads one.

A file source reads 16 MiB at a time and finds the line ends with numpy; cutting every line out as its own
``bytes`` object, only for the columnar path to join them back into one buffer for pyarrow, was a tenth of the
JSONL path's CPU. :class:`Lines` keeps the buffer and the spans instead: :meth:`Lines.joined` hands pyarrow one
slice of the buffer when only newlines separate the lines, and a line is cut out only where the line path or the
quarantine needs it.

>>> import numpy as np
>>> data = b'{"a":1}\\n{"a":2}\\r\\n\\n{"a":3}\\n'
>>> lines = Lines(data, np.array([0, 8, 18]), np.array([7, 15, 25]))
>>> len(lines), lines[1], list(lines[::2])
(3, b'{"a":2}', [b'{"a":1}', b'{"a":3}'])
>>> lines[:1].joined(), lines.joined()
(b'{"a":1}', b'{"a":1}\\n{"a":2}\\n{"a":3}')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np


class Lines(Sequence[bytes]):
    """``data[starts[i]:ends[i]]`` for each ``i``, as a read-only sequence of ``bytes``."""

    __slots__ = ("data", "ends", "starts")

    def __init__(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> None:
        if len(starts) != len(ends):
            raise ValueError(f"starts and ends must have the same length, got {len(starts)} and {len(ends)}")
        self.data = data
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, i: int) -> bytes: ...

    @overload
    def __getitem__(self, i: slice) -> Lines: ...

    def __getitem__(self, i: int | slice) -> bytes | Lines:
        if isinstance(i, slice):
            return Lines(self.data, self.starts[i], self.ends[i])
        return self.data[int(self.starts[i]):int(self.ends[i])]

    def __iter__(self) -> Iterator[bytes]:
        data = self.data
        for a, b in zip(self.starts.tolist(), self.ends.tolist(), strict=True):
            yield data[a:b]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Lines | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking like a list: not hashable

    def __repr__(self) -> str:
        return f"Lines({list(self)!r})" if len(self) <= 4 else f"Lines(<{len(self)} lines>)"

    def joined(self) -> bytes:
        """The lines joined by newlines: one slice of the buffer where nothing but a newline lies between them."""
        if not len(self.starts):
            return b""
        if bool((self.starts[1:] == self.ends[:-1] + 1).all()):
            return self.data[int(self.starts[0]):int(self.ends[-1])]
        return b"\n".join(self)


def joined(lines: Sequence[bytes]) -> bytes:
    """``b"\\n".join(lines)``, without the copies when ``lines`` is a :class:`Lines`."""
    if isinstance(lines, Lines):
        return lines.joined()
    return b"\n".join(lines)

