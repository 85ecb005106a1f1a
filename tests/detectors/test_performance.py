from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from detectors import (
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


# -- precision, recall, AUC, log loss, Brier, ECE, RMSE, bias (issue 3) ------------------------------

def _probability_stream(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size).astype(float)
    p = np.round(1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(size=size)))), 2)
    return p, y


def test_precision_recall_f1_on_late_labels() -> None:
    predictions = np.array(["up", "up", "down", "up", "down", "up", "down"], dtype=object)
    labels = np.array(["up", "down", "up", None, "down", "up", "up"], dtype=object)  # one not arrived
    prec = RollingPrecision(positive="up", window=10, min_samples=1)
    rec = RollingRecall(positive="up", window=10, min_samples=1)
    prec.update_many(predictions, labels)
    for pair in zip(predictions, labels, strict=True):
        rec.update(pair)
    # Labelled pairs: TP 2 (0, 5), FP 1 (1), FN 2 (2, 6), TN 1 (4).
    assert prec.n == rec.n == 6  # the labelled count in the window
    assert prec.statistic == pytest.approx(2 / 3) and prec.read("recall") == pytest.approx(0.5)
    assert rec.statistic == pytest.approx(0.5) and rec.read("precision") == pytest.approx(2 / 3)
    assert prec.read("f1") == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert math.isnan(RollingPrecision(positive="x", window=5).statistic)


def test_precision_is_nan_without_positive_predictions() -> None:
    prec = RollingPrecision(positive=1, window=5, min_samples=1)
    prec.update_many([0, 0], [1, 0])
    assert math.isnan(prec.statistic) and not prec.drift_detected
    assert prec.read("recall") == 0.0


def test_roc_auc_is_the_mann_whitney_statistic() -> None:
    p, y = _probability_stream(0, 400)
    auc = RollingROCAUC(window=300)
    auc.update_many(p, y)
    pos, neg = p[100:][y[100:] == 1], p[100:][y[100:] == 0]
    u = stats.mannwhitneyu(pos, neg).statistic
    assert auc.statistic == pytest.approx(u / (pos.shape[0] * neg.shape[0]), rel=1e-12)
    one_class = RollingROCAUC(window=10, min_samples=1)
    one_class.update_many([0.2, 0.8], [1, 1])
    assert math.isnan(one_class.statistic) and not one_class.drift_detected


def test_log_loss_brier_and_ece_formulas() -> None:
    p, y = _probability_stream(1, 500)
    loss, brier, ece = RollingLogLoss(window=500), RollingBrier(window=500), RollingECE(window=500, bins=5)
    for det in (loss, brier, ece):
        det.update_many(p, y)
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    expected = -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    assert loss.statistic == pytest.approx(expected, rel=1e-12)
    assert brier.statistic == pytest.approx(np.mean((p - y) ** 2), rel=1e-12)
    which = np.minimum((p * 5).astype(int), 4)
    expected = sum(abs(y[which == b].sum() - p[which == b].sum()) for b in range(5)) / 500
    assert ece.statistic == pytest.approx(expected, rel=1e-12)


def test_ece_sees_an_overconfident_model() -> None:
    rng = np.random.default_rng(6)
    p = rng.random(4000)
    calibrated = (rng.random(4000) < p).astype(int)
    overconfident = (rng.random(4000) < 0.5 + (p - 0.5) * 0.4).astype(int)
    good, bad = RollingECE(window=4000), RollingECE(window=4000)
    good.update_many(p, calibrated)
    bad.update_many(p, overconfident)
    assert good.statistic < 0.03 and bad.statistic > 0.1
    assert bad.drift_detected and not good.drift_detected


def test_probability_detectors_skip_and_count_values_out_of_range() -> None:
    brier = RollingBrier(window=5)
    brier.update((1.2, 1))
    brier.update_many([0.2, 0.3, 0.4], [1, 2, 0.5])
    assert brier.n == 1 and brier.n_rejected == 3
    restored = type(brier).restore(brier.snapshot())
    assert restored.n_rejected == 3
    skipped = RollingBrier(window=5)
    skipped.update_many([0.2, np.nan, 0.4], [1, 0, np.nan])  # late label, missing prediction
    assert skipped.n == 1 and skipped.n_rejected == 0


def test_rmse_and_bias() -> None:
    rng = np.random.default_rng(3)
    labels = rng.normal(10, 2, 300)
    predictions = labels + rng.normal(0.5, 1.0, 300)
    rmse, bias = RollingRMSE(threshold=2.0, window=200), RollingBias(threshold=0.3, window=200)
    for det in (rmse, bias):
        det.update_many(predictions, labels)
    err = (predictions - labels)[100:]
    assert rmse.statistic == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-12)
    assert bias.read("mean_error") == pytest.approx(np.mean(err), rel=1e-12)
    assert bias.statistic == abs(bias.read("mean_error")) and bias.drift_detected
    under = RollingBias(threshold=0.3, window=200)
    under.update_many(labels - 0.5, labels)
    assert under.read("mean_error") == pytest.approx(-0.5) and under.drift_detected
