"""The malformed corpus: good records with bad ones among them, each bad one with the reason code it must get.

What the codes mean (see ``watchdog.records``): ``duplicate_id`` is a prediction whose id the model
saw among its recent predictions; ``future_timestamp`` is a ts more than the engine's skew (300 s)
ahead of the clock the engine is given (here :data:`NOW`); ``past_timestamp`` is a ts before
2000-01-01. Out-of-order timestamps are valid records and are processed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson

NOW = 1795132800.0  # 2026-11-20T00:00:00Z, the clock the engine is given
BASE = 1795132800.0 - 86400 * 3
MODEL = "lending-risk"
N_GOOD = 300


@dataclass(frozen=True)
class Case:
    raw: bytes
    code: str | None            # None: a good record
    kind: str = "prediction"    # or "label"
    tabular: str = "both"       # "both", "csv" (only CSV can say it) or "" (neither)


def _iso(t: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def record(i: int, **over: object) -> dict:
    r = {"model": MODEL, "version": "1.4.0", "ts": _iso(BASE + 15 * i), "id": f"c-{i:05d}",
         "features": {"utilization": 0.4 + (i % 7) / 20, "collateral_ratio": 1.3, "volatility_7d": 0.02,
                      "borrow_rate": 0.04, "asset_class": ("btc", "eth", "stable")[i % 3]},
         "prediction": 0.3}
    r.update(over)
    return r


def _feat(i: int, name: str, value: object) -> dict:
    r = record(i)
    r["features"] = {**r["features"], name: value}
    return r


def cases(seed: int = 7) -> list[Case]:
    good = []
    for i in range(N_GOOD):
        t = BASE + 15 * i - (3600 if i % 50 == 49 else 0)  # some out of order: still good
        good.append(Case(orjson.dumps(record(i, ts=_iso(t))), None))
    good.append(Case(orjson.dumps({"model": MODEL, "id": "c-00005", "label": 0.2}), None, "label", ""))
    good.append(Case(orjson.dumps({"model": MODEL, "id": "never-seen", "label": 0.2}), None, "label", ""))
    j = 10_000
    dumps = orjson.dumps
    bad = [
        Case(dumps(record(j + 1)).replace(b'"c-', b'"\xff\xfe-'), "bad_utf8", tabular=""),
        Case(dumps(record(j + 2))[:57], "bad_json", tabular=""),
        Case(dumps(_feat(j + 3, "utilization", 1.0)).replace(b'"utilization":1.0', b'"utilization":1e999'),
             "non_finite"),
        Case(dumps(_feat(j + 4, "utilization", 1.0)).replace(b'"utilization":1.0', b'"utilization":1' + b"0" * 400),
             "non_finite", tabular="csv"),
        Case(dumps(_feat(j + 5, "utilization", 1.0)).replace(b'"utilization":1.0', b'"utilization":NaN'),
             "non_finite"),
        Case(dumps(_feat(j + 6, "utilization", {"value": 0.5})), "wrong_type", tabular="csv"),
        Case(dumps(record(j + 7, prediction=[0.1, 0.2])), "wrong_type", tabular=""),
        Case(dumps(_feat(j + 8, "asset_class", "x" * (10 << 20))), "too_large", tabular=""),
        Case(dumps(record(7)), "duplicate_id"),
        Case(dumps(record(j + 9, ts="2031-01-01T00:00:00Z")), "future_timestamp"),
        Case(dumps(record(j + 10, ts="1970-01-01T00:00:00Z")), "past_timestamp"),
        Case(dumps(record(j + 11, ts="0001-01-01T00:00:00+01:00")), "past_timestamp"),
        Case(dumps(record(j + 12, ts="2026-11-18T00:00:00")), "bad_timestamp"),
        Case(b"[1, 2, 3]", "not_object", tabular=""),
        Case(dumps(record(j + 13, model="nobody")), "unknown_model"),
        Case(dumps({k: v for k, v in record(j + 14).items() if k != "version"}), "missing_field"),
        Case(dumps(record(j + 15, features="high")), "wrong_type", tabular=""),
    ]
    out = list(good)
    rng = random.Random(seed)
    for c in bad:  # bad ones land among the good ones, after the record they duplicate
        out.insert(rng.randrange(20, len(out)), c)
    return out


def expected_counts(cs: list[Case]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in cs:
        if c.code:
            out[c.code] = out.get(c.code, 0) + 1
    return out
