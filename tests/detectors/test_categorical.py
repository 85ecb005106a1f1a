from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from detectors import ChiSquareDrift

TOKENS = ["ETH", "USDC", "WBTC", "DAI"]
P = [0.4, 0.3, 0.2, 0.1]


def _first_alarm(det, stream: np.ndarray, step: int = 10) -> int | None:
    for lo in range(0, stream.shape[0], step):
        det.update_many(stream[lo : lo + step])
        if det.drift_detected:
            return min(lo + step, stream.shape[0]) - 1
    return None


def test_fires_on_an_unseen_category_burst() -> None:
    rng = np.random.default_rng(8)
    chi = ChiSquareDrift(rng.choice(TOKENS, 5000, p=P), window=500)
    burst = np.where(rng.random(500) < 0.05, "SCAM", rng.choice(TOKENS, 500, p=P))
    alarm = _first_alarm(chi, np.concatenate([rng.choice(TOKENS, 1000, p=P), burst]))
    assert alarm is not None and alarm >= 1000
    assert chi.read("unseen_ratio") > 0
    assert chi.read("p_value") < 1e-5


@pytest.mark.parametrize("seed", [1, 2])
def test_null_stream_stays_quiet_for_twenty_windows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    chi = ChiSquareDrift(rng.choice(TOKENS, 5000, p=P), window=500)
    assert _first_alarm(chi, rng.choice(TOKENS, 20 * 500, p=P)) is None


def test_statistic_is_the_scaled_goodness_of_fit() -> None:
    rng = np.random.default_rng(3)
    reference = rng.choice(TOKENS, 2000, p=P)
    window = rng.choice(TOKENS, 300, p=[0.3, 0.3, 0.3, 0.1])
    chi = ChiSquareDrift(reference, window=300, eps=1e-3)
    chi.update_many(window)

    props = np.array([np.mean(reference == c) for c in chi.categories] + [0.0])
    props = np.maximum(props, 1e-3)
    props /= props.sum()
    observed = [np.sum(window == c) for c in chi.categories] + [0]
    expected = stats.chisquare(observed, 300 * props)
    scale = 2000 / (2000 + 300)
    assert chi.statistic == pytest.approx(expected.statistic * scale, rel=1e-12)
    assert chi.read("p_value") == pytest.approx(stats.chi2.sf(expected.statistic * scale, len(TOKENS)))


def test_a_window_of_unseen_values_is_large_and_finite() -> None:
    chi = ChiSquareDrift(["a", "b"], window=10)
    chi.update_many(["z"] * 10)
    assert np.isfinite(chi.statistic) and chi.statistic > 1000
    assert chi.read("unseen_ratio") == 1.0


def test_string_array_path_equals_the_loop() -> None:
    rng = np.random.default_rng(6)
    stream = rng.choice(TOKENS + ["NEW"], 333)
    batched, looped = ChiSquareDrift(TOKENS, window=100), ChiSquareDrift(TOKENS, window=100)
    batched.update_many(stream)  # a numpy unicode array
    for x in stream:
        looped.update(x)
    assert batched.snapshot() == looped.snapshot()
    assert batched.statistic == looped.statistic


def test_missing_values_are_skipped() -> None:
    chi = ChiSquareDrift(["a", "b"], window=10)
    chi.update_many(np.array(["a", None, float("nan"), "b"], dtype=object))
    chi.update(None)
    assert chi.n == chi.n_seen == 2


def test_integer_categories_in_a_mixed_list_stay_integers() -> None:
    looped, batched = ChiSquareDrift([1, 2, "a"], window=10), ChiSquareDrift([1, 2, "a"], window=10)
    values = [1, "1", "a", 2]
    for x in values:
        looped.update(x)
    batched.update_many(values)
    assert looped.snapshot() == batched.snapshot()
    assert batched.read("unseen_ratio") == 0.25  # "1" is not the category 1
