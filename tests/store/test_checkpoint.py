"""Checkpoints: an engine cut anywhere, saved, restored into a new process's engine and fed the rest
of the log decides exactly what the uninterrupted engine decided, with the same detector state."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import orjson
import pytest

import rules
from detectors import KSDrift
from watchdog.engine import checkpoint
from watchdog.engine.checkpoint import CheckpointError
from watchdog.engine.engine import TS_KEY, Engine
from watchdog.engine.model import array_of
from watchdog.store.store import Store

DATA = Path(str(resources.files("watchdog").joinpath("data")))
POLICY = DATA / "demo_policy.yaml"
LINES = [ln for ln in (DATA / "demo.jsonl").read_bytes().splitlines() if ln.strip()]


def engine(policy: rules.Policy | None = None) -> Engine:
    return Engine(policy or rules.load_policy(POLICY), base_dir=DATA)


def feed(e: Engine, start: int, stop: int) -> None:
    for n in range(start, stop):
        e.process_line(LINES[n], n + 1, "demo.jsonl")


def fingerprint(e: Engine) -> dict:
    """What must match between an interrupted and an uninterrupted run."""
    out = {"decisions": [(d.model, d.rule, d.kind, d.record_index, d.at.isoformat()) for d in e.decisions],
           "quarantined": e.n_quarantined}
    for mid, rt in e.runtimes.items():
        out[mid] = {
            "n_seen": {k: d.n_seen for k, d in rt.detectors.items()},
            "signals": {k: v.values for k, v in rt.signals().items()},
            "counts": (rt.n_predictions, rt.n_labels_joined, rt.n_labels_unmatched, rt.awaiting_labels()),
        }
    return out


@pytest.fixture(scope="module")
def uninterrupted() -> dict:
    e = engine()
    feed(e, 0, len(LINES))
    assert e.decisions, "the demo log must make a rule fire, or this test proves little"
    return fingerprint(e)


@pytest.mark.parametrize("cut", [1234, 2057, 7777])  # before the reference is complete, mid-batch, after drift
def test_restored_engine_continues_exactly(uninterrupted, cut):
    first = engine()
    feed(first, 0, cut)
    state = orjson.loads(checkpoint.dumps(first.snapshot()))  # through JSON, as the store keeps it
    second = engine()
    assert second.restore(state) == []
    feed(second, cut, len(LINES))
    decided_before = [d for d in first.decisions]
    combined = fingerprint(second)
    combined["decisions"] = [(d.model, d.rule, d.kind, d.record_index, d.at.isoformat())
                             for d in decided_before + second.decisions]
    assert combined == uninterrupted


def test_snapshot_holds_the_pending_batch_and_the_unfinished_reference():
    e = engine()
    rt = e.runtimes["lending-risk"]
    n = 0
    while rt.n_predictions < 1500:
        feed(e, n, n + 1)
        n += 1
    s = e.snapshot()["models"]["lending-risk"]
    assert not s["ready"] and len(s["reference_rows"]) == 1500 and s["detectors"] == {}
    while rt.n_predictions < 2050:
        feed(e, n, n + 1)
        n += 1
    s = e.snapshot()["models"]["lending-risk"]
    assert s["ready"] and s["reference_rows"] == [] and len(s["batch"]["predictions"]) == 50
    assert sum(s["by_id"]["awaiting"]) == rt.awaiting_labels() > 0


def test_a_changed_model_starts_fresh_and_says_so(tmp_path):
    text = POLICY.read_text().replace("window: 500, bins: 10", "window: 400, bins: 10")
    changed = tmp_path / "p.yaml"
    changed.write_text(text)
    first = engine()
    feed(first, 0, 3000)
    second = engine(rules.load_policy(changed))
    fresh = second.restore(orjson.loads(checkpoint.dumps(first.snapshot())))
    assert fresh == ["model lending-risk: its definition changed"]
    assert not second.runtimes["lending-risk"].ready


def test_a_malformed_checkpoint_is_refused_with_a_reason():
    with pytest.raises(CheckpointError, match="format"):
        engine().restore({"format": 99})
    state = engine().snapshot()
    del state["models"]["lending-risk"]["batch"]
    with pytest.raises(CheckpointError, match="malformed: KeyError"):
        engine().restore(state)


def test_save_and_load_write_state_and_offsets_together(store_url):
    e = engine()
    feed(e, 0, 2100)
    with Store(store_url) as s:
        assert checkpoint.load(s) is None
        size = checkpoint.save(s, e, {"demo.jsonl": '{"offset": 123, "line": 2100}'}, now=5.0, records=2100)
        assert size > 1000
        cp = checkpoint.load(s)
        assert (cp.records, cp.taken_at, cp.positions) == (2100, 5.0, {"demo.jsonl": '{"offset": 123, "line": 2100}'})
        # a failing save leaves the previous checkpoint and offset, both
        feed(e, 2100, 2200)
        with pytest.raises(ZeroDivisionError), s.transaction():
            checkpoint.save(s, e, {"demo.jsonl": '{"offset": 999}'}, now=6.0, records=2200)
            raise ZeroDivisionError
        cp = checkpoint.load(s)
        assert cp.records == 2100 and cp.positions["demo.jsonl"] == '{"offset": 123, "line": 2100}'
        fresh = engine()
        assert checkpoint.resume(s, fresh).records == 2100
        assert fresh.runtimes["lending-risk"].n_predictions == 1233  # of the first 2100 lines (labels interleave)
        assert checkpoint.load(s, "other-instance") is None


def test_column_chunks_of_the_columnar_path_survive_a_checkpoint():
    import numpy as np

    e = engine()
    rt = e.runtimes["lending-risk"]
    cut = 2500
    feed(e, 0, cut)
    while len(rt.state.batch.predictions) < 30:  # reference built, a batch pending
        feed(e, cut, cut + 1)
        cut += 1
    rt.seal()  # rows -> a column chunk, as the Parquet / CSV path leaves them
    assert rt.state.batch.chunks and not rt.state.batch.predictions
    second = engine()
    second.restore(orjson.loads(checkpoint.dumps(e.snapshot())))
    b1, b2 = rt.state.batch, second.runtimes["lending-risk"].state.batch
    assert b2.chunk_rows == b1.chunk_rows > 0
    for c1, c2 in zip(b1.chunks, b2.chunks, strict=True):
        assert c1.keys() == c2.keys()
        for k in c1:
            assert c1[k].dtype == c2[k].dtype
            if c1[k].dtype == object:
                assert c1[k].tolist() == c2[k].tolist()
            else:
                np.testing.assert_array_equal(c1[k], c2[k])  # NaN where a value was missing
    feed(e, cut, len(LINES))
    feed(second, cut, len(LINES))
    assert fingerprint(second) == fingerprint(e)


def test_a_reference_is_stored_once_by_digest_and_comes_back_for_a_reload(store_url, tmp_path):
    e = engine()
    feed(e, 0, 4000)
    rt = e.runtimes["lending-risk"]
    assert rt.ready and len(rt.reference.columns[TS_KEY]) == 2000
    with Store(store_url) as s:
        checkpoint.save(s, e, {}, now=1.0)
        feed(e, 4000, 4300)
        checkpoint.save(s, e, {}, now=2.0)
        rows = s.query("SELECT digest, model FROM reference_samples")
        assert rows == [{"digest": rt.reference.digest, "model": "lending-risk"}]  # stored once
        cp = checkpoint.load(s)
        raw = s.query_one("SELECT state FROM checkpoints WHERE instance = 'default'")["state"]
        other = engine()  # another reference (later records) under another instance, then replacing ours
        feed(other, 3000, 7000)
        checkpoint.save(s, other, {}, now=3.0, instance="b")
        assert len(s.query("SELECT digest FROM reference_samples")) == 2
        checkpoint.save(s, other, {}, now=4.0)
        assert s.query("SELECT digest FROM reference_samples") == [
            {"digest": other.runtimes["lending-risk"].reference.digest}]  # no checkpoint names the first one
    assert len(raw) < 200_000 and '"columns"' not in raw  # the state names the reference, not its rows
    # a new process with a policy that adds a detector builds it from the stored reference
    added = POLICY.read_text().replace("    detectors:\n", "    detectors:\n      - {name: ks_extra, kind: ks, "
                                       "feature: utilization, window: 300}\n", 1)
    assert added != POLICY.read_text()
    second = engine()
    assert second.restore(cp.state) == []
    assert second.swap_policy(rules.load_policy_text(added, base_dir=DATA))["fresh"] == [
        "detector lending-risk/ks_extra"]
    extra = second.runtimes["lending-risk"].detectors["ks_extra"]
    same = KSDrift(rt.reference.columns["utilization"], window=300)
    assert extra.snapshot()["params"]["reference"] == same.snapshot()["params"]["reference"]


def test_a_reference_read_back_from_its_json_has_the_same_digest():
    import numpy as np

    cols = {"a": np.array([0.1, np.nan, 3.0]), "b": np.array(["x", None, "y"], dtype=object),
            "\0ts": np.array([1.5, 2.5, 3.5])}
    back = {k: array_of(v) for k, v in orjson.loads(checkpoint._columns_json(cols)).items()}
    assert checkpoint.columns_digest(back) == checkpoint.columns_digest(cols)
    changed = dict(cols, a=np.array([0.1, np.nan, 3.0000000001]))
    assert checkpoint.columns_digest(changed) != checkpoint.columns_digest(cols)


def test_after_a_reload_a_checkpoint_restores_a_file_reference_model_whose_detector_changed_kind(tmp_path):
    """ks -> page_hinkley under the same name: the new detector is not built on the reference, so the
    checkpoint must not hand it one; and a reference file that changed makes the model start fresh."""
    def prediction(ln: bytes) -> bool:
        try:
            o = orjson.loads(ln)
        except orjson.JSONDecodeError:
            return False
        return isinstance(o, dict) and "prediction" in o and isinstance(o.get("features"), dict)

    ref = [ln for ln in LINES[:2500] if prediction(ln)][:1500]
    (tmp_path / "ref.jsonl").write_bytes(b"\n".join(ref) + b"\n")
    first = POLICY.read_text().replace("reference: {first_n: 2000}", "reference: {file: ref.jsonl}")
    second = first.replace("{name: ks_utilization, kind: ks, feature: utilization, window: 500}",
                           "{name: ks_utilization, kind: page_hinkley, feature: utilization}").replace(
        'condition: {detector: ks_utilization, statistic: p_value, op: "<", threshold: 1.0e-6}',
        'condition: {detector: ks_utilization, statistic: statistic, op: ">", threshold: 50}')
    assert first != POLICY.read_text() and second != first
    (tmp_path / "p1.yaml").write_text(first)
    (tmp_path / "p2.yaml").write_text(second)
    e = Engine(rules.load_policy(tmp_path / "p1.yaml"), base_dir=tmp_path)
    feed(e, 0, 3000)
    e.swap_policy(rules.load_policy(tmp_path / "p2.yaml"))
    assert "ks_utilization" not in e.runtimes["lending-risk"].state.built_on
    with Store(str(tmp_path / "w.db")) as s:
        checkpoint.save(s, e, {}, now=1.0)
        again = Engine(rules.load_policy(tmp_path / "p2.yaml"), base_dir=tmp_path)
        assert checkpoint.resume(s, again) is not None
    assert type(again.runtimes["lending-risk"].detectors["ks_utilization"]).__name__ == "PageHinkley"
    (tmp_path / "ref.jsonl").write_bytes(b"\n".join(ref[:1000]) + b"\n")
    assert "model lending-risk (its reference file changed)" in e.swap_policy(
        rules.load_policy(tmp_path / "p2.yaml"))["fresh"]
