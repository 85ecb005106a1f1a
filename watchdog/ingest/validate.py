"""The one owner of what makes a record bad: reason codes, their precedence and their sentences.

Two parsers read records: :mod:`watchdog.ingest.records` one JSON line at a time, :mod:`watchdog.ingest.columnar`
a whole pyarrow table at once. Both take every sentence from here, and apply the checks in this order
(the first that fails names the record's reason)::

    bad_utf8 / bad_json / too_large / not_object      the line itself (line path; a table has rows)
    missing_field 'model' -> unknown_model           which model
    missing_field 'id'                                which request
    missing_field prediction | label                  a prediction, or a late label
    missing_field version, ts, features, prediction
    wrong_type / non_finite / bad_timestamp           the fields' values, in the order above
    past_timestamp, future_timestamp                  :class:`Admission` (needs the clock)
    duplicate_id                                      the model's recent ids (needs state)

The last three need the engine's clock or a model's recent ids; :class:`Admission` holds the clock part and
both paths ask it, the engine asks for a model's ids.

Examples
--------
>>> wrong_type("features.utilization", "a number", "a string")
'features.utilization must be a number, got a string'
>>> Admission(min_ts=0.0).check(-1.0)
('past_timestamp', 'ts 1969-12-31T23:59:59Z is before 1970-01-01T00:00:00Z, the earliest time accepted')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from watchdog.fmt import iso_utc

__all__ = [
    "DEFAULT_FUTURE_SKEW",
    "DEFAULT_MIN_TS",
    "MAX_TS",
    "Admission",
    "duplicate_id",
    "iso_or_seconds",
    "missing_field",
    "non_finite",
    "unknown_model",
    "wrong_type",
]

DEFAULT_FUTURE_SKEW = 300.0
DEFAULT_MIN_TS = 946684800.0  # 2000-01-01T00:00:00Z
MAX_TS = 253370764800.0  # 9999-01-01T00:00:00Z

MISSING_TARGET = "missing field 'prediction' (or 'label' for a late label)"
TEXT = "a non-empty string"
CATEGORY = "a category (string)"
NUMBER = "a number"


def missing_field(name: str) -> str:
    return f"missing field {name!r}"


def wrong_type(what: str, expected: str, got: str) -> str:
    return f"{what} must be {expected}, got {got}"


def non_finite(what: str, shown: str) -> str:
    """``shown`` is the value as the record spelled it (a repr)."""
    return f"{what} must be a finite number, got {shown}"


def class_of(model: str) -> str:
    """What a categorical model's prediction or label must be."""
    return f"a class (string) for model {model!r}"


def unknown_model(model: str, known: list[str] | tuple[str, ...]) -> str:
    return f"model {model[:64]!r} is not in the policy (known: {', '.join(sorted(known)) or 'none'})"


def duplicate_id(rid: str, model: str) -> str:
    return f"id {rid[:64]!r} repeats a recent prediction of model {model!r}"


def processing_error(e: BaseException) -> str:
    """The sentence of a record or batch whose processing failed: what failed, never a traceback."""
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else "no message"
    return f"processing failed ({type(e).__name__}: {text}); the record is kept here and the stream went on"


def iso_or_seconds(ts: float) -> str:
    """RFC 3339 when the time has a year in 1..9999 UTC, else seconds since the epoch (for messages)."""
    try:
        return iso_utc(ts)
    except (ValueError, OverflowError, OSError):
        return f"{ts:.0f} s since the epoch"


@dataclass(frozen=True)
class Admission:
    """The checks on a prediction's time: not before ``min_ts``, not further ahead of ``clock()`` than
    ``max_future_skew`` seconds (without a clock: not after :data:`MAX_TS`, which no datetime can hold)."""

    min_ts: float = DEFAULT_MIN_TS
    max_future_skew: float = DEFAULT_FUTURE_SKEW
    clock: Callable[[], float] | None = None

    def latest(self) -> tuple[float, Callable[[float], str]]:
        """The latest time accepted now, and the sentence for a ts after it."""
        if self.clock is None:
            return MAX_TS, lambda ts: f"ts {iso_or_seconds(ts)} is after {iso_utc(MAX_TS)}"
        skew = self.max_future_skew
        return self.clock() + skew, lambda ts: (f"ts {iso_or_seconds(ts)} is more than {skew:g} s ahead of the "
                                                "watchdog's clock")

    def too_early(self, ts: float) -> str:
        return f"ts {iso_or_seconds(ts)} is before {iso_utc(self.min_ts)}, the earliest time accepted"

    def check(self, ts: float) -> tuple[str, str] | None:
        """(reason code, sentence) when a prediction stamped ``ts`` is refused, else None."""
        if ts < self.min_ts:
            return "past_timestamp", self.too_early(ts)
        latest, sentence = self.latest()
        if ts > latest:
            return "future_timestamp", sentence(ts)
        return None
