r"""Bayesian online change-point detection (Adams & MacKay 2007) with a Normal-Gamma model.

After every value the detector holds the posterior of the *run length* :math:`r_t`, the number of
values since the last change, over a bounded set of hypotheses::

    value x_t --> predictive of x_t under each run length (Student-t, one numpy call for all)
              --> growth  P(r_t = r + 1) ~ P(r_{t-1} = r) pi_t(r) (1 - H)
                  change  P(r_t = 0)     ~ sum_r P(r_{t-1} = r) pi_t(r) H      (= H, normalised)
              --> prune: drop hypotheses below ``tolerance``, keep at most ``max_hypotheses``
              --> statistic: P(a change since the segment began, with >= min_run values after it)
              --> alarm when statistic > threshold; the next value restarts at the change

Everything is kept in log space. The segment is what the detector has watched since it was built
or since its last alarm; after an alarm it restarts *at the change point*: the run that began
there (with the values seen since) becomes the only hypothesis, so the next change is looked for
from there, without the values of the old regime.

The one rule that keeps it honest: ``update_many`` is the loop of ``update`` (the recursion is
sequential in time; it is vectorised over run lengths), so both end in the same floats.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import gammaln

from detectors.base import check_int, check_real
from detectors.sequential import _COMMON_FIRES_WHEN, _COMMON_STATISTICS, MAX_ALARMS, SequentialDetector

__all__ = ["BOCPD"]

_LOG_PI = math.log(math.pi)


class BOCPD(SequentialDetector):
    r"""Bayesian online change-point detector (Adams & MacKay 2007), constant hazard, Normal-Gamma prior.

    Each segment is modelled as i.i.d. normal with unknown mean and variance under the conjugate
    prior :math:`\mu \mid \tau \sim N(\mu_0, 1/(\kappa_0\tau))`, :math:`\tau \sim
    \mathrm{Gamma}(\alpha_0, \beta_0)` with :math:`\beta_0 = \alpha_0 \sigma_0^2` (so the prior
    precision has mean :math:`1/\sigma_0^2`). A run of :math:`r` values predicts the next with a
    Student-t of :math:`2\alpha_r` degrees of freedom, location :math:`\mu_r` and squared scale
    :math:`\beta_r(\kappa_r + 1)/(\alpha_r\kappa_r)`. Changes arrive with the constant hazard
    :math:`H = 1/` ``expected_run_length``.

    ``statistic`` is the posterior probability that a change happened since the segment began and
    that at least ``min_run`` values have been seen since it: :math:`P(\text{min\_run} \le r_t <
    L_t \mid x)`, with :math:`L_t` the values in the segment. Why this and not the MAP run length
    or :math:`P(r_t < w)`: with a constant hazard :math:`P(r_t = 0 \mid x) = H` whatever the data,
    a MAP drop fires on one outlier, and a fixed window :math:`w` loses a change whose evidence
    takes longer than :math:`w` values to gather; the mass of all runs younger than the segment
    gathers that evidence as long as it takes, and ``min_run`` keeps a single outlier (a run of
    one value) from counting. An alarm is raised when ``statistic`` > ``threshold``;
    ``change_point`` is then the start of the most probable of the runs counted, as a 0-based
    position among the values seen (as ``alarms``). The value after an alarm restarts the run-
    length distribution at that change: the run that began there is kept alone, with mass 1.

    Parameters
    ----------
    expected_run_length
        :math:`\lambda`, the prior mean length of a segment; the hazard is :math:`1/\lambda`.
    threshold
        Alarm level of ``statistic``, in (0, 1).
    min_run
        Values a new run must hold before its mass counts in ``statistic`` (at least 1).
    prior_mean, prior_sigma
        :math:`\mu_0` and :math:`\sigma_0`. None estimates them (mean and sample standard deviation)
        from the first ``warmup`` values; a caller with a reference sample passes its mean and
        standard deviation. The warm-up values are then run through the recursion without alarms.
    kappa0
        Prior strength of the mean, in pseudo-observations (small: a new segment's mean is free).
    alpha0
        Prior shape of the precision (:math:`2\alpha_0` pseudo-observations of the variance).
    tolerance
        Hypotheses whose posterior mass is below it are dropped (0 keeps every one).
    max_hypotheses
        Most run lengths kept (the least probable go first); None sets no limit.
    warmup
        Values the prior (and ``phi``) are estimated from when not given.
    prewhiten
        Feed the detector the one-step residuals of an AR(1) fit,
        :math:`e_t = x_t - \mu_0 - \phi(x_{t-1} - \mu_0)`, instead of the values: serially
        dependent noise then looks i.i.d. (a mean shift :math:`\Delta` becomes a spike of
        :math:`\Delta` and a lasting shift of :math:`(1 - \phi)\Delta`).
    phi
        The AR(1) coefficient for ``prewhiten``, in (-1, 1); None fits it (lag-1 autocorrelation)
        on the warm-up.

    Notes
    -----
    **Defaults** (``bench/changepoint.py``, one setting for every series): a hazard of 1/10,000,
    ``threshold=0.99`` and ``min_run=10`` raised no false alarm on 2 x 10^6 values of i.i.d. N(0, 1)
    and found a +1 sigma mean shift after 35 values on average; ``threshold=0.9`` gave 5.5 false
    alarms per 10^6 (delay 30), a hazard of 1/1,000 with it about 40 (delay 23). F1 and covering
    on the benchmark's series moved by less than 0.03 across these settings. The prior
    is weak (``kappa0=0.1``, ``alpha0=1``) and its scale taken from a warm-up of 30 values, so
    the defaults do not depend on the units of the stream.

    **Serial dependence** breaks the i.i.d. model: on AR(1) noise (phi 0.5 or 0.9) the detector
    raises thousands of false alarms per 10^6 values. ``prewhiten=True`` (with a warm-up of 100
    to fit phi) removes most of them, at the price of a smaller shift to see.

    **Pruning.** Each value's pruning drops at most ``tolerance / (1 + tolerance)`` of the mass
    and so moves no run length's probability by more than ``tolerance`` from the unpruned step;
    over a stream those errors add up (a dropped run might have gained mass later): on the test
    streams the gap to the exact posterior stayed under 40 tolerances at 1e-4 and 5 at 1e-6.
    ``max_hypotheses`` bounds the memory and time of a step (about 40 us at 200 on one core)
    without such a bound. ``tolerance=0, max_hypotheses=None`` is the exact recursion.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors.bocpd import BOCPD

    >>> rng = np.random.default_rng(8)
    >>> stream = np.concatenate([rng.normal(0, 1, 600), rng.normal(1.5, 1, 400)])
    >>> bocpd = BOCPD()
    >>> for i, x in enumerate(stream):
    ...     bocpd.update(x)
    ...     if bocpd.drift_detected:
    ...         print(f"Change detected at index {i}, began at {bocpd.change_point}")
    Change detected at index 618, began at 600

    A batch ends in the same state, and ``change_points`` sits beside ``alarms``:

    >>> batched = BOCPD()
    >>> batched.update_many(stream)
    >>> batched.alarms, batched.change_points
    ([618], [600])

    """

    kind = "bocpd"
    statistics = ("statistic", "run_length", *_COMMON_STATISTICS)
    fires_when: ClassVar[dict[str, str]] = {"statistic": ">", "run_length": "<", **_COMMON_FIRES_WHEN}
    _r: np.ndarray  # run lengths, increasing
    _mu: np.ndarray  # posterior mean of each run
    _beta: np.ndarray  # posterior rate of each run's precision
    _logp: np.ndarray  # log posterior of each run length
    _length: int
    _start: int
    # One Python step per value: blocks only bound the work redone after an alarm.
    _first_block = 256
    _min_block = 64
    _max_block = 4096

    def __init__(
        self,
        expected_run_length: float = 10_000.0,
        threshold: float = 0.99,
        min_run: int = 10,
        prior_mean: float | None = None,
        prior_sigma: float | None = None,
        kappa0: float = 0.1,
        alpha0: float = 1.0,
        tolerance: float = 1e-6,
        max_hypotheses: int | None = 200,
        warmup: int = 30,
        prewhiten: bool = False,
        phi: float | None = None,
    ) -> None:
        self.expected_run_length = check_real("expected_run_length", expected_run_length, 1.0, math.inf, low_open=True)
        if math.isinf(self.expected_run_length):
            raise ValueError("expected_run_length must be finite, got inf")
        self.threshold = check_real("threshold", threshold, 0.0, 1.0, low_open=True)
        if self.threshold == 1.0:
            raise ValueError("threshold must be below 1, got 1.0")
        self.min_run = check_int("min_run", min_run, 1)
        self.prior_mean = None if prior_mean is None else check_real("prior_mean", prior_mean, -math.inf, math.inf)
        if self.prior_mean is not None and math.isinf(self.prior_mean):
            raise ValueError(f"prior_mean must be finite, got {prior_mean!r}")
        self.prior_sigma = (
            None if prior_sigma is None else check_real("prior_sigma", prior_sigma, 0.0, math.inf, low_open=True)
        )
        if self.prior_sigma is not None and math.isinf(self.prior_sigma):
            raise ValueError(f"prior_sigma must be finite, got {prior_sigma!r}")
        self.kappa0 = check_real("kappa0", kappa0, 0.0, 1e12, low_open=True)
        self.alpha0 = check_real("alpha0", alpha0, 0.0, 1e12, low_open=True)
        self.tolerance = check_real("tolerance", tolerance, 0.0, 0.1)
        self.max_hypotheses = None if max_hypotheses is None else check_int("max_hypotheses", max_hypotheses, 2)
        self.warmup = check_int("warmup", warmup, 2)
        if not isinstance(prewhiten, bool):
            raise ValueError(f"prewhiten must be True or False, got {prewhiten!r}")
        self.prewhiten = prewhiten
        self.phi = None if phi is None else check_real("phi", phi, -1.0, 1.0)
        if self.phi is not None and abs(self.phi) == 1.0:
            raise ValueError(f"phi must lie strictly between -1 and 1, got {phi!r}")
        if self.phi is not None and not prewhiten:
            raise ValueError("phi is the AR(1) coefficient of prewhiten: set prewhiten=True or leave phi None")
        self._log_h = -math.log(self.expected_run_length)
        self._log_1mh = math.log1p(-1.0 / self.expected_run_length)
        self._log_tol = math.log(self.tolerance) if self.tolerance > 0 else -math.inf
        self._drop_budget = self.tolerance / (1.0 + self.tolerance)
        self._reset()

    # -- running state ---------------------------------------------------------------------------

    def _reset(self) -> None:
        # The prior and the pre-whitening are fitted once, on the first values after construction.
        self._mu0 = self.prior_mean if not self.prewhiten else 0.0
        self._centre = self.prior_mean  # the AR(1) fit's mean, when pre-whitening
        self._sigma0 = self.prior_sigma
        self._phi = self.phi
        self._last_x: float | None = None
        self._warm: list[float] = []
        self._cp = -1
        self._change_points: collections.deque[int] = collections.deque(maxlen=MAX_ALARMS)
        super()._reset()

    def _ready(self) -> bool:
        if self.prewhiten:
            return self._centre is not None and self._sigma0 is not None and self._phi is not None
        return self._mu0 is not None and self._sigma0 is not None

    def _restart(self) -> None:
        if self._drift and self._r.shape[0]:
            # Restart at the change: the run that began at change_point, alone and certain.
            keep = self._r == self._length - (self._cp - self._start)
            keep_at = int(np.argmax(keep))
            self._r, self._mu, self._beta = (
                self._r[keep_at : keep_at + 1],
                self._mu[keep_at : keep_at + 1],
                self._beta[keep_at : keep_at + 1],
            )
            self._logp = np.zeros(1)
            self._length = int(self._r[0])
            self._start = self._cp
            return
        self._r = np.zeros(1, dtype=np.int64)
        self._mu = np.array([self._mu0 if self._mu0 is not None else 0.0])
        self._beta = np.array([self._beta0()])
        self._logp = np.zeros(1)
        self._length = 0  # values in the segment: the run length of the run that began with it
        self._start = 0  # stream position where the segment began

    def _beta0(self) -> float:
        return self.alpha0 * (self._sigma0 if self._sigma0 is not None else 1.0) ** 2

    @property
    def n(self) -> int:
        """Values in the current segment (since construction or since the last change point)."""
        return self._length

    @property
    def change_point(self) -> int | None:
        """0-based stream position where the change of the last alarm began; None before any alarm."""
        return self._cp if self._cp >= 0 else None

    @property
    def change_points(self) -> list[int]:
        """``change_point`` of each of the last 1000 alarms, in the order of ``alarms``."""
        return list(self._change_points)

    def run_length_posterior(self) -> dict[int, float]:
        """The posterior of the run length after the last value, as {run length: probability}."""
        return dict(zip(self._r.tolist(), np.exp(self._logp).tolist(), strict=True))

    # -- the recursion ---------------------------------------------------------------------------

    def _warm_up(self, x: np.ndarray) -> int | None:
        """Take warm-up values from ``x``; the offset of the first value left after it, or None."""
        take = min(x.shape[0], self.warmup - len(self._warm))
        self._warm.extend(x[:take].tolist())
        if len(self._warm) < self.warmup:
            return None
        warm = np.asarray(self._warm)
        mean = float(np.mean(warm)) if self.prior_mean is None else self.prior_mean
        sd = self.prior_sigma
        if self.prewhiten:
            dev = warm - mean
            if self._phi is None:
                denom = float(np.dot(dev, dev))
                phi = float(np.dot(dev[1:], dev[:-1]) / denom) if denom > 0 else 0.0
                self._phi = min(0.99, max(-0.99, phi))
            self._centre = mean
            if sd is None:
                resid = dev[1:] - self._phi * dev[:-1]
                sd = float(np.std(resid, ddof=1))
        else:
            self._mu0 = mean
            if sd is None:
                sd = float(np.std(warm, ddof=1))
        self._sigma0 = sd if sd is not None and sd > 0 else 1.0
        self._warm = []
        self._restart()
        self._steps(warm, check=False)
        return int(take)

    def _whiten(self, x: np.ndarray) -> np.ndarray:
        assert self._centre is not None and self._phi is not None
        dev = x - self._centre
        prev = np.empty_like(dev)
        if dev.shape[0]:
            prev[0] = (self._last_x - self._centre) if self._last_x is not None else 0.0
            prev[1:] = dev[:-1]
        return dev - self._phi * prev

    def _run(self, x: np.ndarray) -> int | None:
        start = 0
        if not self._ready() or self._warm:
            found = self._warm_up(x)
            if found is None:
                return None
            start = found
        offset = self._steps(x[start:], check=True)
        return None if offset is None else int(start + offset)

    def _steps(self, x: np.ndarray, check: bool) -> int | None:
        """Run the recursion over ``x``; with ``check``, stop after the first alarm (its offset)."""
        if not x.shape[0]:
            return None
        feed = self._whiten(x) if self.prewhiten else x
        raw = x.tolist()
        for i, value in enumerate(feed.tolist()):
            self._step(value)
            if self.prewhiten:
                self._last_x = raw[i]
            if check and self._length > self.min_run:
                stat = self._segment_mass()
                if stat > self.threshold:
                    self._cp = self._map_start()
                    self._change_points.append(self._cp)
                    return i
        return None

    def _step(self, x: float) -> None:
        r, mu, beta, logp = self._r, self._mu, self._beta, self._logp
        kappa = self.kappa0 + r
        alpha = self.alpha0 + 0.5 * r
        nu = 2.0 * alpha
        scale2 = beta * (kappa + 1.0) / (alpha * kappa)
        dev = x - mu
        logpred = (
            gammaln(alpha + 0.5)
            - gammaln(alpha)
            - 0.5 * (np.log(nu * scale2) + _LOG_PI)
            - (alpha + 0.5) * np.log1p(dev * dev / (nu * scale2))
        )
        joint = logp + logpred
        top = joint.max()
        log_z = top + math.log(float(np.exp(joint - top).sum()))
        # P(r_t = 0 | x_1..t) = H exactly: the change mass is H times the evidence.
        new_logp = np.empty(r.shape[0] + 1)
        new_logp[0] = self._log_h
        np.subtract(joint, log_z - self._log_1mh, out=new_logp[1:])
        new_r = np.empty(r.shape[0] + 1, dtype=np.int64)
        new_r[0] = 0
        np.add(r, 1, out=new_r[1:])
        new_mu = np.empty(r.shape[0] + 1)
        new_mu[0] = self._mu0
        new_mu[1:] = (kappa * mu + x) / (kappa + 1.0)
        new_beta = np.empty(r.shape[0] + 1)
        new_beta[0] = self._beta0()
        new_beta[1:] = beta + kappa * dev * dev / (2.0 * (kappa + 1.0))
        self._length += 1
        keep = None
        if self._log_tol > -math.inf:
            # Drop the least probable hypotheses while their mass d stays below tolerance / (1 +
            # tolerance): renormalising then moves no probability by more than d / (1 - d) < tolerance.
            small = np.flatnonzero(new_logp < self._log_tol)
            if small.shape[0]:
                order = small[np.argsort(new_logp[small], kind="stable")]
                dropped = int(np.searchsorted(np.cumsum(np.exp(new_logp[order])), self._drop_budget))
                if dropped:
                    mask = np.ones(new_r.shape[0], dtype=bool)
                    mask[order[:dropped]] = False
                    keep = np.flatnonzero(mask)
        cap = self.max_hypotheses
        size = new_r.shape[0] if keep is None else keep.shape[0]
        if cap is not None and size > cap:
            candidates = np.arange(new_r.shape[0]) if keep is None else keep
            best = np.argpartition(new_logp[candidates], size - cap)[size - cap :]
            keep = np.sort(candidates[best])
        if keep is not None:
            new_r, new_mu, new_beta, new_logp = new_r[keep], new_mu[keep], new_beta[keep], new_logp[keep]
            top = new_logp.max()
            new_logp -= top + math.log(float(np.exp(new_logp - top).sum()))
        self._r, self._mu, self._beta, self._logp = new_r, new_mu, new_beta, new_logp

    def _counted(self) -> tuple[int, int]:
        """The slice of hypotheses ``statistic`` sums: min_run <= r < length (r is sorted)."""
        r = self._r
        lo = int(np.searchsorted(r, self.min_run))
        hi = r.shape[0] - 1 if r[-1] == self._length else r.shape[0]
        return lo, hi

    def _segment_mass(self) -> float:
        lo, hi = self._counted()
        if hi <= lo:
            return 0.0
        return float(np.exp(self._logp[lo:hi]).sum())

    def _map_start(self) -> int:
        lo, hi = self._counted()
        best = lo + int(np.argmax(self._logp[lo:hi]))
        # The run of length r after value t (position start + length - 1) began at t - r + 1.
        return self._start + self._length - int(self._r[best])

    # -- reading ---------------------------------------------------------------------------------

    def _compute(self, name: str) -> float:
        if self._length == 0:
            return math.nan
        if name == "run_length":
            return float(self._r[int(np.argmax(self._logp))])
        return self._segment_mass()

    # -- persistence -----------------------------------------------------------------------------

    def _snapshot_state(self) -> dict[str, Any]:
        return {**super()._snapshot_state(), "change_points": list(self._change_points)}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        try:
            self._change_points.extend(int(c) for c in state["change_points"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"snapshot of BOCPD holds an impossible state: {exc!r}") from None

    def _state(self) -> dict[str, Any]:
        return {
            "r": self._r.tolist(),
            "mu": self._mu.tolist(),
            "beta": self._beta.tolist(),
            "logp": self._logp.tolist(),
            "length": self._length,
            "start": self._start,
            "cp": self._cp,
            "warm": list(self._warm),
            "mu0": self._mu0,
            "centre": self._centre,
            "sigma0": self._sigma0,
            "phi": self._phi,
            "last_x": self._last_x,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        r = np.asarray(state["r"], dtype=np.int64)
        arrays = [np.asarray(state[k], dtype=np.float64) for k in ("mu", "beta", "logp")]
        if r.ndim != 1 or not r.shape[0] or any(a.shape != r.shape for a in arrays) or np.any(np.diff(r) <= 0):
            raise ValueError("snapshot of BOCPD holds run lengths that are not one increasing list with its statistics")
        self._r = r
        self._mu, self._beta, self._logp = arrays
        self._length = int(state["length"])
        self._start = int(state["start"])
        self._cp = int(state["cp"])
        self._warm = [float(v) for v in state["warm"]]
        for name in ("mu0", "centre", "sigma0", "phi", "last_x"):
            value = state[name]
            setattr(self, f"_{name}", None if value is None else float(value))
