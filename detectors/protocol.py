"""The detector protocol: what a caller (the service) may rely on, declared and type-checked.

Every detector is read the same way (:class:`Reading`) and fed one way, named by its class attribute
``feeds``; each feed has its protocol::

    feeds       protocol     fed with                                        extra members
    "values"    ValueFed     update_many(values): one column, numbers or     keeps_last, update_tail
                             categories (missing ones removed unless
                             reads_missing)
    "pairs"     PairFed      update_many(predictions, labels): two arrays
    "counts"    CountFed     add_counts(ok=, errors=): records accepted and
                             quarantined
    "time"      TimeFed      update_many(timestamps) and observe_time(now)   now, last_record
    "vectors"   VectorFed    update_many(rows): feature vectors, (k, d)

A caller dispatches on ``feeds`` (:func:`is_value_fed` and its siblings narrow the type for mypy),
never on ``kind`` and never on a private member. It builds a detector with
``Detector.build(params, reference, column=...)`` from a policy entry's parameters and the model's
:class:`ReferenceSample`; a detector whose class ``takes_reference`` is checkpointed with
``snapshot(omit=("reference",))`` and restored with
``Detector.restore({**snap, "params": {**snap["params"], "reference": reference.values(column)}})``.

``ready`` is False while the statistics do not mean anything yet (a rate before one whole interval of
time has been seen); a caller reads them as no data then. It is True for every detector not fed time.

Examples
--------
A reference is anything with ``values(column)`` and ``timestamps()``:

>>> import numpy as np
>>> from detectors import REGISTRY, TIME_REGISTRY
>>> from detectors.protocol import ReferenceSample, TimeFed, ValueFed, is_value_fed

>>> class Columns:
...     def __init__(self, columns, ts):
...         self.columns, self.ts = columns, ts
...     def values(self, column):
...         values = self.columns["prediction" if column is None else column]
...         return values[~np.isnan(values)]
...     def timestamps(self):
...         return self.ts

>>> rng = np.random.default_rng(0)
>>> reference = Columns({"price": rng.normal(size=2000), "prediction": rng.random(2000)}, np.arange(2000.0))
>>> isinstance(reference, ReferenceSample)
True
>>> ks = REGISTRY["ks"].build({"window": 200}, reference, column="price")
>>> ks.feeds, isinstance(ks, ValueFed), is_value_fed(ks), ks.reads_missing, ks.takes_reference
('values', True, True, False, True)
>>> for i, batch in enumerate(np.split(rng.normal(np.repeat([0.0, 0.6], 500)), 10)):
...     ks.update_many(batch)
...     if ks.ready and ks.drift_detected:
...         print(f"Change detected by index {i * 100 + 99}, D = {ks.statistic:.3f}")
...         break
Change detected by index 699, D = 0.293

A time-fed detector takes its usual rate from the reference's timestamps (one a second here):

>>> volume = TIME_REGISTRY["volume"].build({"interval": 60.0}, reference)
>>> isinstance(volume, TimeFed), volume.ready
(True, False)
>>> volume.update_many(np.arange(0.0, 120.0, 4.0))      # then one every 4 seconds
>>> volume.observe_time(120.0)
>>> print(volume.ready, f"{volume.statistic:.2f}", volume.drift_detected, volume.last_record)
True 0.23 True 116.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypeGuard, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "FEEDS",
    "CountFed",
    "Feed",
    "Locating",
    "PairFed",
    "Reading",
    "ReferenceSample",
    "TimeFed",
    "ValueFed",
    "VectorFed",
    "is_count_fed",
    "is_pair_fed",
    "is_time_fed",
    "is_value_fed",
    "is_vector_fed",
]

Feed = Literal["values", "pairs", "counts", "time", "vectors"]
FEEDS: tuple[Feed, ...] = ("values", "pairs", "counts", "time", "vectors")


@runtime_checkable
class ReferenceSample(Protocol):
    """A model's reference sample, as detectors are built on it."""

    def values(self, column: str | None) -> np.ndarray:
        """Column ``column`` of the reference without its missing values; None is the prediction."""
        ...

    def timestamps(self) -> np.ndarray:
        """The reference records' timestamps, in seconds."""
        ...


@runtime_checkable
class Reading(Protocol):
    """What every detector offers, whatever it is fed: how it is read and checkpointed.

    Attributes
    ----------
    kind
        The name policies use (``"ks"``, ``"volume"``...).
    input_kind
        ``"numeric"``, ``"categorical"``, ``"classification"`` (pairs of classes) or ``"regression"``
        (numeric pairs): what the values fed are.
    feeds
        How the detector is fed; names the protocol it satisfies (see the module docstring).
    reads_missing
        True if the detector must be fed the missing values too (it counts them); the others are fed
        values with the missing ones removed (they would skip them anyway).
    takes_reference
        True if the detector is built on a column of the reference (its ``reference`` parameter):
        checkpoint it without the reference and put the reference back to restore it.
    statistics
        The names :meth:`read` accepts, ``"statistic"`` first.
    fires_when
        For each statistic, ``">"`` if large values signal a problem, ``"<"`` if small ones do.
    """

    # Class attributes of every detector class, declared read-only here (a class narrows their types).

    @property
    def kind(self) -> str: ...

    @property
    def input_kind(self) -> str: ...

    @property
    def feeds(self) -> Feed: ...

    @property
    def reads_missing(self) -> bool: ...

    @property
    def takes_reference(self) -> bool: ...

    @property
    def statistics(self) -> tuple[str, ...]: ...

    @property
    def fires_when(self) -> Mapping[str, str]: ...

    @property
    def n(self) -> int:
        """Number of values the statistics are computed on (the window's, for a windowed detector)."""
        ...

    @property
    def ready(self) -> bool:
        """False while the statistics mean nothing yet (a caller reads them as no data)."""
        ...

    @property
    def statistic(self) -> float:
        """The primary statistic; NaN until defined."""
        ...

    @property
    def threshold(self) -> float:
        """The detector's own threshold on ``statistic``."""
        ...

    @property
    def drift_detected(self) -> bool:
        """The detector's own verdict."""
        ...

    def read(self, name: str) -> float:
        """Statistic ``name``, one of ``statistics`` (ValueError otherwise)."""
        ...

    def snapshot(self, omit: tuple[str, ...] = ()) -> dict[str, Any]:
        """The full state as a JSON-serialisable dict, without the constructor parameters in ``omit``."""
        ...


@runtime_checkable
class ValueFed(Reading, Protocol):
    """``feeds == "values"``: one column of numbers or categories."""

    def update_many(self, values: ArrayLike, /) -> None:
        """Add a batch of values, in order."""
        ...

    @property
    def keeps_last(self) -> int | None:
        """For a pure sliding window, how many values of a batch it can hold after it: a caller may then
        pass only the batch's last values with :meth:`update_tail`. None: it needs every value."""
        ...

    def update_tail(self, values: ArrayLike, skipped: int, /) -> None:
        """The end of a batch whose first ``skipped`` values (missing ones not counted unless
        ``reads_missing``) were left out; only when ``keeps_last`` is not None."""
        ...


@runtime_checkable
class PairFed(Reading, Protocol):
    """``feeds == "pairs"``: (prediction, label) pairs, as two arrays of equal length."""

    def update_many(self, predictions: ArrayLike, labels: ArrayLike, /) -> None:
        """Add a batch of pairs, in order (pairs with a missing label are skipped)."""
        ...


@runtime_checkable
class CountFed(Reading, Protocol):
    """``feeds == "counts"``: how many records of a batch were accepted and how many quarantined."""

    def add_counts(self, *, ok: int, errors: int) -> None:
        """Add ``ok`` good records and ``errors`` bad ones."""
        ...


@runtime_checkable
class TimeFed(Reading, Protocol):
    """``feeds == "time"``: record timestamps (seconds), and the current time from the caller's clock."""

    def update_many(self, timestamps: ArrayLike, /) -> None:
        """Record arrivals at these times: non-decreasing, and not before :attr:`last_record`."""
        ...

    def observe_time(self, now: float, /) -> None:
        """Tell the detector the time; not before :attr:`now` (ValueError)."""
        ...

    @property
    def now(self) -> float:
        """The latest time seen, a record's or :meth:`observe_time`'s; -inf before any."""
        ...

    @property
    def last_record(self) -> float:
        """The timestamp of the latest record; -inf before any."""
        ...


@runtime_checkable
class VectorFed(Reading, Protocol):
    """``feeds == "vectors"``: whole feature vectors, rows of a 2-D array (not a policy kind yet)."""

    def update_many(self, rows: ArrayLike, /) -> None:
        """Add rows, shape ``(k, d)``, in order."""
        ...


@runtime_checkable
class Locating(Protocol):
    """A detector that estimates where the change began when it fires: ``isinstance(det, Locating)``.

    Sequential detectors (BOCPD, Page-Hinkley, CUSUM, ADWIN, KSWIN, the e-detector) keep the change point
    of their last alarm; window tests (KS, PSI, chi-square...) give one only while ``drift_detected``
    holds, computed when first read. Either way it is a 0-based position among the values seen (as
    ``n_seen`` counts them), never after the latest value.
    """

    @property
    def change_point(self) -> int | None:
        """Where the change of the alarm began; None before any alarm, or when it is not known."""
        ...


# Narrowing on ``feeds``: as cheap as a string comparison, and exact, because the conformance tests check
# every registered class against the protocol its ``feeds`` names (and mypy checks it in detectors/__init__).


def is_value_fed(detector: Reading) -> TypeGuard[ValueFed]:
    """True if ``detector`` is fed one column of values."""
    return detector.feeds == "values"


def is_pair_fed(detector: Reading) -> TypeGuard[PairFed]:
    """True if ``detector`` is fed (prediction, label) pairs."""
    return detector.feeds == "pairs"


def is_count_fed(detector: Reading) -> TypeGuard[CountFed]:
    """True if ``detector`` is fed counts of accepted and quarantined records."""
    return detector.feeds == "counts"


def is_time_fed(detector: Reading) -> TypeGuard[TimeFed]:
    """True if ``detector`` is fed timestamps and the clock."""
    return detector.feeds == "time"


def is_vector_fed(detector: Reading) -> TypeGuard[VectorFed]:
    """True if ``detector`` is fed feature vectors."""
    return detector.feeds == "vectors"
