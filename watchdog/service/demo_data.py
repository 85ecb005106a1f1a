"""A seeded log of a DeFi lending protocol's risk model, with a regime change at a known record.

The model scores each borrow position's risk of default (0..1) from the pool's utilization, the
position's collateral ratio, the collateral asset's 7-day volatility, the borrow rate and the asset
class. At ``drift_at`` the market turns: volatility more than doubles, utilization climbs, collateral
shifts to long-tail assets, and the model's scores stop tracking realised risk. Labels (realised risk)
arrive later as their own lines, as they do in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

from watchdog.fmt import iso_utc

START = datetime(2026, 11, 16, tzinfo=UTC)
STEP = timedelta(seconds=15)
ASSETS = ("stable", "eth", "btc", "alt")
MALFORMED = (
    b'{"model": "lending-risk", "version": "1.4.0", "ts": "2026-11-16T05:00:00Z", "id": "bad-1", "features": {',
    b'{"model": "lending-risk", "version": "1.4.0", "ts": "2026-11-16T06:00:00Z", "id": "bad-2", '
    b'"features": {"utilization": NaN}, "prediction": 0.1}',
    b'{"model": "lending-risk", "version": "1.4.0", "ts": "2026-11-16T07:00:00Z", "id": "bad-3", '
    b'"features": {"utilization": "high"}, "prediction": 0.1}',
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return p


def generate_lines(n: int = 6000, drift_at: int | None = 4000, seed: int = 7, malformed: bool = True,
                   label_delay: int = 150, model: str = "lending-risk", start: datetime = START,
                   step: timedelta = STEP) -> Iterator[bytes]:
    """Yield JSON lines: ``n`` predictions, late labels for most of them, optional malformed lines.

    Prediction ``i`` (0-based) is drifted when ``drift_at is not None and i >= drift_at``; its time is
    ``start + i * step`` (``start`` must carry a time zone).
    """
    if start.tzinfo is None:
        raise ValueError(f"start must carry a time zone, got {start.isoformat()}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if drift_at is not None and not 0 <= drift_at < n:
        raise ValueError(f"drift_at must be in [0, n), got {drift_at}")
    rng = np.random.default_rng(seed)
    drifted = np.zeros(n, dtype=bool)
    if drift_at is not None:
        drifted[drift_at:] = True
    util = np.where(drifted, rng.beta(8, 2, n), rng.beta(5, 4, n))
    coll = 1.05 + rng.lognormal(np.log(0.75), 0.4, n)
    vol = np.where(drifted, rng.gamma(4.0, 0.018, n), rng.gamma(4.0, 0.008, n))
    rate = 0.02 + 0.25 * util**3 + rng.normal(0, 0.004, n)
    asset_p_clean = [0.35, 0.35, 0.2, 0.1]
    asset_p_drift = [0.15, 0.25, 0.15, 0.45]
    assets = np.array([
        rng.choice(4, p=asset_p_drift if d else asset_p_clean) for d in drifted
    ])
    alt = (assets == 3).astype(float)
    z_model = -3.0 + 2.5 * util - 1.2 * (coll - 1.8) + 20.0 * vol + 0.6 * alt
    pred = _sigmoid(z_model + rng.normal(0, 0.05, n))
    # Realised risk: the model's view plus a volatility term it never learned, which bites after the turn.
    z_true = z_model + 45.0 * np.maximum(vol - 0.06, 0.0) + rng.normal(0, 0.25, n)
    label = _sigmoid(z_true)
    bad_at = {n // 8: MALFORMED[0], n // 4: MALFORMED[1], n // 2: MALFORMED[2]} if malformed else {}
    pending: list[tuple[int, int]] = []  # (emit after prediction index, record index)
    for i in range(n):
        if i in bad_at:
            yield bad_at[i]
        rec = {
            "model": model, "version": "1.4.0",
            "ts": iso_utc(start + i * step, "seconds"),
            "id": f"req-{i:06d}",
            "features": {
                "utilization": round(float(util[i]), 5), "collateral_ratio": round(float(coll[i]), 4),
                "volatility_7d": round(float(vol[i]), 5), "borrow_rate": round(float(rate[i]), 5),
                "asset_class": ASSETS[assets[i]],
            },
            "prediction": round(float(pred[i]), 5),
        }
        yield orjson.dumps(rec)
        if i % 5 != 4:  # four in five positions get a realised label, later
            pending.append((i + label_delay, i))
        while pending and pending[0][0] <= i:
            _, j = pending.pop(0)
            yield orjson.dumps({"model": model, "id": f"req-{j:06d}", "label": round(float(label[j]), 5)})
    for _, j in pending:
        yield orjson.dumps({"model": model, "id": f"req-{j:06d}", "label": round(float(label[j]), 5)})


def write_log(path: str, **kwargs: object) -> int:
    """Write :func:`generate_lines` to ``path``; returns the number of lines."""
    count = 0
    with open(path, "wb") as f:
        for line in generate_lines(**kwargs):  # type: ignore[arg-type]
            f.write(line + b"\n")
            count += 1
    return count
