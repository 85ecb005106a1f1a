from __future__ import annotations

import numpy as np
import pytest

from detectors import RollingAccuracy, RollingMAE


def test_accuracy_fires_on_a_degraded_stream() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2000)
    error_rate = np.where(np.arange(2000) < 1000, 0.05, 0.45)
    predictions = np.where(rng.random(2000) < error_rate, 1 - labels, labels)
    acc = RollingAccuracy(window=200, threshold=0.8)
    acc.update_many(predictions[:1000], labels[:1000])
    assert acc.statistic == pytest.approx(np.mean(predictions[800:1000] == labels[800:1000]))
    assert not acc.drift_detected
    acc.update_many(predictions[1000:1200], labels[1000:1200])
    assert acc.drift_detected and acc.statistic < 0.7


def test_accuracy_skips_missing_labels_and_compares_mixed_types() -> None:
    looped, batched = RollingAccuracy(window=5), RollingAccuracy(window=5)
    predictions = np.array(["1", 1, "b", None, 2.0], dtype=object)
    labels = np.array([1, 1, "b", "a", None], dtype=object)
    for pair in zip(predictions, labels, strict=True):
        looped.update(pair)
    batched.update_many(predictions, labels)
    assert looped.snapshot() == batched.snapshot()
    assert batched.n == 4 and batched.statistic == 0.5


def test_lists_of_mixed_types_are_compared_as_python_values() -> None:
    looped, batched = RollingAccuracy(window=5), RollingAccuracy(window=5)
    predictions, labels = [1, "a", 2], ["1", "a", 2]
    for pair in zip(predictions, labels, strict=True):
        looped.update(pair)
    batched.update_many(predictions, labels)
    assert looped.snapshot() == batched.snapshot()
    assert batched.statistic == pytest.approx(2 / 3)


def test_update_many_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        RollingAccuracy().update_many([1, 2], [1])


def test_mae_fires_on_a_degraded_stream() -> None:
    rng = np.random.default_rng(2)
    labels = rng.normal(50, 5, 2000)
    predictions = labels + rng.normal(0, np.where(np.arange(2000) < 1000, 1.0, 4.0))
    mae = RollingMAE(threshold=1.5, window=250)
    mae.update_many(predictions[:1000], labels[:1000])
    assert mae.statistic == pytest.approx(np.mean(np.abs(predictions - labels)[750:1000]), rel=1e-12)
    assert not mae.drift_detected
    mae.update_many(predictions[1000:1250], labels[1000:1250])
    assert mae.drift_detected


def test_mae_needs_a_threshold() -> None:
    with pytest.raises(TypeError, match="threshold"):
        RollingMAE()  # type: ignore[call-arg]
