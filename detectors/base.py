"""The shape every detector shares.

A detector is fed with ``update(x)`` (one value) or ``update_many(values)`` (a batch, with the same
final state as the loop), keeps the last ``window`` values in a ring buffer, and is read through
properties (``statistic``, ``threshold``, ``drift_detected``, ``n``, ``n_seen``) and
``read(name)`` for the names in its ``statistics``. Statistics are computed when first read and
cached until the next update, so updating is cheap and evaluation pays once. A pure sliding window
does not even encode the values of a batch that fall out of the window before the batch ends: it
only counts them in ``n_seen``.

Missing values (None, NaN; for pairs a missing label, or for numeric pairs a NaN prediction) are
skipped: they enter neither the window nor ``n_seen``. Counting them is the job of a data-quality
detector.

``snapshot()`` returns a JSON-serialisable dict (class name, constructor parameters, window state)
and ``Detector.restore(snapshot)`` rebuilds the detector it came from, whatever its class.
``Detector.build(params, reference)`` builds one from a policy entry's parameters and the model's
reference sample. What a caller may rely on is declared in :mod:`detectors.protocol`.
"""

from __future__ import annotations

import abc
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from detectors._window import RingBuffer
from detectors.protocol import FEEDS, Feed, ReferenceSample

__all__ = ["DEFAULT_ALPHA", "SNAPSHOT_VERSION", "Detector", "PairDetector", "UnivariateDetector"]

SNAPSHOT_VERSION = 1

# Significance behind the default thresholds of the statistical tests. It is per test, and a
# sliding window is tested again after every value on overlapping samples: on stationary streams
# (reference 5000, window 500, read every 2 values) the chance of any alarm within 20 windows was
# about 18% (KS) and 13% (chi-square) at 1e-3, 0.7% and 3% at 1e-4, 0% and 0.7% at 1e-5.
DEFAULT_ALPHA = 1e-5

# Concrete detector classes by class name, filled by Detector.__init_subclass__; restore() uses it.
_CLASSES: dict[str, type[Detector]] = {}

_INPUT_KINDS = ("numeric", "categorical", "classification", "regression")


class Detector(abc.ABC):
    """Abstract streaming detector over a sliding window.

    Subclasses set the class attributes below, validate their constructor arguments into public
    attributes of the same name, call ``_reset()`` and implement ``_compute(name)``.

    Attributes
    ----------
    kind
        Registry name (``"ks"``, ``"psi"``...).
    input_kind
        ``"numeric"``, ``"categorical"``, ``"classification"`` (prediction/label pairs of
        classes) or ``"regression"`` (numeric prediction/label pairs).
    feeds
        How it is fed: ``"values"``, ``"pairs"``, ``"counts"``, ``"time"`` or ``"vectors"``, the
        protocol of :mod:`detectors.protocol` it satisfies.
    reads_missing
        True if it is fed the missing values too (it counts them); others are fed without them.
    takes_reference
        True if it is built on a reference sample, its ``reference`` parameter (set from the
        constructor's signature).
    statistics
        Names accepted by :meth:`read`; the first is ``"statistic"``, the primary one.
    fires_when
        For each statistic, ``">"`` if large values signal a problem, ``"<"`` if small ones do.
        ``drift_detected`` applies the one of ``"statistic"`` to ``threshold``.
    direction
        ``"above"`` or ``"below"``: ``fires_when["statistic"]`` in words.
    window
        Number of most recent values the statistics are computed on.
    threshold
        The detector's own threshold on ``statistic``.
    min_samples
        ``drift_detected`` stays False while fewer values than this are in the window.

    """

    kind: ClassVar[str]
    input_kind: ClassVar[str]
    feeds: ClassVar[Feed]
    reads_missing: ClassVar[bool] = False
    takes_reference: ClassVar[bool] = False
    statistics: ClassVar[tuple[str, ...]]
    fires_when: ClassVar[Mapping[str, str]]
    direction: ClassVar[str]
    # Storage type of the window; detectors that keep counts store integer codes.
    _dtype: ClassVar[type[np.generic]] = np.float64

    window: int
    threshold: float
    min_samples: int
    # Number of codes whose window counts are kept incrementally; 0 keeps none.
    _n_codes: int = 0
    # False for detectors built without a reference sample (sequential change detectors).
    needs_reference: ClassVar[bool] = True
    # True for a pure sliding window, whose whole state is the window, n_seen and counts of the
    # window: update_many then encodes only the values of a batch that can still be in the window
    # after it and counts the others in n_seen (the state is the same as without skipping).
    _slides: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "fires_when" in cls.__dict__:
            cls.direction = "above" if cls.fires_when["statistic"] == ">" else "below"
        cls.takes_reference = "reference" in inspect.signature(cls.__init__).parameters
        if "kind" not in cls.__dict__:  # an intermediate base, not a detector
            return
        if cls.input_kind not in _INPUT_KINDS:
            raise TypeError(
                f"{cls.__name__}.input_kind must be one of {_INPUT_KINDS}, got {cls.input_kind!r}"
            )
        feeds = getattr(cls, "feeds", None)
        if feeds not in FEEDS:
            raise TypeError(f"{cls.__name__}.feeds must be one of {FEEDS}, got {feeds!r}")
        if cls.statistics[0] != "statistic" or set(cls.fires_when) != set(cls.statistics):
            raise TypeError(
                f"{cls.__name__} must list 'statistic' first and give fires_when for each statistic"
            )
        known = _CLASSES.get(cls.__name__)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            # Snapshots name the class, so two detectors may not share a name (a reload may).
            raise TypeError(f"a detector class named {cls.__name__} already exists in {known.__module__}")
        _CLASSES[cls.__name__] = cls

    # -- running state -------------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget every value seen; keep the parameters (and the reference)."""
        self._buffer = RingBuffer(self.window, self._dtype)
        self._counts = np.zeros(self._n_codes, dtype=np.int64) if self._n_codes else None
        self._n_seen = 0
        self._cache: dict[str, float] = {}

    def _push_one(self, code: Any) -> None:
        evicted = self._buffer.append(code)
        if self._counts is not None:
            self._counts[code] += 1
            if evicted is not None:
                self._counts[evicted] -= 1
        self._n_seen += 1
        self._cache.clear()

    def _push_many(self, codes: np.ndarray, skipped: int = 0) -> None:
        """Push ``codes``, after ``skipped`` values that were not encoded because ``codes`` evict them."""
        if codes.shape[0] == 0:
            return
        # The skipped values come in and go out within the batch: they change no count.
        evicted = self._buffer.extend(codes, skipped)
        if self._counts is not None:
            self._counts += np.bincount(codes, minlength=self._n_codes)
            if evicted.shape[0]:
                self._counts -= np.bincount(evicted, minlength=self._n_codes)
        self._n_seen += int(codes.shape[0]) + skipped
        self._cache.clear()

    def _survivors(self, keep: np.ndarray) -> tuple[int, int]:
        """Where the values of a batch that can outlive it start, and how many kept values precede them.

        ``keep`` marks the values of the batch that enter the window (the others are missing).
        Only the last ``window`` of those can be in the window once the batch is in: the result
        is the index of the first of them (0 when the batch holds no more than ``window``) and
        the number of kept values before it, which a pure sliding window need not encode.
        """
        n_kept = int(np.count_nonzero(keep))
        skipped = n_kept - self.window
        if skipped <= 0:
            return 0, 0
        start = skipped if n_kept == keep.shape[0] else int(np.flatnonzero(keep)[skipped])
        return start, skipped

    # -- reading ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def _compute(self, name: str) -> float:
        """Compute statistic ``name`` on a non-empty window."""

    def read(self, name: str) -> float:
        """Value of the statistic ``name`` (one of ``statistics``); NaN while the window is empty.

        Raises
        ------
        ValueError
            If the detector has no statistic of that name.
        """
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        self._check_statistic(name)
        value = self._read(name)
        self._cache[name] = value
        return value

    def _read(self, name: str) -> float:
        """Statistic ``name`` when it is not cached: NaN while the window is empty."""
        return float(self._compute(name)) if self._buffer._count else math.nan

    def _check_statistic(self, name: str) -> None:
        if name not in self.statistics:
            raise ValueError(
                f"{type(self).__name__} has no statistic {name!r}; it has {', '.join(self.statistics)}"
            )

    @property
    def statistic(self) -> float:
        """The primary statistic, compared with ``threshold``; NaN until defined."""
        return self.read("statistic")

    @property
    def drift_detected(self) -> bool:
        """Whether ``statistic`` is beyond ``threshold`` with at least ``min_samples`` in the window."""
        if self.n < self.min_samples:
            return False
        value = self.statistic
        if math.isnan(value):
            return False
        return value > self.threshold if self.fires_when["statistic"] == ">" else value < self.threshold

    @property
    def n(self) -> int:
        """Number of values in the window."""
        return self._buffer._count

    @property
    def ready(self) -> bool:
        """Whether the statistics mean something yet; always, except for a detector fed time."""
        return True

    @property
    def n_seen(self) -> int:
        """Number of values seen since construction (missing values excluded)."""
        return self._n_seen

    # -- building ----------------------------------------------------------------------------------

    # Fewest reference values a detector is built on (the service's rule: a sample of one is no sample).
    _MIN_REFERENCE: ClassVar[int] = 2

    @classmethod
    def build(
        cls, params: Mapping[str, Any], reference: ReferenceSample | None, *, column: str | None = None
    ) -> Self:
        """The detector a policy entry describes: its parameters ``params``, on the model's ``reference``.

        A class that ``takes_reference`` (and ``needs_reference``) is built on
        ``reference.values(column)``, the reference's column ``column`` (None: the prediction) without
        missing values, passed as its first argument; any other from ``params`` alone.

        Raises
        ------
        ValueError
            If a parameter is invalid, or the class needs a reference and none is given or it holds
            fewer than 2 values of ``column``.
        """
        make: Callable[..., Self] = cls  # the signature is the subclass's
        if not (cls.takes_reference and cls.needs_reference):
            return make(**params)
        where = "the prediction" if column is None else f"column {column!r}"
        if reference is None:
            raise ValueError(f"{cls.__name__} is built on a reference sample of {where}, and none was given.")
        values = reference.values(column)
        if len(values) < cls._MIN_REFERENCE:
            raise ValueError(
                f"{cls.__name__} needs at least {cls._MIN_REFERENCE} reference values of {where} "
                f"(missing values do not count); the reference has {len(values)}."
            )
        return make(values, **params)

    # -- persistence -----------------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters
        return [name for name in params if name != "self"]

    def snapshot(self, omit: tuple[str, ...] = ()) -> dict[str, Any]:
        """The detector's full state as a dict that the standard ``json`` module can serialise.

        ``omit`` leaves constructor parameters out (a caller that keeps the reference sample elsewhere
        puts it back into ``params`` before :meth:`restore`)."""
        return {
            "class": type(self).__name__,
            "kind": self.kind,
            "version": SNAPSHOT_VERSION,
            "params": {
                name: _jsonable(getattr(self, name)) for name in self._param_names() if name not in omit
            },
            "state": self._snapshot_state(),
        }

    def _snapshot_state(self) -> dict[str, Any]:
        """The running state in a snapshot, what :meth:`_load_state` takes back."""
        return {"n_seen": self._n_seen, "window": self._buffer.state()}

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> Detector:
        """Rebuild the detector a :meth:`snapshot` was taken of.

        Called on ``Detector`` it dispatches on the class name recorded in the snapshot; called on a
        subclass it also checks the snapshot is of that subclass.

        Raises
        ------
        ValueError
            If the snapshot names no known class, has another version, or holds an impossible state.
        TypeError
            If called on a subclass the snapshot is not of.
        """
        name = state.get("class")
        klass = _CLASSES.get(name) if isinstance(name, str) else None
        if klass is None:
            raise ValueError(f"snapshot names no known detector class: {name!r}; known: {sorted(_CLASSES)}")
        if not issubclass(klass, cls):
            raise TypeError(f"snapshot is of {name}, not of {cls.__name__}")
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                f"snapshot version {state.get('version')!r} is not supported (expected {SNAPSHOT_VERSION})"
            )
        detector = klass(**{name: _from_json(v) for name, v in state["params"].items()})
        detector._load_state(state["state"])
        return detector

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._reset()
        self._buffer = RingBuffer.from_state(self.window, state["window"], self._dtype)
        if self._counts is not None:
            # Counts are a function of the window, so they are rebuilt rather than stored.
            self._counts = np.bincount(self._buffer.unordered(), minlength=self._n_codes).astype(np.int64)
            if self._counts.shape[0] != self._n_codes:
                raise ValueError(f"snapshot window holds codes outside 0..{self._n_codes - 1}")
        self._n_seen = int(state["n_seen"])

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._param_names() if name != "reference"
        )
        return f"{type(self).__name__}({shown}, n={self.n}, n_seen={self.n_seen})"


class UnivariateDetector(Detector):
    """A detector fed one value at a time: numbers or categories.

    One that sets ``_slides`` (a pure sliding window) implements ``_kept``, which ``update_many``
    uses to find the values it need not encode.
    """

    feeds: ClassVar[Feed] = "values"

    def update(self, x: Any) -> None:
        """Add one value to the window (missing values are skipped)."""
        code = self._encode_one(x)
        if code is not None:
            self._push_one(code)

    def update_many(self, values: ArrayLike) -> None:
        """Add a batch of values, in order; same final state as calling :meth:`update` on each."""
        array, skipped = _one_dimensional(values, "values"), 0
        if self._slides:
            array, skipped = self._trim(array)
        self._push_many(self._encode_many(array), skipped)

    @property
    def keeps_last(self) -> int | None:
        """For a pure sliding window, how many values of a batch it can hold after it (``window``): a
        caller may then pass only the batch's last values with :meth:`update_tail`. None otherwise."""
        if not self._slides or getattr(self, "tumbling", False) or getattr(self, "horizon", None) is not None:
            return None
        return self.window

    def update_tail(self, values: ArrayLike, skipped: int) -> None:
        """The end of a batch whose first ``skipped`` non-missing values were left out: the same state as
        :meth:`update_many` on the whole batch. Only for :attr:`keeps_last` detectors, and ``values`` must
        hold at least ``window`` non-missing values when ``skipped`` is not 0 (else ValueError)."""
        if self.keeps_last is None:
            raise TypeError(f"{type(self).__name__} is not a pure sliding window: it needs the whole batch")
        array, more = self._trim(_one_dimensional(values, "values"))
        self._push_many(self._encode_many(array), skipped + more)

    def _trim(self, values: np.ndarray) -> tuple[np.ndarray, int]:
        """The batch from its first value that can outlive it on, and how many kept values precede it."""
        if values.shape[0] <= self.window:
            return values, 0
        array, keep = self._kept(values)
        start, skipped = self._survivors(keep)
        return array[start:], skipped

    def _kept(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``values`` as :meth:`_encode_many` reads them, and which of them it keeps (``_slides`` only).

        The first may be a converted copy: ``_encode_many`` must give the same codes for it.
        """
        raise NotImplementedError(f"{type(self).__name__} sets _slides but has no _kept")

    @abc.abstractmethod
    def _encode_one(self, x: Any) -> Any:
        """What to store for ``x`` (a float or an integer code), or None to skip it."""

    @abc.abstractmethod
    def _encode_many(self, values: np.ndarray) -> np.ndarray:
        """What to store for each non-missing value, as an array of the storage dtype."""


class PairDetector(Detector):
    """A detector fed (prediction, label) pairs.

    ``_slides`` and ``_kept`` as for :class:`UnivariateDetector`.
    """

    feeds: ClassVar[Feed] = "pairs"

    def update(self, pair: tuple[Any, Any]) -> None:
        """Add one ``(prediction, label)`` pair to the window (pairs with a missing label are skipped)."""
        prediction, label = pair
        code = self._encode_one(prediction, label)
        if code is not None:
            self._push_one(code)

    def update_many(self, predictions: ArrayLike, labels: ArrayLike) -> None:
        """Add a batch of pairs given as two arrays of equal length; same final state as the loop."""
        p, y = _pair_arrays(predictions, labels)
        skipped = 0
        if self._slides and p.shape[0] > self.window:
            start, skipped = self._survivors(self._kept(p, y))
            p, y = p[start:], y[start:]
        self._push_many(self._encode_many(p, y), skipped)

    def _kept(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Which pairs :meth:`_encode_many` keeps (``_slides`` only)."""
        raise NotImplementedError(f"{type(self).__name__} sets _slides but has no _kept")

    @abc.abstractmethod
    def _encode_one(self, prediction: Any, label: Any) -> Any:
        """What to store for one pair, or None to skip it."""

    @abc.abstractmethod
    def _encode_many(self, predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """What to store for each pair that is not skipped."""


class _WholeBatch:
    """For a detector fed values that is no pure sliding window: it needs every value of a batch."""

    @property
    def keeps_last(self) -> int | None:
        """None: a caller may not cut a batch short (see :meth:`UnivariateDetector.keeps_last`)."""
        return None

    def update_tail(self, values: ArrayLike, skipped: int) -> None:
        """Not offered: raises TypeError."""
        raise TypeError(f"{type(self).__name__} is not a pure sliding window: it needs the whole batch")


# -- helpers shared by the families ------------------------------------------------------------


def _one_dimensional(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind in "US" and not isinstance(values, np.ndarray):
        # numpy would turn [1, "a"] into ["1", "a"]; keep the values update() would have seen.
        array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {array.shape}")
    return array


def _pair_arrays(predictions: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The two arrays of a batch of pairs, checked to be one-dimensional and of equal length."""
    p = _one_dimensional(predictions, "predictions")
    y = _one_dimensional(labels, "labels")
    if p.shape != y.shape:
        raise ValueError(
            f"predictions and labels must have the same length, got {p.shape[0]} and {y.shape[0]}"
        )
    return p, y


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        # JSON has no infinity (orjson writes null): a threshold that never fires is kept as {"float": "inf"}
        return {"float": "inf" if value > 0 else "-inf"}
    return value


def _from_json(value: Any) -> Any:
    """A parameter as :func:`_jsonable` wrote it."""
    if isinstance(value, Mapping) and set(value) == {"float"} and value["float"] in _NON_FINITE:
        return _NON_FINITE[value["float"]]
    return value


def is_missing(value: Any) -> bool:
    """True for None and NaN."""
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _missing_mask(values: np.ndarray) -> np.ndarray:
    """Which entries of a one-dimensional array :func:`is_missing` holds true of (as ``tolist`` gives
    them)."""
    if values.dtype.kind == "f":
        nan: np.ndarray = np.isnan(values)
        return nan
    if values.dtype.kind in "biuUS":
        return np.zeros(values.shape[0], dtype=bool)
    return np.fromiter((is_missing(v) for v in values.tolist()), dtype=bool, count=values.shape[0])


def check_window(window: Any) -> int:
    """Validate the ``window`` argument."""
    # ValueError, not TypeError, for a wrong type too: the policy loader reports ValueErrors.
    if not _is_int(window) or window < 2:
        raise ValueError(f"window must be an integer of at least 2, got {window!r}")
    return int(window)


def check_min_samples(min_samples: Any, window: int) -> int:
    """Validate ``min_samples``; None means the full window."""
    if min_samples is None:
        return window
    if not _is_int(min_samples) or not 1 <= min_samples <= window:
        raise ValueError(
            f"min_samples must be None or an integer from 1 to window ({window}), got {min_samples!r}"
        )
    return int(min_samples)


def check_real(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    """Validate a real argument lying in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    interval = f"{'(' if low_open else '['}{low}, {high}]"
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if (
        not real
        or math.isnan(value)
        or value < low
        or (low_open and value == low)
        or value > high
    ):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, low: int) -> int:
    """Validate an integer argument of at least ``low``."""
    if not _is_int(value) or value < low:
        raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")
    return int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
