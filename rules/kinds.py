"""The detector kinds a policy may name.

`rules` must not import `detectors` (they are written in parallel and `rules` has to load a policy without
numpy or scipy), so this module is the policy's view of each kind: what input it reads, which statistics it
publishes and in which direction they usually fire, and which parameters the policy may set. Adding a kind is
one entry in `KINDS`; the schema, the loader's checks and the summary are all generated from it. A test in
``tests/rules`` compares this table with ``detectors.REGISTRY`` once that exists.

Examples
--------
>>> KINDS["ks"].statistics["p_value"]
'<'
>>> sorted(KINDS["psi"].params)
['bins', 'threshold', 'window']
>>> KINDS["mae"].is_performance, KINDS["mae"].prediction_type
(True, 'numeric')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = ["KINDS", "OPS", "DetectorKind", "InputKind", "Param", "ValueType"]

ValueType = Literal["numeric", "categorical"]
"""The type of a feature or of a model's prediction."""

InputKind = Literal["numeric", "categorical", "classification", "regression"]
"""What a detector kind reads.

``numeric`` / ``categorical``: a window of one feature's values (or of the prediction when the detector names no
feature) compared with the reference. ``classification`` / ``regression``: (prediction, label) pairs, so the
kind needs a categorical (class) or numeric prediction respectively and takes no feature.
"""

OPS: tuple[str, ...] = ("<", "<=", ">", ">=")


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


@dataclass(frozen=True)
class DetectorKind:
    """One detector kind as the policy sees it."""

    name: str
    input: InputKind
    statistics: Mapping[str, str]
    """Statistic name -> the comparison under which it usually signals trouble (``"<"`` or ``">"``)."""
    params: Mapping[str, Param]
    doc: str = ""

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
        name=name,
        input=input,
        statistics=MappingProxyType(dict(statistics)),
        params=MappingProxyType({p.name: p for p in params}),
        doc=doc,
    )


WINDOW = Param("window", "int", 500, 2, "number of recent values compared with the reference")
THRESHOLD = Param("threshold", "float", None, None, "the detector's own alarm level (its default if unset)")
MIN_SAMPLES = Param("min_samples", "int", None, 1, "values needed before the detector reports")
BINS = Param("bins", "int", 10, 2, "number of bins cut from the reference")

KINDS: Mapping[str, DetectorKind] = MappingProxyType(
    {
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
        )
    }
)
