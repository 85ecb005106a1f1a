"""Small value formatters shared by the modules that write JSON, audit entries and messages.

>>> iso_utc(1_795_000_000)
'2026-11-18T11:06:40Z'
>>> iso_utc(1_795_000_000, timespec="milliseconds")
'2026-11-18T11:06:40.000Z'
>>> iso_utc(None) is None
True
>>> finite(float("nan")) is None, finite(float("-inf")) is None, finite(0.25)
(True, True, 0.25)
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import overload

__all__ = ["finite", "iso_utc"]


@overload
def iso_utc(ts: None, timespec: str = ...) -> None: ...
@overload
def iso_utc(ts: float | datetime, timespec: str = ...) -> str: ...
def iso_utc(ts: float | datetime | None, timespec: str = "auto") -> str | None:
    """RFC 3339 in UTC with a ``Z``, from seconds since the epoch or an aware datetime (None stays None).

    Raises ``ValueError``/``OverflowError``/``OSError`` (as ``datetime.fromtimestamp`` does) for a time
    outside the years 1..9999.
    """
    if ts is None:
        return None
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError(f"the time must carry a time zone, got {ts.isoformat()}")
        dt = ts.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.isoformat(timespec=timespec).replace("+00:00", "Z")


def finite(v: float | None) -> float | None:
    """``v`` when it is a finite number, else None (JSON has no NaN or infinity)."""
    return v if v is not None and math.isfinite(v) else None
