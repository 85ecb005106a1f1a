"""A batch that fails midway leaves the engine holding part of it while the source offset is still
before it: `watchdog serve` must then exit 1 WITHOUT a checkpoint, so the restart re-reads that batch
onto the last good state (here: none) and ends exactly like an uninterrupted run."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import pytest

from watchdog.cli import build_parser
from watchdog.commands.serve import Service
from watchdog.engine import checkpoint
from watchdog.store.store import Store

DATA = Path(str(resources.files("watchdog").joinpath("data")))


def serve_to_end(args) -> Service:
    svc = Service(args)
    svc.start()
    deadline = time.monotonic() + 120
    while any(t.is_alive() for t in svc.threads):
        assert time.monotonic() < deadline, "the source did not finish"
        time.sleep(0.02)
    return svc


def test_a_batch_failing_midway_is_not_checkpointed_and_is_read_again(tmp_path, monkeypatch):
    from watchdog.report import recorder

    store = str(tmp_path / "w.db")
    args = build_parser().parse_args([
        "serve", "--policy", str(DATA / "demo_policy.yaml"), "--source", str(DATA / "demo.jsonl"), "--no-follow",
        "--dry-run", "--http", "off", "--store", store, "--quarantine", str(tmp_path / "q.jsonl"),
        "--report-dir", str(tmp_path / "reports")])
    real = recorder.EvaluationRecorder.__call__
    calls = []

    def flaky(self, engine, rt, signals, now, line):
        calls.append(line)
        if len(calls) == 30:  # an evaluation in the middle of the log: the store is briefly unwritable
            raise OSError("disk full")
        return real(self, engine, rt, signals, now, line)

    monkeypatch.setattr(recorder.EvaluationRecorder, "__call__", flaky)
    svc = serve_to_end(args)
    assert svc.failed and svc.shutdown() == 1
    with Store(store) as s:
        assert checkpoint.load(s) is None  # nothing from the broken batch was saved as a state

    monkeypatch.setattr(recorder.EvaluationRecorder, "__call__", real)
    svc = serve_to_end(args)
    n_seen = {k: d.n_seen for k, d in svc.engine.runtimes["lending-risk"].detectors.items()}
    assert svc.shutdown() == 0

    reference = serve_to_end(build_parser().parse_args([
        "serve", "--policy", str(DATA / "demo_policy.yaml"), "--source", str(DATA / "demo.jsonl"), "--no-follow",
        "--dry-run", "--http", "off", "--store", str(tmp_path / "ref.db"), "--quarantine", str(tmp_path / "q2.jsonl")]))
    assert n_seen == {k: d.n_seen for k, d in reference.engine.runtimes["lending-risk"].detectors.items()}
    assert reference.shutdown() == 0
    with Store(store) as s, Store(str(tmp_path / "ref.db")) as r:
        assert checkpoint.load(s).records == checkpoint.load(r).records
        assert sorted(i.id for i in s.incidents()) == sorted(i.id for i in r.incidents())


@pytest.fixture(autouse=True)
def _no_scheduler_leak():
    yield
    from watchdog.service import scheduler

    assert scheduler._ACTIVE is None
