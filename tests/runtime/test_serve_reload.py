"""SIGHUP on a running `watchdog serve`: a good policy is swapped in, a bad one is refused whole and
the old one keeps running; both are audited and counted on /metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

import rules

from .test_restart import LINES, POLICY, count, poll

pytestmark = pytest.mark.e2e


def test_sighup_reloads_a_good_policy_and_refuses_a_bad_one(tmp_path):
    policy = tmp_path / "policy.yaml"
    good_text = POLICY.read_text()
    policy.write_text(good_text)
    source = tmp_path / "records.jsonl"
    source.write_bytes(b"".join(LINES[:3000]))
    store = str(tmp_path / "w.db")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    env["WATCHDOG_API_TOKENS"] = "reload-test-token-0123456789"
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "serve", "--policy", str(policy), "--source", str(source), "--dry-run",
         "--http", f"127.0.0.1:{port}", "--store", store, "--poll-interval", "0.05",
         "--quarantine", str(tmp_path / "q.jsonl"), "--report-dir", str(tmp_path / "reports")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "ab"))  # noqa: SIM115 -- the server writes to it after this call
    metrics = f"http://127.0.0.1:{port}/metrics"

    def audited(event: str) -> int:
        return count(store, f"SELECT COUNT(*) FROM audit WHERE event = '{event}'")

    try:
        poll(lambda: audited("serve_started"), proc)
        old_hash = rules.load_policy(policy).hash

        policy.write_text(good_text.replace("kind: ks, feature: volatility_7d", "kind: nope, feature: volatility_7d"))
        proc.send_signal(signal.SIGHUP)
        poll(lambda: audited("policy_reload_failure"), proc)
        text = httpx.get(metrics, timeout=10).text
        assert 'watchdog_policy_reloads_total{outcome="failure"} 1.0' in text
        assert old_hash in text  # the old policy is still the one in force

        policy.write_text(good_text.replace("threshold: 1.0e-8", "threshold: 1.0e-9"))
        new_hash = rules.load_policy(policy).hash
        assert new_hash != old_hash
        proc.send_signal(signal.SIGHUP)
        poll(lambda: audited("policy_reload_success"), proc)
        text = httpx.get(metrics, timeout=10).text
        assert 'watchdog_policy_reloads_total{outcome="success"} 1.0' in text
        assert new_hash in text and old_hash not in text
        assert proc.poll() is None  # a bad policy never stopped the service
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, (tmp_path / "serve.log").read_text()[-3000:]
