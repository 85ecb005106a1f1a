"""Records taken by HTTP survive SIGKILL: `POST /v1/records` writes them to a spool (fsync) before it
processes or answers them, the spool's position is checkpointed, and a restart re-reads the spool
from there before the API takes new records. Also: the spool's own rules (line numbers, segments,
a torn last line, deletion behind a checkpoint) and the 503 of a spool that cannot be written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from importlib import resources
from pathlib import Path

import httpx
import orjson
import pytest

import rules
from tests.fixtures import free_port, wait_for_api
from watchdog.actions.responder import Responder
from watchdog.cli import build_parser
from watchdog.commands.serve import Service
from watchdog.engine.engine import Engine
from watchdog.ingest.sources import Position
from watchdog.ingest.sources.spool import Spool, SpoolError
from watchdog.store.store import Store

DATA = Path(str(resources.files("watchdog").joinpath("data")))
POLICY = DATA / "demo_policy.yaml"
LINES = [ln for ln in (DATA / "demo.jsonl").read_bytes().splitlines() if ln.strip()]
TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}


# the spool alone ---------------------------------------------------------------------------------


def test_append_numbers_lines_by_spool_line_and_replay_reads_them_back(tmp_path):
    spool = Spool(tmp_path / "spool", segment_bytes=40)
    a = spool.append([b'{"n":1}', b'{"n":2}', b'{"n":3}'])  # 24 bytes
    b = spool.append([b'{"n":4}', b'{"n":5}'])  # 40 bytes: the segment is full after it
    c = spool.append([b'{"n":6}'])  # a new segment
    assert (a.line_numbers, b.line_numbers, c.line_numbers) == ([1, 2, 3], [4, 5], [6])
    assert (a.position.offset, b.position.offset, c.position.offset) == (24, 40, 48)
    assert [s.path.name for s in spool.segments()] == [
        "segment-00000000000000000000-000000000000.jsonl", "segment-00000000000000000040-000000000005.jsonl"]
    replayed = list(spool.replay(a.position))
    assert [n for bt in replayed for n in bt.line_numbers] == [4, 5, 6]
    assert [ln for bt in replayed for ln in bt.lines] == [b'{"n":4}', b'{"n":5}', b'{"n":6}']
    assert replayed[-1].position == c.position
    assert list(spool.replay(c.position)) == []
    assert [n for bt in spool.replay(None) for n in bt.line_numbers] == [1, 2, 3, 4, 5, 6]
    spool.close()
    again = Spool(tmp_path / "spool", segment_bytes=40)  # a restart goes on where the stream ended
    assert again.position == c.position
    assert again.append([b'{"n":7}']).line_numbers == [7]
    again.close()


def test_a_torn_last_line_is_dropped_at_open(tmp_path):
    spool = Spool(tmp_path / "spool")
    end = spool.append([b'{"n":1}']).position
    spool.close()
    seg = spool.segments()[-1].path
    with open(seg, "ab") as f:
        f.write(b'{"n":2}\n{"n":3')  # an append cut by a power loss: never answered
    spool = Spool(tmp_path / "spool")
    assert seg.read_bytes() == b'{"n":1}\n{"n":2}\n'
    assert spool.position.offset == end.offset + 8 and spool.position.line == 2
    assert spool.append([b'{"n":4}']).line_numbers == [3]
    spool.close()


def test_prune_deletes_only_segments_wholly_before_the_position(tmp_path):
    spool = Spool(tmp_path / "spool", segment_bytes=16)
    positions = [spool.append([b'{"n":%d}' % i, b'{"n":%d}' % (i + 1)]).position for i in range(0, 8, 2)]
    first = spool.segments()[0].path
    assert len(spool.segments()) == 4
    assert spool.prune(Position(positions[1].offset - 1, 0)) == [first]  # the second ends after it
    assert [s.offset for s in spool.segments()] == [16, 32, 48]
    assert spool.prune(positions[3]) and [s.offset for s in spool.segments()] == [48]  # never the current
    assert [n for bt in spool.replay(positions[2]) for n in bt.line_numbers] == [7, 8]
    spool.close()


def test_an_emptied_spool_goes_on_after_the_checkpointed_position(tmp_path):
    saved = Position(5000, 120)
    spool = Spool(tmp_path / "new", start=saved)
    batch = spool.append([b'{"n":1}'])
    assert batch.line_numbers == [121] and batch.position.offset == 5008
    assert [n for bt in spool.replay(saved) for n in bt.line_numbers] == [121]
    spool.close()


def test_a_spool_on_a_full_disk_raises_and_keeps_nothing(tmp_path):
    where = tmp_path / "spool"
    where.mkdir()
    (where / "segment-00000000000000000000-000000000000.jsonl").symlink_to("/dev/full")  # ENOSPC
    spool = Spool(where)
    with pytest.raises(SpoolError, match=r"could not be written .*No space left on device"):
        spool.append([b'{"n":1}'])
    assert spool.position == Position(0, 0, str(where.resolve()))
    spool.close()


# a live `watchdog serve` ---------------------------------------------------------------------------


def uninterrupted(tmp: Path) -> dict:
    """The reference: every posted line through one in-process engine, never stopped."""
    with Store(tmp / "reference.db") as s:
        engine = Engine(rules.load_policy(POLICY), base_dir=DATA, on_decision=Responder(s, None, dry_run=True))
        for n, raw in enumerate(LINES, 1):
            engine.process_line(raw, n, "http")
        rt = engine.runtimes["lending-risk"]
        return {"incidents": {i.id: i.record_index for i in s.incidents()},
                "counts": (rt.n_predictions, rt.n_labels_joined, dict(engine.quarantine_by_reason)),
                "n_seen": {k: d.n_seen for k, d in rt.detectors.items()}}


def serve(tmp: Path, port: int, source: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    env["WATCHDOG_API_TOKENS"] = TOKEN
    return subprocess.Popen(
        [sys.executable, "-m", "watchdog", "serve", "--policy", str(POLICY), "--source", str(source), "--dry-run",
         "--http", f"127.0.0.1:{port}", "--store", str(tmp / "w.db"), "--checkpoint-interval", "3600",
         "--poll-interval", "0.05", "--quarantine", str(tmp / "quarantine.jsonl"),
         "--report-dir", str(tmp / "reports")],
        cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "ab"))


def post(url: str, lines: list[bytes], size: int = 500) -> None:
    for i in range(0, len(lines), size):
        r = httpx.post(f"{url}/v1/records", content=b"\n".join(lines[i:i + size]), headers=NDJSON, timeout=60)
        assert r.status_code in (200, 400), r.text  # 400: every record of the batch was rejected


def status(url: str) -> dict:
    out = httpx.get(f"{url}/v1/status", headers=AUTH, timeout=10).json()
    m = out["models"]["lending-risk"]
    return {"records": out["records_processed"], "http": out["sources"].get("http"),
            "counts": (m["predictions"], m["labels_joined"], out["quarantined"])}


def checkpoint_row(store: Path) -> tuple[int, dict, dict]:
    with Store(str(store)) as s:
        row = s.query_one("SELECT records, state FROM checkpoints WHERE instance = 'default'")
        pos = s.query_one("SELECT position FROM source_offsets WHERE source = 'http'")
    return int(row["records"]), orjson.loads(row["state"]), orjson.loads(pos["position"])


@pytest.mark.e2e
def test_records_answered_200_before_a_sigkill_are_read_again_from_the_spool(tmp_path):
    ref = uninterrupted(tmp_path)
    cut = 4000
    late = {i: at for i, at in ref["incidents"].items() if at > cut}
    assert late, "incidents must come from the records after the checkpoint, or this test proves little"
    source = tmp_path / "empty.jsonl"
    source.touch()
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    proc = serve(tmp_path, port, source)  # 1: the first records, then SIGTERM: a checkpoint at `cut`
    try:
        wait_for_api(url, proc)
        post(url, LINES[:cut])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert checkpoint_row(tmp_path / "w.db")[0] == cut

    proc = serve(tmp_path, port, source)  # 2: the rest, answered 200, then SIGKILL before any checkpoint
    try:
        wait_for_api(url, proc)
        post(url, LINES[cut:])
        before_kill = status(url)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert before_kill["records"] == len(LINES) and before_kill["counts"] == ref["counts"]
    records, _, pos = checkpoint_row(tmp_path / "w.db")
    assert records == cut and pos["line"] == cut  # nothing after `cut` reached a checkpoint
    spooled = b"".join(p.read_bytes() for p in sorted((tmp_path / "spool" / "default").iterdir()))
    assert spooled.splitlines() == LINES  # exactly the bytes that were processed, in order

    proc = serve(tmp_path, port, source)  # 3: the restart re-reads the spool before the API answers
    try:
        wait_for_api(url, proc)
        after = status(url)
        assert after["records"] == len(LINES) and after["counts"] == ref["counts"]
        assert after["http"]["line"] == len(LINES) and after["http"]["offset"] == len(spooled)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    records, state, pos = checkpoint_row(tmp_path / "w.db")
    with Store(str(tmp_path / "w.db")) as s:
        incidents = {i.id: i.record_index for i in s.incidents()}
        opened = [r["incident_id"] for r in s.audit_log() if r["event"] == "incident_opened"]
        starts = [orjson.loads(r["detail"]) for r in s.audit_log() if r["event"] == "serve_started"]
    assert incidents == ref["incidents"] and sorted(opened) == sorted(ref["incidents"])  # each once
    assert [st["spool_replayed"] for st in starts] == [0, 0, len(LINES) - cut]
    assert records == len(LINES) and pos["offset"] == len(spooled)
    n_seen = {k: d["state"]["n_seen"] for k, d in state["models"]["lending-risk"]["detectors"].items()}
    assert n_seen == ref["n_seen"]


def service(tmp: Path, port: int, *extra: str) -> Service:
    source = tmp / "empty.jsonl"
    source.touch()
    (tmp / "tokens").write_text(TOKEN + "\n")
    args = build_parser().parse_args([
        "serve", "--policy", str(POLICY), "--source", str(source), "--dry-run", "--http", f"127.0.0.1:{port}",
        "--store", str(tmp / "w.db"), "--checkpoint-interval", "3600", "--quarantine", str(tmp / "q.jsonl"),
        "--report-dir", str(tmp / "reports"), "--spool-dir", str(tmp / "spool"),
        "--api-token-file", str(tmp / "tokens"), *extra])
    svc = Service(args, clock=lambda: 1.80e9)
    svc.start()
    return svc


def test_a_checkpoint_deletes_the_segments_it_covers(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    svc = service(tmp_path, port, "--spool-segment-bytes", "4096")
    try:
        post(url, LINES[:300], size=20)
        segments = sorted((tmp_path / "spool").iterdir())
        assert len(segments) > 5  # a batch of 20 demo lines is about 4 kB: one segment per batch or two
        assert svc.checkpoint(1.80e9).endswith("bytes")
        assert sorted((tmp_path / "spool").iterdir()) == segments[-1:]  # only the current one is left
        post(url, LINES[300:340], size=20)
        assert len(list((tmp_path / "spool").iterdir())) > 1
        with svc.engine_lock:
            n = svc.engine.runtimes["lending-risk"].n_predictions
    finally:
        assert svc.shutdown() == 0  # the final checkpoint covers everything, and prunes again
    assert len(list((tmp_path / "spool").iterdir())) == 1
    svc = service(tmp_path, port, "--spool-segment-bytes", "4096")  # nothing is read twice
    try:
        assert svc.engine.runtimes["lending-risk"].n_predictions == n and svc.records == 340
    finally:
        svc.shutdown()


def test_an_unwritable_spool_answers_503_and_processes_nothing(tmp_path):
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "segment-00000000000000000000-000000000000.jsonl").symlink_to("/dev/full")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    svc = service(tmp_path, port)
    try:
        r = httpx.post(f"{url}/v1/records", content=b"\n".join(LINES[:50]), headers=NDJSON, timeout=10)
        assert r.status_code == 503
        assert "could not be written (No space left on device); the records were not taken" in r.json()["detail"]
        st = status(url)
        assert st["records"] == 0 and st["counts"] == (0, 0, {}) and st["http"] is None
        assert not (tmp_path / "q.jsonl").read_bytes()
    finally:
        assert svc.shutdown() == 0


def test_a_batch_failing_midway_stops_the_service_and_is_processed_again_at_restart(tmp_path, monkeypatch):
    from watchdog.report import recorder

    real = recorder.EvaluationRecorder.__call__
    calls = []

    def flaky(self, engine, rt, signals, now, line):
        calls.append(line)
        if len(calls) == 5:  # an evaluation inside an HTTP batch: the store is briefly unwritable
            raise OSError("disk full")
        return real(self, engine, rt, signals, now, line)

    monkeypatch.setattr(recorder.EvaluationRecorder, "__call__", flaky)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    svc = service(tmp_path, port)
    try:
        codes = []
        for i in range(0, len(LINES), 100):
            r = httpx.post(f"{url}/v1/records", content=b"\n".join(LINES[i:i + 100]), headers=NDJSON, timeout=30)
            codes.append(r.status_code)
            if r.status_code == 500:
                break
    finally:
        code = svc.shutdown()
    assert codes[-1] == 500 and set(codes[:-1]) == {200}
    assert code == 1  # the service stopped: no checkpoint holds the half-processed batch
    with Store(str(tmp_path / "w.db")) as s:
        assert s.query_one("SELECT COUNT(*) AS n FROM checkpoints")["n"] == 0
    spooled = b"".join(p.read_bytes() for p in sorted((tmp_path / "spool").iterdir())).splitlines()
    assert spooled == LINES[:len(codes) * 100]  # the failed batch was on disk before it was processed

    monkeypatch.setattr(recorder.EvaluationRecorder, "__call__", real)
    svc = service(tmp_path, port)
    try:
        rt = svc.engine.runtimes["lending-risk"]
        got = (svc.records, rt.n_predictions, rt.n_labels_joined)
    finally:
        assert svc.shutdown() == 0
    reference = Engine(rules.load_policy(POLICY), base_dir=DATA)
    for n, raw in enumerate(spooled, 1):
        reference.process_line(raw, n, "http")
    ref = reference.runtimes["lending-risk"]
    assert got == (len(spooled), ref.n_predictions, ref.n_labels_joined)
