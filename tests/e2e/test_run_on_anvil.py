"""``watchdog run`` as a subprocess against a real anvil node: the walking skeleton end to end."""

from __future__ import annotations

import orjson
import pytest

from watchdog.actions.chain import MonitorClient
from watchdog.service.demo_data import MALFORMED, write_log
from watchdog.store.store import Store

from .conftest import MODULE, run_watchdog

pytestmark = pytest.mark.e2e


def _run(node, address, policy, log, tmp_path, *extra: str):
    key = node.accounts[3].private_key
    proc = run_watchdog(
        "--log-format", "json", "run", "--policy", str(policy), "--source", str(log), "--rpc-url", node.url,
        "--monitor", address, "--store", str(tmp_path / "w.db"), "--quarantine", str(tmp_path / "q.jsonl"),
        "--metrics-addr", "off", "--no-progress", *extra,
        env={"WATCHDOG_PRIVATE_KEY": key},
    )
    # The signing key must not appear anywhere in what the watchdog printed or logged.
    assert key[2:].lower() not in (proc.stdout + proc.stderr).lower()
    return proc


def test_drifted_log_pauses_once_with_the_stored_evidence(node, monitor, demo_policy, tmp_path):
    w3, address = monitor
    log = tmp_path / "drift.jsonl"
    write_log(str(log), n=6000, drift_at=4000, seed=11, malformed=False)
    proc = _run(node, address, demo_policy, log, tmp_path)
    assert proc.returncode == 0, proc.stderr

    client = MonitorClient(w3, address)
    events = client.module_paused_events()
    assert len(events) == 1
    assert client.is_paused(MODULE)
    with Store(tmp_path / "w.db") as store:
        pauses = [i for i in store.incidents() if i.rule == "VolatilityRegimeShift"]
        assert len(pauses) == 1
        inc = pauses[0]
        ev = events[0]
        assert "0x" + bytes(ev["incidentId"]).hex() == inc.id
        assert "0x" + bytes(ev["evidenceHash"]).hex() == inc.evidence_hash
        action = store.action(inc.id, "pause")
        assert (action.status == "mined" and action.tx_hash == ev["tx_hash"]
                and action.block_number == ev["block_number"])
        evidence = inc.evidence_data
        # the decision came after the drift, from a window that reaches into the drifted records
        assert inc.record_index > 4000  # (the line is the operator's: in the row, not in the hashed evidence)
        assert evidence["condition"]["observed"] < evidence["condition"]["threshold"]
        assert evidence["window"]["records"] == 500
        assert evidence["counts"]["predictions"] > 4000
    assert "VolatilityRegimeShift" in proc.stdout and "mined" in proc.stdout

    # A second run over the same log replays the same incident id: nothing new goes on-chain.
    again = _run(node, address, demo_policy, log, tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(client.module_paused_events()) == 1


def test_clean_log_no_pause_no_incident(node, monitor, demo_policy, tmp_path):
    w3, address = monitor
    log = tmp_path / "clean.jsonl"
    write_log(str(log), n=6000, drift_at=None, seed=12, malformed=False)
    proc = _run(node, address, demo_policy, log, tmp_path)
    assert proc.returncode == 0, proc.stderr
    client = MonitorClient(w3, address)
    assert client.module_paused_events() == []
    assert not client.is_paused(MODULE)
    with Store(tmp_path / "w.db") as store:
        assert store.incidents() == []
    assert "no rule fired" in proc.stdout


BAD_LINES = [
    b'{"model": "lending-risk", "version": "1", "ts": "2026-11-16T05:00:00Z", "id": "b1", "features": {',
    b'\xff\xfe not utf-8',
    b'{"model": "lending-risk", "version": "1", "ts": "2026-11-16T05:00:00Z", "id": "b3", '
    b'"features": {"utilization": NaN}, "prediction": 0.2}',
    b'{"model": "unknown-model", "version": "1", "ts": "2026-11-16T05:00:00Z", "id": "b4", "features": {}, '
    b'"prediction": 0.2}',
    b'{"model": "lending-risk", "version": "1", "ts": "2026-11-16T05:00:00Z", "id": "b5", '
    b'"features": {"utilization": {"nested": 1}}, "prediction": 0.2}',
    b'{"model": "lending-risk", "version": "1", "id": "b6", "features": {}, "prediction": 0.2}',
    b'{"model": "lending-risk", "version": "1", "ts": "2026-11-16T05:00:00Z", "id": "b7", "features": {}, '
    b'"prediction": 1e999}',
    b'["an", "array"]',
    *MALFORMED,
]


def test_malformed_lines_are_quarantined_and_good_ones_all_processed(node, monitor, demo_policy, tmp_path):
    w3, address = monitor
    clean = tmp_path / "clean.jsonl"
    write_log(str(clean), n=3000, drift_at=None, seed=13, malformed=False)
    good = clean.read_bytes().splitlines()
    mixed, bad_at = [], {}
    step = len(good) // (len(BAD_LINES) + 1)
    for i, line in enumerate(good):
        mixed.append(line)
        k = i // step
        if i % step == step - 1 and k < len(BAD_LINES):
            mixed.append(BAD_LINES[k])
            bad_at[len(mixed)] = BAD_LINES[k]
    log = tmp_path / "mixed.jsonl"
    log.write_bytes(b"\n".join(mixed) + b"\n")
    proc = _run(node, address, demo_policy, log, tmp_path)
    assert proc.returncode == 0, proc.stderr

    q = [orjson.loads(x) for x in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert {e["line"] for e in q} == set(bad_at)
    reasons = {e["line"]: e["reason_code"] for e in q}
    assert reasons[min(bad_at)] == "bad_json"
    assert all(e["reason"] for e in q)
    assert set(reasons.values()) >= {"bad_json", "bad_utf8", "non_finite", "unknown_model", "wrong_type",
                                      "missing_field", "not_object"}
    n_preds = sum(1 for x in good if b'"prediction"' in x)
    n_labels = len(good) - n_preds
    assert f"{n_preds:,} predictions, {n_labels:,} labels, {len(bad_at):,} quarantined" in proc.stdout
    assert MonitorClient(w3, address).module_paused_events() == []


def test_bad_policy_refuses_to_start_and_names_every_error(tmp_path, demo_policy):
    text = demo_policy.read_text()
    text = text.replace("kind: ks, feature: volatility_7d", "kind: kss, feature: volatility_7d")
    text = text.replace("severity: routine", "severity: whenever")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    log = tmp_path / "x.jsonl"
    write_log(str(log), n=10, drift_at=None, malformed=False)
    proc = run_watchdog("run", "--policy", str(bad), "--source", str(log), "--metrics-addr", "off", "--dry-run")
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.startswith(str(bad) + ":")]
    assert len(lines) >= 2, proc.stderr
    assert any("kss" in x for x in lines) and any("whenever" in x for x in lines)
    check = run_watchdog("check", str(bad))
    assert check.returncode == 1
    assert [x for x in check.stderr.splitlines() if x.startswith(str(bad) + ":")] == lines
