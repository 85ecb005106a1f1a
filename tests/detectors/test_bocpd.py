"""BOCPD against a plain reference of Adams & MacKay's recursion, and the detector contract."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from detectors.base import Detector
from detectors.bocpd import BOCPD

# Never reached on the streams compared with the reference: they must not restart.
_NO_ALARM = 1.0 - 1e-15


def _student_t_logpdf(x: float, nu: float, loc: float, scale: float) -> float:
    z = (x - loc) / scale
    return (
        math.lgamma((nu + 1) / 2)
        - math.lgamma(nu / 2)
        - 0.5 * math.log(nu * math.pi)
        - math.log(scale)
        - (nu + 1) / 2 * math.log1p(z * z / nu)
    )


def _predictive(run: list[float], x: float, mu0: float, kappa0: float, alpha0: float, beta0: float) -> float:
    """log p(x | run) under the Normal-Gamma prior, from the run's sufficient statistics (Murphy 2007)."""
    n = len(run)
    mean = sum(run) / n if n else 0.0
    ss = sum((v - mean) ** 2 for v in run)
    kappa = kappa0 + n
    mu = (kappa0 * mu0 + n * mean) / kappa
    alpha = alpha0 + n / 2
    beta = beta0 + ss / 2 + kappa0 * n * (mean - mu0) ** 2 / (2 * kappa)
    return _student_t_logpdf(x, 2 * alpha, mu, math.sqrt(beta * (kappa + 1) / (alpha * kappa)))


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def reference_posteriors(
    xs: list[float], hazard: float, mu0: float, sigma0: float, kappa0: float, alpha0: float
) -> list[dict[int, float]]:
    """The run-length posterior after each value: every run length, no pruning, plain loops."""
    beta0 = alpha0 * sigma0**2
    log_post = {0: 0.0}  # before any value: a run of length 0, for certain
    out = []
    for t, x in enumerate(xs):
        joint = {r: lp + _predictive(xs[t - r : t], x, mu0, kappa0, alpha0, beta0) for r, lp in log_post.items()}
        evidence = _logsumexp(list(joint.values()))
        log_post = {0: math.log(hazard) + evidence}  # a change after x_t
        for r, lj in joint.items():
            log_post[r + 1] = lj + math.log(1 - hazard)  # the run grows by x_t
        norm = _logsumexp(list(log_post.values()))
        log_post = {r: lp - norm for r, lp in log_post.items()}
        out.append({r: math.exp(lp) for r, lp in log_post.items()})
    return out


def _exact(**kw: float) -> BOCPD:
    params = {"prior_mean": 0.0, "prior_sigma": 1.0, "tolerance": 0.0, "max_hypotheses": None, "threshold": _NO_ALARM}
    return BOCPD(**{**params, **kw})


def _stream(seed: int, size: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    half = size // 2
    return np.concatenate([rng.normal(0.0, 1.0, half), rng.normal(rng.choice([-2.0, 2.0]), 0.5, size - half)])


def _max_difference(a: dict[int, float], b: dict[int, float]) -> float:
    return max(abs(a.get(r, 0.0) - b.get(r, 0.0)) for r in set(a) | set(b))


def test_the_predictive_is_the_student_t() -> None:
    assert _student_t_logpdf(0.7, 5.0, 0.2, 1.3) == pytest.approx(stats.t.logpdf(0.7, 5.0, 0.2, 1.3), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("prior", [(0.0, 1.0, 0.1, 1.0), (1.0, 2.0, 1.0, 3.0)])
def test_posterior_equals_the_reference_without_pruning(seed: int, prior: tuple[float, ...]) -> None:
    mu0, sigma0, kappa0, alpha0 = prior
    xs = _stream(seed).tolist()
    det = _exact(expected_run_length=40.0, prior_mean=mu0, prior_sigma=sigma0, kappa0=kappa0, alpha0=alpha0)
    expected = reference_posteriors(xs, 1 / 40, mu0, sigma0, kappa0, alpha0)
    for x, want in zip(xs, expected, strict=True):
        det.update(x)
        got = det.run_length_posterior()
        assert set(got) == set(want)
        assert _max_difference(got, want) < 1e-9
    assert det.n_alarms == 0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tolerance", [1e-3, 1e-4, 1e-6])
def test_pruning_moves_each_step_by_less_than_the_tolerance(seed: int, tolerance: float) -> None:
    xs = _stream(seed, 150).tolist()
    det = _exact(expected_run_length=40.0, tolerance=tolerance)
    sizes = []
    for x in xs:
        # The same step from the same state, without pruning.
        state = det.snapshot()
        state["params"].update(tolerance=0.0)
        exact = Detector.restore(state)
        assert isinstance(exact, BOCPD)
        det.update(x)
        exact.update(x)
        got, want = det.run_length_posterior(), exact.run_length_posterior()
        sizes.append(len(got))
        assert set(got) <= set(want)
        assert _max_difference(got, want) < tolerance
        assert sum(want.values()) - sum(want[r] for r in got) < tolerance  # mass dropped
        assert sum(got.values()) == pytest.approx(1.0, abs=1e-12)
    assert min(len(xs) + 1 - size for size in sizes[-50:]) > 10  # it did prune


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tolerance", [1e-4, 1e-6])
def test_pruned_posterior_stays_near_the_reference(seed: int, tolerance: float) -> None:
    # Over a stream the steps' errors add up (a dropped run may have gained mass later): on these
    # streams the gap stayed under 40 tolerances (1e-4) and 5 (1e-6).
    xs = _stream(seed, 150).tolist()
    expected = reference_posteriors(xs, 1 / 40, 0.0, 1.0, 0.1, 1.0)
    det = _exact(expected_run_length=40.0, tolerance=tolerance)
    for x, want in zip(xs, expected, strict=True):
        det.update(x)
        assert _max_difference(det.run_length_posterior(), want) < 50 * tolerance


def test_the_cap_bounds_the_hypotheses_kept() -> None:
    xs = _stream(1, 300).tolist()
    det = _exact(expected_run_length=40.0, tolerance=0.0, max_hypotheses=30)
    for x in xs:
        det.update(x)
        posterior = det.run_length_posterior()
        assert len(posterior) <= 30
        assert sum(posterior.values()) == pytest.approx(1.0, abs=1e-12)
    assert max(posterior, key=posterior.__getitem__) == 150  # the run since the change still leads


def _first_alarm(det: BOCPD, values: np.ndarray) -> tuple[int, int]:
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            assert det.change_point is not None
            return i, det.change_point
    raise AssertionError("no alarm")


@pytest.mark.parametrize("seed", range(5))
def test_finds_an_abrupt_mean_shift_and_where_it_began(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(5.0, 2.0, 400), rng.normal(7.0, 2.0, 300)])  # +1 sigma
    alarm, change = _first_alarm(BOCPD(), values)
    assert 400 <= alarm < 500  # the mean delay at +1 sigma is about 35 (bench/changepoint.py)
    assert abs(change - 400) <= 5


@pytest.mark.parametrize("seed", range(5))
def test_finds_a_variance_shift_and_where_it_began(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    values = np.concatenate([rng.normal(0.0, 1.0, 400), rng.normal(0.0, 3.0, 300)])
    alarm, change = _first_alarm(BOCPD(), values)
    assert 400 <= alarm < 440
    assert abs(change - 400) <= 10  # the first values of the wider regime may look like the old one


def test_restarts_at_the_change_and_finds_the_next() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(3, 1, 500), rng.normal(0, 1, 500)])
    det = BOCPD()
    det.update_many(values)
    assert det.n_alarms == 2
    assert [abs(c - t) <= 3 for c, t in zip(det.change_points, (500, 1000), strict=True)] == [True, True]
    # The run since the last change is the only one carried over: the segment starts there.
    assert det.n == 1500 - det.change_points[-1]


def test_no_alarm_on_a_stationary_stream() -> None:
    det = BOCPD()
    det.update_many(np.random.default_rng(0).normal(10.0, 3.0, 20_000))
    assert det.n_alarms == 0
    assert det.read("run_length") == 20_000


def _outputs(det: BOCPD) -> dict[str, object]:
    return {
        "posterior": det.run_length_posterior(),
        "statistics": [det.read(name) for name in det.statistics],
        "drift": det.drift_detected,
        "alarms": det.alarms,
        "change_points": det.change_points,
        "n": det.n,
        "n_seen": det.n_seen,
    }


def _same(a: dict[str, object], b: dict[str, object]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN == NaN here


def _changing(rng: np.random.Generator, size: int) -> np.ndarray:
    means = np.repeat(rng.normal(0.0, 2.0, size // 150 + 1), 150)[:size]
    values = rng.normal(means, rng.choice([0.5, 1.0, 2.0]))
    values[rng.random(size) < 0.03] = np.nan
    return values


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("params", [{}, {"prewhiten": True}, {"max_hypotheses": 20, "min_run": 1}])
def test_update_many_equals_the_loop(seed: int, params: dict[str, object]) -> None:
    rng = np.random.default_rng(seed)
    values = _changing(rng, 1200)
    looped, batched = BOCPD(**params), BOCPD(**params)
    lo = 0
    while lo < values.shape[0]:
        hi = min(values.shape[0], lo + int(rng.integers(0, 300)))
        for x in values[lo:hi]:
            looped.update(x)
        batched.update_many(values[lo:hi])
        assert _same(_outputs(looped), _outputs(batched))
        lo = hi
    assert looped.n_seen == int(np.count_nonzero(~np.isnan(values)))
    assert looped.n_alarms > 0


@pytest.mark.parametrize("cut", [10, 333, 1000])
@pytest.mark.parametrize("params", [{}, {"prewhiten": True}, {"prior_mean": 0.0, "prior_sigma": 2.0}])
def test_snapshot_restore_round_trip(cut: int, params: dict[str, object]) -> None:
    values = _changing(np.random.default_rng(5), 1400)
    det = BOCPD(**params)
    det.update_many(values[:cut])
    restored = Detector.restore(json.loads(json.dumps(det.snapshot())))
    assert isinstance(restored, BOCPD)
    assert _same(_outputs(restored), _outputs(det))
    for x in values[cut:]:
        det.update(x)
        restored.update(x)
    assert _same(_outputs(restored), _outputs(det))
    assert det.n_alarms > 0


def test_snapshot_right_after_an_alarm_restarts_the_same_way() -> None:
    values = _changing(np.random.default_rng(8), 1000)
    det = BOCPD()
    i = 0
    while not det.drift_detected:
        det.update(values[i])
        i += 1
    restored = Detector.restore(json.loads(json.dumps(det.snapshot())))
    assert restored.drift_detected and restored.change_point == det.change_point
    det.update_many(values[i:])
    restored.update_many(values[i:])
    assert _same(_outputs(restored), _outputs(det))


def test_missing_values_are_skipped() -> None:
    values = _changing(np.random.default_rng(9), 600)
    with_gaps, without = BOCPD(), BOCPD()
    with_gaps.update_many(values)
    with_gaps.update(None)
    without.update_many(values[~np.isnan(values)])
    assert _same(_outputs(with_gaps), _outputs(without))


def test_before_any_value() -> None:
    det = BOCPD()
    assert math.isnan(det.statistic) and not det.drift_detected and det.n == det.n_seen == 0
    assert det.change_point is None and det.threshold == 0.99
    det.update_many([1.0] * 10)  # in the warm-up
    assert math.isnan(det.statistic)


def test_prewhitening_fits_the_ar1_coefficient() -> None:
    rng = np.random.default_rng(2)
    e = rng.normal(size=3000)
    x = np.empty_like(e)
    x[0] = e[0]
    for t in range(1, x.shape[0]):
        x[t] = 0.9 * x[t - 1] + e[t]
    plain, whitened = BOCPD(), BOCPD(prewhiten=True, warmup=500)
    plain.update_many(x)
    whitened.update_many(x)
    assert abs(whitened._phi - 0.9) < 0.05
    assert whitened.n_alarms < plain.n_alarms


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"expected_run_length": 1.0}, "expected_run_length"),
        ({"expected_run_length": math.inf}, "expected_run_length"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"min_run": 0}, "min_run"),
        ({"prior_mean": math.nan}, "prior_mean"),
        ({"prior_sigma": 0.0}, "prior_sigma"),
        ({"kappa0": 0.0}, "kappa0"),
        ({"alpha0": -1.0}, "alpha0"),
        ({"tolerance": -1e-9}, "tolerance"),
        ({"tolerance": 0.5}, "tolerance"),
        ({"max_hypotheses": 1}, "max_hypotheses"),
        ({"warmup": 1}, "warmup"),
        ({"prewhiten": 1}, "prewhiten"),
        ({"prewhiten": True, "phi": 1.0}, "phi"),
        ({"phi": 0.5}, "phi"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        BOCPD(**kwargs)


def test_class_attributes() -> None:
    assert BOCPD.kind == "bocpd" and BOCPD.input_kind == "numeric" and not BOCPD.needs_reference
    assert BOCPD.statistics[0] == "statistic" and set(BOCPD.fires_when) == set(BOCPD.statistics)
    with pytest.raises(ValueError, match="no_such"):
        BOCPD().read("no_such")
