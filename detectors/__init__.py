"""Streaming detectors: small stateful objects fed batches of one column, read through properties.

Families: two-sample drift of numbers (:mod:`detectors.twosample`, :mod:`detectors.numeric`), of
categories (:mod:`detectors.categorical`), performance over labelled predictions
(:mod:`detectors.performance`), data quality (:mod:`detectors.quality`), output guardrails
(:mod:`detectors.guardrails`) and the joint feature vector (:mod:`detectors.multivariate`);
:mod:`detectors.calibration` controls false alarms. Change points in one stream, without a reference:
:mod:`detectors.sequential` (ADWIN, Page-Hinkley, CUSUM, KSWIN), :mod:`detectors.errorstream` (DDM, EDDM,
HDDM_A, HDDM_W on a classifier's errors) and the anytime-valid :mod:`detectors.evalue`. :data:`REGISTRY`
maps the names used in policies to the classes; ``Detector.restore`` rebuilds any detector from its
``snapshot()``. :mod:`detectors.protocol` declares what a caller may rely on: each class's ``feeds``
names the protocol it satisfies, and ``Detector.build`` makes one from a policy entry's parameters and
the model's reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.base import Detector, PairDetector, UnivariateDetector
from detectors.bocpd import BOCPD
from detectors.categorical import CategoricalPSIDrift, ChiSquareDrift, GTestDrift, UnseenCategoryRate
from detectors.errorstream import DDM, EDDM, HDDM_A, HDDM_W
from detectors.evalue import EDetector
from detectors.guardrails import ChangeFrequencyGuard, CumulativeChangeGuard, HardBoundsGuard, StepChangeGuard
from detectors.multivariate import PCAReconstructionDrift
from detectors.numeric import (
    AndersonDarlingDrift,
    JensenShannonDrift,
    QuantileKSDrift,
    WassersteinDrift,
    WindowedPSIDrift,
)
from detectors.performance import (
    RollingAccuracy,
    RollingBias,
    RollingBrier,
    RollingECE,
    RollingLogLoss,
    RollingMAE,
    RollingPrecision,
    RollingRecall,
    RollingRMSE,
    RollingROCAUC,
)
from detectors.protocol import (
    CountFed,
    PairFed,
    Reading,
    ReferenceSample,
    TimeFed,
    ValueFed,
    VectorFed,
)
from detectors.quality import MissingRate, OutOfRangeRate, Staleness, TypeErrorRate, VolumeDrift
from detectors.sequential import ADWIN, CUSUM, KSWIN, PageHinkley, SequentialDetector
from detectors.twosample import KSDrift, PSIDrift

__all__ = [
    "ADWIN",
    "BOCPD",
    "CUSUM",
    "DDM",
    "EDDM",
    "HDDM_A",
    "HDDM_W",
    "KSWIN",
    "REGISTRY",
    "TIME_REGISTRY",
    "AndersonDarlingDrift",
    "CategoricalPSIDrift",
    "ChangeFrequencyGuard",
    "ChiSquareDrift",
    "CountFed",
    "CumulativeChangeGuard",
    "Detector",
    "EDetector",
    "GTestDrift",
    "HardBoundsGuard",
    "JensenShannonDrift",
    "KSDrift",
    "MissingRate",
    "OutOfRangeRate",
    "PCAReconstructionDrift",
    "PSIDrift",
    "PageHinkley",
    "PairDetector",
    "PairFed",
    "QuantileKSDrift",
    "Reading",
    "ReferenceSample",
    "RollingAccuracy",
    "RollingBias",
    "RollingBrier",
    "RollingECE",
    "RollingLogLoss",
    "RollingMAE",
    "RollingPrecision",
    "RollingRMSE",
    "RollingROCAUC",
    "RollingRecall",
    "SequentialDetector",
    "Staleness",
    "StepChangeGuard",
    "TimeFed",
    "TypeErrorRate",
    "UnivariateDetector",
    "UnseenCategoryRate",
    "ValueFed",
    "VectorFed",
    "VolumeDrift",
    "WassersteinDrift",
    "WindowedPSIDrift",
]

REGISTRY: dict[str, type[Detector]] = {
    cls.kind: cls for cls in (KSDrift, PSIDrift, ChiSquareDrift, RollingAccuracy, RollingMAE)
}
REGISTRY.update(
    {cls.kind: cls for cls in (AndersonDarlingDrift, WassersteinDrift, JensenShannonDrift, QuantileKSDrift)}
)
REGISTRY[WindowedPSIDrift.kind] = WindowedPSIDrift  # Python API: tumbling and time windows need timestamps
REGISTRY.update({cls.kind: cls for cls in (GTestDrift, CategoricalPSIDrift, UnseenCategoryRate)})
REGISTRY.update(
    {
        cls.kind: cls
        for cls in (
            RollingPrecision,
            RollingRecall,
            RollingROCAUC,
            RollingLogLoss,
            RollingBrier,
            RollingECE,
            RollingRMSE,
            RollingBias,
        )
    }
)
# Quality and multivariate detectors fit the shared contract but are not policy kinds yet (the service drops
# missing values before feeding and has no vectors to give): Python API only, as the guardrails and the
# time-fed VolumeDrift / Staleness, which are not registered at all.
REGISTRY.update(
    {cls.kind: cls for cls in (MissingRate, OutOfRangeRate, TypeErrorRate, PCAReconstructionDrift)}
)
REGISTRY.update(
    {cls.kind: cls for cls in (ADWIN, PageHinkley, CUSUM, KSWIN, DDM, EDDM, HDDM_A, HDDM_W, EDetector, BOCPD)}
)
# Detectors fed timestamps and told the time (``observe_time(now)``): policy kinds of input "time".
TIME_REGISTRY: dict[str, type[Detector]] = {cls.kind: cls for cls in (Staleness, VolumeDrift)}

if TYPE_CHECKING:
    # mypy proves that each registered class satisfies the protocol its ``feeds`` names (the conformance
    # tests check the same at run time, and that ``feeds`` names it).
    _VALUE_FED: tuple[type[ValueFed], ...] = (
        KSDrift, PSIDrift, ChiSquareDrift, AndersonDarlingDrift, WassersteinDrift, JensenShannonDrift,
        QuantileKSDrift, WindowedPSIDrift, GTestDrift, CategoricalPSIDrift, UnseenCategoryRate, MissingRate,
        OutOfRangeRate, ADWIN, PageHinkley, CUSUM, KSWIN, EDetector,
    )  # fmt: skip
    _PAIR_FED: tuple[type[PairFed], ...] = (
        RollingAccuracy, RollingMAE, RollingPrecision, RollingRecall, RollingROCAUC, RollingLogLoss,
        RollingBrier, RollingECE, RollingRMSE, RollingBias, DDM, EDDM, HDDM_A, HDDM_W,
    )  # fmt: skip
    _COUNT_FED: tuple[type[CountFed], ...] = (TypeErrorRate,)
    _TIME_FED: tuple[type[TimeFed], ...] = (Staleness, VolumeDrift)
    _VECTOR_FED: tuple[type[VectorFed], ...] = (PCAReconstructionDrift,)
    _READING: type[Reading] = KSDrift
