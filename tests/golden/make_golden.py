"""Golden expectations: decisions, incidents and checkpoints on the demo log and the example policies.

The files in this folder were made by this script from the code as it was before the engine-core change
(commit 71f73ed), so ``test_golden.py`` can prove the change kept every decision, incident and checkpoint
byte for byte. Rerun it only when a change is *meant* to alter them, and say so in the commit:

    .venv/bin/python tests/golden/make_golden.py

Each case is a policy and a seeded log made from the policy's own models (a regime change half-way, late
labels, a few bad lines), replayed through the line path and the columnar path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

CASES = {
    "demo-log": ROOT / "watchdog" / "data" / "demo_policy.yaml",
    "demo": ROOT / "watchdog" / "data" / "demo_policy.yaml",
    "lending": ROOT / "rules" / "examples" / "lending.yaml",
    "oracle": ROOT / "rules" / "examples" / "oracle.yaml",
    "withdrawals": ROOT / "rules" / "examples" / "withdrawals.yaml",
}
BASE = 1795132800.0 - 86400 * 5
CLASSES = ("a", "b", "c")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def make_log(policy: Any, seed: int = 11, n: int = 9000) -> list[bytes]:
    """Seeded records for every model of ``policy``: calm for the first half, shifted after."""
    rng = random.Random(seed)
    out: list[bytes] = []
    pending: list[tuple[int, bytes]] = []
    for i in range(n):
        m = policy.models[i % len(policy.models)]
        shifted = i > n // 2
        feats: dict[str, Any] = {}
        for f in m.features:
            if f.type == "numeric":
                lo, hi = (f.range if f.range else (0.0, 1.0))
                width = min(hi - lo, 1.0) if hi - lo > 0 else 1.0
                mu = lo + width * (0.6 if shifted else 0.4)
                feats[f.name] = round(min(max(rng.gauss(mu, width * 0.1), lo), hi), 6)
            else:
                words = ("x", "y", "z", "w") if shifted else ("x", "y", "z")
                feats[f.name] = rng.choice(words)
        if i % 97 == 5:
            feats.pop(next(iter(feats)))  # a missing value
        if m.prediction.type == "numeric":
            pred: Any = round(rng.random() * (1.5 if shifted else 1.0), 6)
            label: Any = round(pred + rng.gauss(0.3 if shifted else 0.0, 0.05), 6)
        else:
            pred = rng.choice(CLASSES[:2] if shifted else CLASSES)
            label = pred if rng.random() < (0.5 if shifted else 0.9) else rng.choice(CLASSES)
        rec: dict[str, Any] = {"model": m.id, "version": "1.0.0", "ts": _iso(BASE + 7 * i), "id": f"r-{i:06d}",
                               "features": feats, "prediction": pred}
        if i % 3 == 0:
            rec["label"] = label
        elif i % 3 == 1:
            pending.append((i + 40, orjson.dumps({"model": m.id, "id": f"r-{i:06d}", "label": label})))
        out.append(orjson.dumps(rec))
        while pending and pending[0][0] <= i:
            out.append(pending.pop(0)[1])
        if i % 1000 == 999:
            out.append(b'{"model": "' + m.id.encode() + b'", "id": 5}')  # bad: a wrong type
            out.append(orjson.dumps({**rec, "ts": "2026-13-01T00:00:00Z"}))  # bad time (and a duplicate id)
    out.extend(p for _, p in pending)
    return out


def _decision(d: Any) -> dict[str, Any]:
    data = {k: getattr(d, k) for k in d.__dataclass_fields__}
    if data.get("rule_source"):  # file:line of the rule, relative to the checkout (clones live elsewhere)
        data["rule_source"] = str(data["rule_source"]).replace(str(ROOT) + "/", "")
    return orjson.loads(orjson.dumps(data, default=str, option=orjson.OPT_SORT_KEYS))


def run_case(policy_path: Path, log: list[bytes], *, columnar: bool) -> dict[str, Any]:
    """Decisions and the final checkpoint of one replay (the engine's public API only)."""
    import rules

    try:  # the layout after the engine-core change
        from watchdog.engine.checkpoint import dumps
        from watchdog.engine.engine import Engine
        from watchdog.ingest.sources import Position, RawBatch
        from watchdog.service.feed import feed
    except ImportError:  # the layout the expectations were made with (71f73ed)
        from watchdog.checkpoint import dumps  # type: ignore[no-redef]
        from watchdog.engine import Engine  # type: ignore[no-redef]
        from watchdog.sources.base import Position, RawBatch, feed  # type: ignore[no-redef]

    policy = rules.load_policy(policy_path)
    engine = Engine(policy, base_dir=policy_path.parent, keep_decisions=None)
    step = 700
    quarantined: list[Any] = []
    for at in range(0, len(log), step):
        part = log[at:at + step]
        batch = RawBatch("golden", Position(at + len(part), at + len(part)), lines=part,
                         line_numbers=list(range(at + 1, at + len(part) + 1)))
        quarantined += [(q.line, q.reason_code, q.reason) for q in feed(engine, batch, columnar=columnar).quarantined]
    engine.finish()
    return {"decisions": [_decision(d) for d in engine.decisions], "quarantined": quarantined,
            "checkpoint": digests(orjson.loads(dumps(engine.snapshot())))}


def digests(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint as SHA-256 digests of its parts (per model and key): byte-identical or not, and where."""
    def h(x: Any) -> str:
        return hashlib.sha256(orjson.dumps(x, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    out: dict[str, Any] = {k: h(v) for k, v in checkpoint.items() if k != "models"}
    out["models"] = {mid: {k: ({d: h(s) for d, s in v.items()} if k == "detectors" else h(v)) for k, v in m.items()}
                     for mid, m in checkpoint["models"].items()}
    out["whole"] = h(checkpoint)
    return out


def run_incidents(policy_path: Path, log_path: Path, tmp: Path) -> list[dict[str, Any]]:
    """The incidents a dry ``watchdog run`` records: ids, evidence hashes, the evidence itself."""
    try:
        from watchdog.service.oneshot import RunOptions, run
    except ImportError:
        from watchdog.service import RunOptions, run  # type: ignore[no-redef]
    res = run(RunOptions(policy=policy_path, source=log_path, store=tmp / "w.db", quarantine=tmp / "q.jsonl",
                         dry_run=True, progress=False, settle_seconds=0.0))
    return [{"id": i.id, "rule": i.rule, "model": i.model, "record_index": i.record_index, "tier": i.tier,
             "evidence_hash": i.evidence_hash, "evidence": i.evidence_data} for i in res.incidents]


def log_of(name: str) -> list[bytes]:
    """The log of case ``name``: the bundled demo log, or one made from the policy (seeded)."""
    import rules

    if name == "demo-log":
        return [ln for ln in (ROOT / "watchdog" / "data" / "demo.jsonl").read_bytes().split(b"\n") if ln.strip()]
    return make_log(rules.load_policy(CASES[name]))


def expected(name: str) -> dict[str, Any]:
    """Everything the golden file of case ``name`` holds, computed by the code as it is now."""
    log = log_of(name)
    out: dict[str, Any] = {which: run_case(CASES[name], log, columnar=which == "columnar")
                           for which in ("lines", "columnar")}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "log.jsonl"
        src.write_bytes(b"\n".join(log) + b"\n")
        out["incidents"] = run_incidents(CASES[name], src, Path(tmp))
    return out


def main() -> None:
    for name in CASES:
        got = expected(name)
        (HERE / f"{name}.json").write_bytes(orjson.dumps(got, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
        print(name, {w: len(got[w]["decisions"]) for w in ("lines", "columnar")}, "decisions,",
              len(got["incidents"]), "incidents")


if __name__ == "__main__":
    main()
