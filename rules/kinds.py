"""The detector kinds a policy may name.

`rules` must not import `detectors` (they are written in parallel and `rules` has to load a policy without
numpy or scipy), so this module is the policy's view of each kind: what input it reads, which statistics it
publishes and in which direction they usually fire, and which parameters the policy may set. The schema, the
loader's checks and the summary are all derived from `KINDS` when a policy is validated, not when `rules` is
imported, so a kind added with `register` is accepted, and its parameters validated, exactly as a built-in
one. A test in ``tests/rules`` compares this table with ``detectors.REGISTRY``.

`KINDS` is a read-only, live view of the registry:

    built-in kinds (this file) --register(kind)--> KINDS --unregister(name)--> gone again
                                                     |
                    schema, loader, checks, summary read it at each validation

Examples
--------
>>> KINDS["ks"].statistics["p_value"]
'<'
>>> sorted(KINDS["psi"].params)
['bins', 'threshold', 'window']
>>> KINDS["mae"].is_performance, KINDS["mae"].prediction_type
(True, 'numeric')

A kind of one's own (its detector has to be registered with the service too, for it to run):

>>> window = Param("window", "int", 100, 2)
>>> spike = DetectorKind("spike_rate", "numeric", {"statistic": ">"}, {"window": window})
>>> with registered(spike):
...     "spike_rate" in KINDS
True
>>> "spike_rate" in KINDS
False
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

__all__ = [
    "BUILTIN_KINDS",
    "KINDS",
    "OPS",
    "DetectorKind",
    "InputKind",
    "Param",
    "ValueType",
    "register",
    "registered",
    "unregister",
]

ValueType = Literal["numeric", "categorical"]
"""The type of a feature or of a model's prediction."""

InputKind = Literal["numeric", "categorical", "classification", "regression", "time", "records"]
"""What a detector kind reads.

``numeric`` / ``categorical``: a window of one feature's values (or of the prediction when the detector names
no feature) compared with the reference. ``classification`` / ``regression``: (prediction, label) pairs, so
the kind needs a categorical (class) or numeric prediction respectively and takes no feature. ``time``: the
records' timestamps against the clock (staleness, volume); no feature, evaluated on every batch and, in
``watchdog serve``, on a schedule with the wall clock, so a feed that stops is noticed. ``records``: the
model's records as a whole (its type errors, counted from the quarantine); no feature.
"""

OPS: tuple[str, ...] = ("<", "<=", ">", ">=")

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ENTRY_FIELDS = ("name", "kind", "feature")
"""Keys every detector entry has; a parameter may not take one of these names."""


@dataclass(frozen=True)
class Param:
    """A detector parameter the policy may set, e.g. ``window: 500``.

    ``default=None`` means "the detector's own default": the policy leaves it unset and the service does not
    pass it.
    """

    name: str
    type: Literal["int", "float"]
    default: int | float | None = None
    minimum: int | float | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name in _ENTRY_FIELDS:
            raise ValueError(
                f"name must be a Python identifier other than {', '.join(_ENTRY_FIELDS)}, got {self.name!r}"
            )
        if self.type not in ("int", "float"):
            raise ValueError(f"type must be 'int' or 'float', got {self.type!r}")
        for what in ("default", "minimum"):
            value = getattr(self, what)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{what} must be a number or None, got {value!r}")


@dataclass(frozen=True)
class DetectorKind:
    """One detector kind as the policy sees it."""

    name: str
    input: InputKind
    statistics: Mapping[str, str]
    """Statistic name -> the comparison under which it usually signals trouble (``"<"`` or ``">"``)."""
    params: Mapping[str, Param]
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(
                "name must be lowercase letters, digits and '_', starting with a letter (e.g. spike_rate), "
                f"got {self.name!r}"
            )
        if self.input not in get_args(InputKind):
            raise ValueError(f"input must be one of {', '.join(get_args(InputKind))}, got {self.input!r}")
        statistics = dict(self.statistics)
        if "statistic" not in statistics:
            raise ValueError(
                "statistics must include 'statistic', the value a rule reads when it names none, "
                f"got {', '.join(statistics) or 'none'}"
            )
        bad = {k: v for k, v in statistics.items() if not isinstance(k, str) or v not in OPS}
        if bad:
            raise ValueError(f"statistics must map names to one of {', '.join(OPS)}, got {bad!r}")
        params = dict(self.params)
        for key, param in params.items():
            if not isinstance(param, Param) or param.name != key:
                raise ValueError(f"params must map each Param's own name to it, got {key!r}: {param!r}")
        # frozen all the way down: the schema derived from a kind must not change under it
        object.__setattr__(self, "statistics", MappingProxyType(statistics))
        object.__setattr__(self, "params", MappingProxyType(params))

    @property
    def is_performance(self) -> bool:
        """True when the kind reads (prediction, label) pairs rather than one feature."""
        return self.input in ("classification", "regression")

    @property
    def value_type(self) -> ValueType:
        """The value type the kind needs: of its feature (drift kinds) or of the prediction (performance)."""
        return "categorical" if self.input in ("categorical", "classification") else "numeric"

    @property
    def prediction_type(self) -> ValueType | None:
        """The prediction type a performance kind needs; None for drift kinds."""
        return self.value_type if self.is_performance else None


def _kind(
    name: str, input: InputKind, statistics: dict[str, str], *params: Param, doc: str = ""
) -> DetectorKind:
    return DetectorKind(
        name=name, input=input, statistics=statistics, params={p.name: p for p in params}, doc=doc
    )


WINDOW = Param("window", "int", 500, 2, "number of recent values compared with the reference")
THRESHOLD = Param("threshold", "float", None, None, "the detector's own alarm level (its default if unset)")
MIN_SAMPLES = Param("min_samples", "int", None, 1, "values needed before the detector reports")
BINS = Param("bins", "int", 10, 2, "number of bins cut from the reference")
_WHITEN_DOC = "values an AR(1) model is fitted on before the detector sees one-step residuals"
WHITEN = Param("whiten", "int", None, 0, f"{_WHITEN_DOC}, for autocorrelated streams (0, the default: off)")
WHITEN_ON = Param("whiten", "int", None, 0, f"{_WHITEN_DOC} (default 200; 0 feeds the values as they are)")

_REGISTRY: dict[str, DetectorKind] = {
    k.name: k
    for k in (
        _kind(
            "ks",
            "numeric",
            {"statistic": ">", "p_value": "<"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="two-sample Kolmogorov-Smirnov test of the window against the reference",
        ),
        _kind(
            "psi",
            "numeric",
            {"statistic": ">"},
            WINDOW,
            BINS,
            THRESHOLD,
            doc="population stability index of the window against the reference",
        ),
        _kind(
            "chi_square",
            "categorical",
            {"statistic": ">", "p_value": "<", "unseen_ratio": ">"},
            WINDOW,
            THRESHOLD,
            doc="chi-square test of category frequencies; unseen_ratio is the share of unseen categories",
        ),
        _kind(
            "accuracy",
            "classification",
            {"statistic": "<"},
            WINDOW,
            THRESHOLD,
            doc="share of correct class predictions over the last labelled pairs",
        ),
        _kind(
            "mae",
            "regression",
            {"statistic": ">"},
            WINDOW,
            THRESHOLD,
            doc="mean absolute error over the last labelled pairs",
        ),
        # Sequential change detectors (detectors/sequential.py, evalue.py, errorstream.py): no reference;
        # they alarm on their own; rules read since_alarm (values since the last alarm) or n_alarms.
        _kind(
            "page_hinkley",
            "numeric",
            {"statistic": ">", "increase": ">", "decrease": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("min_instances", "int", None, 1, "values needed since the last alarm before the next"),
            Param("delta", "float", None, 0, "magnitude of change tolerated, in the stream's units"),
            THRESHOLD,
            Param("alpha", "float", None, 0, "fading factor of the cumulative sums, in (0, 1]"),
            WHITEN,
            doc="Page-Hinkley test for a change of the mean (river's semantics, vectorised)",
        ),
        _kind(
            "bocpd",
            "numeric",
            {"statistic": ">", "run_length": "<", "n_alarms": ">", "since_alarm": "<"},
            Param("expected_run_length", "float", None, 1, "prior expected values between changes (1 / hazard)"),
            Param("threshold", "float", None, 0, "posterior probability of a change that fires, in (0, 1)"),
            Param("min_run", "int", None, 1, "values since a change before it counts"),
            Param("warmup", "int", None, 2, "first values that set the prior's mean and scale (no alarm)"),
            doc="Bayesian online change-point detection (Adams & MacKay 2007): run-length posterior, "
                "Normal-Gamma prior; reports where the change began",
        ),
        _kind(
            "cusum",
            "numeric",
            {"statistic": ">", "upper": ">", "lower": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("mean", "float", None, None, "in-control mean (estimated from the warm-up if unset)"),
            Param("sigma", "float", None, 0, "in-control standard deviation (estimated if unset)"),
            Param("k", "float", None, 0, "allowance in sigmas: half the shift to detect"),
            THRESHOLD,
            Param("warmup", "int", None, 2, "values the mean and sigma are estimated from"),
            WHITEN,
            doc="two-sided CUSUM chart of a shift of the mean",
        ),
        _kind(
            "kswin",
            "numeric",
            {"statistic": ">", "p_value": "<", "n_alarms": ">", "since_alarm": "<"},
            Param("alpha", "float", None, 0, "significance of each KS test"),
            Param("window_size", "int", None, 2, "values kept"),
            Param("stat_size", "int", None, 1, "size of the two samples compared"),
            Param("seed", "int", None, 0, "seed of the sampling generator"),
            WHITEN,
            doc="windowed Kolmogorov-Smirnov change detection (river's KSWIN, vectorised)",
        ),
        _kind(
            "adwin",
            "numeric",
            {"statistic": ">", "width": "<", "variance": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("delta", "float", None, 0, "confidence of the cut test: smaller, fewer alarms"),
            Param("clock", "int", None, 1, "the cut is checked every clock values"),
            Param("grace_period", "int", None, 1, "values before the first check"),
            WHITEN,
            doc="ADWIN adaptive windowing (river's compiled implementation)",
        ),
        _kind(
            "e_detector",
            "numeric",
            {"statistic": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("alpha", "float", None, 0, "average run length to a false alarm is at least 1/alpha"),
            Param("mean", "float", None, None, "in-control mean (estimated from the warm-up if unset)"),
            Param("sigma", "float", None, 0, "in-control standard deviation (estimated if unset)"),
            Param("warmup", "int", None, 2, "values the mean and sigma are estimated from"),
            WHITEN_ON,
            doc="anytime-valid mixture e-CUSUM for a shift of the mean (guaranteed false-alarm rate)",
        ),
        _kind(
            "ddm",
            "classification",
            {"statistic": ">", "warning": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("warm_start", "int", None, 0, "values before the detector may signal"),
            Param("warning_threshold", "float", None, 0, "standard deviations for a warning"),
            Param("drift_threshold", "float", None, 0, "standard deviations for an alarm"),
            doc="DDM on the error stream of (prediction, label) pairs (river)",
        ),
        _kind(
            "eddm",
            "classification",
            {"statistic": ">", "warning": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("warm_start", "int", None, 0, "errors before the detector may signal"),
            Param("alpha", "float", None, 0, "warning level of the distance ratio"),
            Param("beta", "float", None, 0, "alarm level of the distance ratio"),
            doc="EDDM on the error stream of (prediction, label) pairs (river)",
        ),
        _kind(
            "hddm_a",
            "classification",
            {"statistic": ">", "warning": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("drift_confidence", "float", None, 0, "confidence of the alarm test"),
            Param("warning_confidence", "float", None, 0, "confidence of the warning test"),
            doc="HDDM_A (Hoeffding bound on averages) on the error stream (river's HDDMA)",
        ),
        _kind(
            "hddm_w",
            "classification",
            {"statistic": ">", "warning": ">", "n_alarms": ">", "since_alarm": "<"},
            Param("drift_confidence", "float", None, 0, "confidence of the alarm test"),
            Param("warning_confidence", "float", None, 0, "confidence of the warning test"),
            Param("lambda_val", "float", None, 0, "weight of the newest value in the moving averages"),
            doc="HDDM_W (McDiarmid bound on weighted averages) on the error stream (river's HDDMW)",
        ),
        # Two-sample, categorical and performance kinds of issue 3 (detectors/numeric.py, categorical.py,
        # performance.py). Probability metrics read numeric (probability, 0/1 label) pairs: "regression".
        _kind(
            "anderson_darling",
            "numeric",
            {"statistic": ">", "p_value": "<"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="Anderson-Darling two-sample test of the window against the reference (tail-sensitive)",
        ),
        _kind(
            "wasserstein",
            "numeric",
            {"statistic": ">", "distance": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="Wasserstein distance of the window to the reference, in reference standard deviations",
        ),
        _kind(
            "jensen_shannon",
            "numeric",
            {"statistic": ">"},
            WINDOW,
            BINS,
            THRESHOLD,
            MIN_SAMPLES,
            doc="Jensen-Shannon distance between the window's and the reference's quantile-bin histograms",
        ),
        _kind(
            "ks_quantile",
            "numeric",
            {"statistic": ">", "p_value": "<"},
            WINDOW,
            Param("quantiles", "int", 1024, 2, "reference quantiles the KS distance is evaluated at"),
            THRESHOLD,
            MIN_SAMPLES,
            doc="Kolmogorov-Smirnov distance at the reference's quantiles (cost independent of its size)",
        ),
        _kind(
            "g_test",
            "categorical",
            {"statistic": ">", "p_value": "<", "unseen_ratio": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="G-test (likelihood ratio) of category frequencies against the reference",
        ),
        _kind(
            "psi_categorical",
            "categorical",
            {"statistic": ">", "unseen_ratio": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="population stability index over the reference's categories and an unseen bucket",
        ),
        _kind(
            "unseen_share",
            "categorical",
            {"statistic": ">", "unseen_count": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="share of the window in categories the reference never showed",
        ),
        _kind(
            "precision",
            "classification",
            {"statistic": "<", "recall": "<", "f1": "<"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="precision for the positive class 1 over the last labelled pairs (recall and f1 beside)",
        ),
        _kind(
            "recall",
            "classification",
            {"statistic": "<", "precision": "<", "f1": "<"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="recall for the positive class 1 over the last labelled pairs (precision and f1 beside)",
        ),
        _kind(
            "roc_auc",
            "regression",
            {"statistic": "<"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="ROC AUC of predicted probabilities against 0/1 labels over the last labelled pairs",
        ),
        _kind(
            "log_loss",
            "regression",
            {"statistic": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="mean log loss of predicted probabilities against 0/1 labels",
        ),
        _kind(
            "brier",
            "regression",
            {"statistic": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="Brier score of predicted probabilities against 0/1 labels",
        ),
        _kind(
            "ece",
            "regression",
            {"statistic": ">", "max_gap": ">"},
            WINDOW,
            Param("bins", "int", 10, 1, "equal-width bins of the predicted probability"),
            THRESHOLD,
            MIN_SAMPLES,
            doc="expected calibration error of predicted probabilities (equal-width bins)",
        ),
        _kind(
            "rmse",
            "regression",
            {"statistic": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="root mean squared error over the last labelled pairs",
        ),
        _kind(
            "bias",
            "regression",
            {"statistic": ">", "mean_error": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="absolute mean error (prediction minus label); mean_error keeps the sign",
        ),
        _kind(
            "missing_rate",
            "numeric",
            {"statistic": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="share of missing values (absent or null) among the feature's last records",
        ),
        _kind(
            "out_of_range",
            "numeric",
            {"statistic": ">", "below": ">", "above": ">"},
            WINDOW,
            Param("lower", "float", 0.0, 0.0, "quantile of the reference taken as the low bound "
                  "(0 = its minimum)"),
            Param("upper", "float", 1.0, 0.0, "quantile of the reference taken as the high bound "
                  "(1 = its maximum)"),
            THRESHOLD,
            MIN_SAMPLES,
            doc="share of the last values outside the range the reference spans",
        ),
        _kind(
            "type_error_rate",
            "records",
            {"statistic": ">"},
            WINDOW,
            THRESHOLD,
            MIN_SAMPLES,
            doc="share of the model's records quarantined for a wrong type or a non-finite number",
        ),
        _kind(
            "staleness",
            "time",
            {"statistic": ">"},
            Param("max_age", "float", 900.0, 1.0, "seconds without a record before the detector's flag"),
            doc="seconds since the model's last record, against the clock",
        ),
        _kind(
            "volume",
            "time",
            {"statistic": "<", "ratio": ">", "count": "<"},
            Param("interval", "float", 3600.0, 1.0, "seconds of records counted"),
            THRESHOLD,
            Param("window", "int", 100_000, 2, "most timestamps kept (above the busiest interval's count)"),
            doc="records in the last interval over the reference's rate (1 = usual, 0 = the feed stopped)",
        ),
    )
    }

BUILTIN_KINDS: frozenset[str] = frozenset(_REGISTRY)
"""The kinds this file defines; `unregister` refuses them."""

KINDS: Mapping[str, DetectorKind] = MappingProxyType(_REGISTRY)
"""Every kind a policy may name, built-in ones first, then registered ones in order: a read-only live view."""


def register(kind: DetectorKind) -> DetectorKind:
    """Add a detector kind, after which `rules.load_policy` accepts detectors of that kind.

    Its entries are validated as a built-in kind's are: exactly its parameters as keys (typed and bounded as
    its `Param`s say), its statistics in rules, its input against the feature or prediction it watches. The
    service still needs a detector implementing the kind to run it (``detectors`` registers those).

    Parameters
    ----------
    kind
        The kind; its ``name`` must not be registered yet.

    Returns the kind, as registered. Raises `ValueError` when the name is taken, `TypeError` when ``kind`` is
    not a `DetectorKind`.

    Examples
    --------
    >>> spike = DetectorKind("spike_rate", "numeric", {"statistic": ">"}, {})
    >>> register(spike) is spike, KINDS["spike_rate"].input
    (True, 'numeric')
    >>> register(spike)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a detector kind named 'spike_rate' is already registered; unregister it first or ...
    >>> unregister("spike_rate").name
    'spike_rate'
    """
    if not isinstance(kind, DetectorKind):
        raise TypeError(f"kind must be a DetectorKind, got {type(kind).__name__}")
    if kind.name in _REGISTRY:
        raise ValueError(
            f"a detector kind named {kind.name!r} is already registered; "
            "unregister it first or choose another name"
        )
    _REGISTRY[kind.name] = kind
    return kind


def unregister(name: str) -> DetectorKind:
    """Remove a kind added with `register` and return it; policies loaded before keep their detectors.

    Raises `KeyError` for a name that is not registered and `ValueError` for a built-in kind.
    """
    if name in BUILTIN_KINDS:
        raise ValueError(f"{name!r} is a built-in detector kind and cannot be unregistered")
    if name not in _REGISTRY:
        added = [k for k in _REGISTRY if k not in BUILTIN_KINDS]
        raise KeyError(f"no detector kind {name!r} is registered; added so far: {', '.join(added) or 'none'}")
    return _REGISTRY.pop(name)


@contextmanager
def registered(kind: DetectorKind) -> Iterator[DetectorKind]:
    """`register` a kind for the duration of a ``with`` block (tests), and `unregister` it after."""
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)
