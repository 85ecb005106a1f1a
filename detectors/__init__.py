"""Streaming detectors: small stateful objects fed batches of one column, read through properties.

Families: two-sample drift of numbers (:mod:`detectors.twosample`), of categories
(:mod:`detectors.categorical`), and performance over labelled predictions
(:mod:`detectors.performance`). :data:`REGISTRY` maps the names used in policies to the classes;
``Detector.restore`` rebuilds any detector from its ``snapshot()``.
"""

from __future__ import annotations

from detectors.base import Detector, PairDetector, UnivariateDetector
from detectors.categorical import ChiSquareDrift
from detectors.performance import RollingAccuracy, RollingMAE
from detectors.twosample import KSDrift, PSIDrift

__all__ = [
    "REGISTRY",
    "ChiSquareDrift",
    "Detector",
    "KSDrift",
    "PSIDrift",
    "PairDetector",
    "RollingAccuracy",
    "RollingMAE",
    "UnivariateDetector",
]

REGISTRY: dict[str, type[Detector]] = {
    cls.kind: cls for cls in (KSDrift, PSIDrift, ChiSquareDrift, RollingAccuracy, RollingMAE)
}
