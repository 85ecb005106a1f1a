"""Valid records that leave a detector without a reference do not stop the watchdog (before: a StartupError
inside the batch, HTTP 500, and the same error on every restart as the spool was replayed)."""

from __future__ import annotations

import orjson

from watchdog.engine import checkpoint
from watchdog.ingest.sources import Position, RawBatch
from watchdog.service.feed import feed

from ..sources.helpers import DEMO_LOG, engine


def lines_without(feature: str, n: int) -> list[bytes]:
    out = []
    for ln in DEMO_LOG.read_bytes().splitlines():
        try:
            rec = orjson.loads(ln)
        except orjson.JSONDecodeError:
            continue  # the demo log's own bad lines
        if "features" in rec:
            rec["features"].pop(feature, None)  # absent: a missing value, as the README says
        out.append(orjson.dumps(rec))
        if len(out) == n:
            break
    return out


def test_a_reference_whose_feature_is_all_missing_leaves_that_detector_unbuilt_and_the_rest_running() -> None:
    lines = lines_without("volatility_7d", 4000)
    for columnar in (False, True):
        eng = engine()
        res = feed(eng, RawBatch("s", Position(0), lines=lines, line_numbers=list(range(1, len(lines) + 1))),
                   columnar=columnar)
        assert res.predictions > 2000
        rt = eng.runtimes["lending-risk"]
        assert rt.ready
        unbuilt = rt.detectors["ks_volatility"]
        assert unbuilt.feeds == "unbuilt" and "0 usable value(s)" in unbuilt.reason
        values = rt.signals()["ks_volatility"].values
        assert values and all(v != v for v in values.values())  # NaN: no data, its rules never fire
        others = [d for name, d in rt.detectors.items() if name != "ks_volatility"]
        assert all(d.feeds != "unbuilt" and d.n > 0 for d in others if d.feeds == "values")
        # a checkpoint keeps it, and a restart goes on from there
        state = orjson.loads(checkpoint.dumps(eng.snapshot()))
        again = engine()
        assert again.restore(state) == []
        assert again.runtimes["lending-risk"].detectors["ks_volatility"].reason == unbuilt.reason
