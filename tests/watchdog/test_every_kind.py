"""Every policy kind checkpoints: one policy naming every kind, fed past its reference, checkpointed through the
store, restored in a new process, and compared with an engine that was never interrupted.

Before the engine-core change nine kinds (wasserstein, anderson_darling, jensen_shannon, ks_quantile, brier,
log_loss, ece, roc_auc, volume) failed every checkpoint with ``snapshot() got an unexpected keyword argument
'omit'``: this test fails on that code at the first checkpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

import rules
from watchdog.engine import checkpoint
from watchdog.engine.engine import Engine
from watchdog.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
BASE = 1795132800.0 - 86400 * 3


def every_kind_policy(folder: Path) -> Path:
    """A policy with one detector of every kind in rules.KINDS, on two models (numeric and class predictions)."""
    scores, classes = [], []
    for name, kind in rules.KINDS.items():
        entry: dict = {"name": f"d_{name}", "kind": name}
        if kind.input == "numeric":
            entry["feature"] = "x"
        elif kind.input == "categorical":
            entry["feature"] = "c"
        (classes if kind.input == "classification" else scores).append(entry)
    feats = [{"name": "x", "type": "numeric"}, {"name": "c", "type": "categorical"}]
    policy = {
        "version": 1, "name": "every-kind",
        "models": [
            {"id": "scores", "module": "scores", "prediction": {"type": "numeric"}, "features": feats,
             "reference": {"first_n": 300}, "detectors": scores},
            {"id": "classes", "module": "classes", "prediction": {"type": "categorical"}, "features": feats,
             "reference": {"first_n": 300}, "detectors": classes},
        ],
        "groups": [{"name": "g", "interval_records": 50, "rules": [
            {"name": "ScoresDrift", "model": "scores", "for": 1, "labels": {"severity": "routine"},
             "condition": {"detector": "d_ks", "statistic": "p_value", "op": "<", "threshold": 1e-6},
             "annotations": {"summary": "x drifted"}, "actions": ["alert"]},
            {"name": "ClassesWrong", "model": "classes", "for": 1, "labels": {"severity": "routine"},
             "condition": {"detector": "d_accuracy", "statistic": "statistic", "op": "<", "threshold": 0.6},
             "annotations": {"summary": "accuracy fell"}, "actions": ["alert"]},
        ]}],
    }
    path = folder / "every.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    covered = {d["kind"] for m in policy["models"] for d in m["detectors"]}
    assert covered == set(rules.KINDS)
    return path


def records(n: int = 2400, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        late = i > n // 2
        ts = dt.datetime.fromtimestamp(BASE + 30 * i, tz=dt.UTC).isoformat().replace("+00:00", "Z")
        x: object = rng.gauss(1.0 if late else 0.0, 1.0)
        if i % 41 == 0:
            x = None  # a missing value
        if i % 157 == 0:
            x = "high"  # a type error (quarantined, counted by type_error_rate)
        feats = {"x": x, "c": rng.choice("abcd" if late else "abc")}
        if i % 2:
            p = min(max(rng.random() * (1.3 if late else 1.0), 0.0), 1.0)
            out.append(orjson.dumps({"model": "scores", "version": "1", "ts": ts, "id": f"s{i}", "features": feats,
                                     "prediction": round(p, 6), "label": float(rng.random() < p)}))
        else:
            cls = rng.choice("uvw")
            label = cls if rng.random() < (0.5 if late else 0.9) else rng.choice("uvw")
            out.append(orjson.dumps({"model": "classes", "version": "1", "ts": ts, "id": f"k{i}", "features": feats,
                                     "prediction": cls, "label": label}))
    return out


def observe(engine: Engine) -> dict:
    """Every statistic of every detector, and every decision, as plain data (NaN as None)."""
    stats = {}
    for mid, rt in engine.runtimes.items():
        for name, det in rt.detectors.items():
            vals = [det.read(s) for s in det.statistics]
            stats[f"{mid}/{name}"] = [None if math.isnan(v) else v for v in vals] + [det.drift_detected, det.n]
    decisions = [(d.model, d.rule, d.kind, d.record_index, d.value) for d in engine.decisions]
    return {"stats": stats, "decisions": decisions}


def feed(engine: Engine, lines: list[bytes], first: int) -> None:
    for k, raw in enumerate(lines):
        engine.process_line(raw, first + k)
    engine.finish()


RESUME = """
import json, sys
from pathlib import Path
import orjson, rules
from watchdog.engine import checkpoint
from watchdog.engine.engine import Engine
from watchdog.store.store import Store
from tests.watchdog.test_every_kind import observe, feed
policy_path, store_path, log_path, cut = sys.argv[1:5]
policy = rules.load_policy(policy_path)
engine = Engine(policy, base_dir=Path(policy_path).parent)
with Store(store_path) as store:
    cp = checkpoint.resume(store, engine)
assert cp is not None and cp.records == int(cut)
lines = Path(log_path).read_bytes().split(b"\\n")[int(cut):]
feed(engine, [ln for ln in lines if ln], int(cut) + 1)
print(json.dumps(observe(engine)))
"""


@pytest.mark.parametrize("cut", [700, 1500])  # reference gathered and ready; mid-window and after drift
def test_a_policy_naming_every_kind_checkpoints_and_resumes_in_a_new_process(tmp_path: Path, cut: int) -> None:
    policy_path = every_kind_policy(tmp_path)
    policy = rules.load_policy(policy_path)
    lines = records()
    log_path = tmp_path / "log.jsonl"
    log_path.write_bytes(b"\n".join(lines) + b"\n")

    whole = Engine(policy, base_dir=tmp_path)
    feed(whole, lines, 1)
    want = observe(whole)
    assert want["decisions"], "the drift must fire for the comparison to mean anything"

    first = Engine(policy, base_dir=tmp_path)
    for k, raw in enumerate(lines[:cut]):
        first.process_line(raw, k + 1)
    assert all(rt.ready for rt in first.runtimes.values())
    with Store(tmp_path / "w.db") as store:
        checkpoint.save(store, first, {}, now=BASE, records=cut)  # every detector saved, the reference by digest
    out = subprocess.run([sys.executable, "-c", RESUME, str(policy_path), str(tmp_path / "w.db"), str(log_path),
                          str(cut)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    # decisions before the cut happened in the first process; the resumed one makes the rest
    before = [d for d in want["decisions"] if d[3] <= cut]
    assert [tuple(d) for d in got["decisions"]] == [d for d in want["decisions"] if d not in before]
    assert got["stats"] == json.loads(json.dumps(want["stats"]))


def test_serve_with_every_kind_checkpoints_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    """Before: every checkpoint job failed (TypeError on snapshot(omit=...)) and SIGTERM exited 1."""
    import os
    import signal
    import time

    policy_path = every_kind_policy(tmp_path)
    source = tmp_path / "log.jsonl"
    source.write_bytes(b"\n".join(records(1200)) + b"\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    log = open(tmp_path / "serve.log", "ab")  # noqa: SIM115 - the child writes to it until it exits
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "serve", "--policy", str(policy_path), "--source", str(source),
         "--dry-run", "--http", "off", "--store", str(tmp_path / "w.db"), "--checkpoint-interval", "0.2",
         "--poll-interval", "0.05", "--quarantine", str(tmp_path / "q.jsonl"), "--report-dir", str(tmp_path / "r")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 90
        records_saved = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if (tmp_path / "w.db").exists():
                with Store(tmp_path / "w.db") as store:
                    cp = checkpoint.load(store)
                records_saved = cp.records if cp is not None else 0
                if records_saved >= 1200:
                    break
            time.sleep(0.2)
        assert records_saved >= 1200, (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        log.close()
    assert rc == 0, (tmp_path / "serve.log").read_text()[-3000:]
    with Store(tmp_path / "w.db") as store:
        cp = checkpoint.load(store)
    assert cp is not None and set(cp.state["models"]["scores"]["detectors"]) >= {"d_wasserstein", "d_volume", "d_ece"}
