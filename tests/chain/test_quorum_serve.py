"""`watchdog serve` under a k = 2 quorum, on a real anvil: its vote ends ``voted``, its ``quorum`` job puts
the pending quorum in ``GET /v1/status`` and ``/metrics``, and another operator's vote for other evidence
becomes a ``WatchdogVoteDisagreement`` alert at a real HTTP receiver, once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from eth_utils import keccak

from tests.fixtures import REPO
from tests.observability.recorder import recording_server
from watchdog.actions.chain import MonitorClient, Signer, connect
from watchdog.actions.outbox import Outbox
from watchdog.store.store import Store

from .conftest import MODULE, deploy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "quorum-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(check, proc: subprocess.Popen, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        assert proc.poll() is None, f"serve exited with {proc.returncode} while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _voted(store: Path):
    if not store.exists():
        return None
    with Store(store) as s:
        items = [i for i in Outbox(s, None).items() if i.kind == "pause" and i.status == "voted"]
    return items[0] if items else None


def test_serve_votes_reports_pending_quorums_and_alerts_a_disagreement(node, demo_policy, drift_log, tmp_path):
    address = deploy(node)
    admin = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[0].private_key))
    other = node.accounts[4]
    admin.transact("grantRole", admin.role_id("WATCHDOG_ROLE"), other.address)
    admin.transact("setPauseConfig", MODULE, 2, 3600, 0, False)
    port = _free_port()
    api = f"http://127.0.0.1:{port}"
    store = tmp_path / "w.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    env.update({"WATCHDOG_API_TOKENS": TOKEN, "WATCHDOG_PRIVATE_KEY": node.accounts[3].private_key})
    with recording_server() as rec, open(tmp_path / "serve.log", "wb") as serve_log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "--log-format", "json", "serve", "--policy", str(demo_policy),
             "--source", str(drift_log), "--rpc-url", node.url, "--monitor", address, "--store", str(store),
             "--http", f"127.0.0.1:{port}", "--quarantine", str(tmp_path / "q.jsonl"), "--report-dir",
             str(tmp_path / "reports"), "--webhook-url", rec.url, "--poll-interval", "0.05"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=serve_log)
        try:
            item = _poll(lambda: _voted(store), proc, "the vote")
            assert (item.method, item.quorum_note) == ("votePause", "1 of 2 votes")
            assert not admin.is_paused(MODULE)
            (voted,) = _poll(lambda: [r.json for r in rec.requests if b"WatchdogActionVoted" in r.body], proc,
                             "the vote's alert")
            (alert,) = [a for a in voted["alerts"] if a["labels"]["alertname"] == "WatchdogActionVoted"]
            assert alert["labels"]["outcome"] == "voted" and alert["annotations"]["tx_hash"] == item.tx_hash
            assert alert["annotations"]["summary"].endswith("was voted on-chain: 1 of 2 votes")

            def pending():
                st = httpx.get(f"{api}/v1/status", headers=AUTH, timeout=10).json()
                return st.get("pending_quorums")

            (p,) = _poll(pending, proc, "the pending quorum in /v1/status")
            assert (p["incident_id"], p["quorum"], p["votes"]) == (item.incident_id, 2, 1)
            assert p["counting"] == {item.evidence_hash: [node.accounts[3].address]} and p["disagreeing"] == []
            metrics = httpx.get(f"{api}/metrics", timeout=10).text
            assert "watchdog_quorum_pending_incidents 1.0" in metrics
            assert 'watchdog_quorum_votes_received_total{origin="own"} 1.0' in metrics

            # Another operator votes other evidence for the same incident: it is flagged on-chain and alerted.
            theirs = keccak(text="evidence from a different copy of the log")
            voter = MonitorClient(connect(node.url), address, Signer.from_key(other.private_key))
            voter.transact("votePause", MODULE, bytes.fromhex(item.incident_id[2:]), theirs)

            def alerted():
                return [r for r in rec.requests if b"WatchdogVoteDisagreement" in r.body]

            (alert,) = _poll(alerted, proc, "the disagreement alert")
            assert b"0x" + theirs.hex().encode() in alert.body and other.address.encode() in alert.body
            (p,) = _poll(lambda: [q for q in pending() if q["disagreeing"]], proc, "the disagreeing vote")
            assert p["disagreeing"] == [other.address] and p["votes"] == 1
            metrics = httpx.get(f"{api}/metrics", timeout=10).text
            assert "watchdog_quorum_disagreements_total 1.0" in metrics
            assert 'watchdog_quorum_votes_received_total{origin="others"} 1.0' in metrics
            time.sleep(6)  # another round of the quorum job: the disagreement is not alerted again
            assert len(alerted()) == 1
            jobs = {j["id"]: j for j in httpx.get(f"{api}/v1/status", headers=AUTH, timeout=10).json()[
                "scheduler_jobs"]}
            assert jobs["quorum"]["failures"] == 0 and jobs["quorum"]["outcome"].startswith("ok: 1 pending")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
