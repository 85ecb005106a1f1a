from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from detectors import CategoricalPSIDrift, ChiSquareDrift, GTestDrift, UnseenCategoryRate

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
    stream = rng.choice([*TOKENS, "NEW"], 333)
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


# -- G-test, categorical PSI, unseen share (issue 3) ------------------------------------------------

def test_g_test_matches_scipy_power_divergence() -> None:
    rng = np.random.default_rng(4)
    tokens = ["ETH", "USDC", "WBTC"]
    reference = rng.choice(tokens, 2000, p=[0.5, 0.3, 0.2])
    window = rng.choice([*tokens, "NEW"], 300, p=[0.4, 0.3, 0.2, 0.1])
    g = GTestDrift(reference, window=300)
    g.update_many(window)
    observed = np.array([np.sum(window == c) for c in g.categories] + [np.sum(window == "NEW")])
    expected = 300 * g._expected_props
    raw = stats.power_divergence(observed, expected, lambda_="log-likelihood").statistic
    assert g.statistic == pytest.approx(raw * 2000 / 2300, rel=1e-12)
    assert g.read("p_value") == pytest.approx(stats.chi2.sf(g.statistic, 3), rel=1e-12)
    assert g.drift_detected


def test_g_test_is_quiet_on_a_stationary_stream() -> None:
    rng = np.random.default_rng(5)
    tokens = ["ETH", "USDC", "WBTC"]
    g = GTestDrift(rng.choice(tokens, 5000, p=[0.5, 0.3, 0.2]), window=300)
    stream = rng.choice(tokens, 6000, p=[0.5, 0.3, 0.2])
    for lo in range(0, 6000, 50):
        g.update_many(stream[lo : lo + 50])
        assert not g.drift_detected


def test_categorical_psi_formula_and_unseen_bucket() -> None:
    psi = CategoricalPSIDrift(["a"] * 50 + ["b"] * 50, window=100)
    psi.update_many(["a"] * 70 + ["b"] * 20 + ["z"] * 10)
    p = np.array([0.5, 0.5, 1e-4])
    p = p / p.sum()  # the floored reference proportions are renormalised, as for chi-square
    q = np.array([0.7, 0.2, 0.1])
    assert psi.statistic == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12)
    assert psi.read("unseen_ratio") == pytest.approx(0.1)
    assert psi.drift_detected


def test_unseen_share_counts_new_categories_only() -> None:
    unseen = UnseenCategoryRate(["a", "b", 1], window=10, threshold=0.25, min_samples=5)
    unseen.update_many(["a", "b", 1, "1", None, "c", "a", "b"])
    assert unseen.n == 7 and unseen.read("unseen_count") == 2.0
    assert unseen.statistic == pytest.approx(2 / 7)
    assert unseen.drift_detected
    with pytest.raises(ValueError, match="threshold"):
        UnseenCategoryRate(["a"], threshold=2.0)
