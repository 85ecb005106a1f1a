"""Steward commands as subprocesses against anvil, and the key never in any output of a full run."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_utils import keccak

from watchdog.actions.chain import MonitorClient, Signer, connect
from watchdog.actions.outbox import Outbox
from watchdog.store.store import Incident, Store

from .conftest import MODULE, run_watchdog

pytestmark = pytest.mark.e2e


class _Proc:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


def test_deploy_pause_rollback_status_outbox_veto(node, tmp_path, demo_policy, capsys, monkeypatch):
    """In process (``watchdog.cli.main``) to keep it fast; the subprocess path is covered below."""
    from watchdog.cli import main

    steward = node.accounts[0].private_key
    monkeypatch.setenv("WATCHDOG_PRIVATE_KEY", steward)
    env = None

    def run_watchdog(*args, env=None):
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return _Proc(code, out, err)

    cfg = tmp_path / "deploy.yaml"
    cfg.write_text(f"watchdogs: ['{node.accounts[3].address}']\nmodules: [lending-risk]\nmax_actions_per_window: 2\n")
    bad = run_watchdog("contracts", "deploy", "--rpc-url", node.url, "--config", str(cfg), "--window-seconds", "-1",
                       env=env)
    assert bad.returncode == 2 and "window_seconds" in bad.stderr
    dep = run_watchdog("contracts", "deploy", "--rpc-url", node.url, "--config", str(cfg),
                       "--window-seconds", "3600", env=env)
    assert dep.returncode == 0, dep.stderr
    address = dep.stdout.strip().splitlines()[-1]
    client = MonitorClient(connect(node.url), address)
    assert client.contract.functions.maxActionsPerWindow().call() == 2
    assert client.contract.functions.windowSeconds().call() == 3600
    assert client.contract.functions.hasRole(client.contract.functions.WATCHDOG_ROLE().call(),
                                             node.accounts[3].address).call()

    store = str(tmp_path / "w.db")
    common = ("--rpc-url", "http://127.0.0.1:9", "--rpc-url", node.url, "--monitor", address, "--store", store)
    paused = run_watchdog("pause", "lending-risk", "--reason", "oracle feed frozen", *common, env=env)
    assert paused.returncode == 0, paused.stderr
    assert "pause lending-risk: confirmed" in paused.stdout and client.is_paused(MODULE)
    assert steward[2:] not in paused.stdout + paused.stderr

    council = MonitorClient(connect(node.url), address, Signer.from_key(steward))
    council.transact("proposeVersion", MODULE, 2, keccak(text="a2"), keccak(text="m2"))
    council.transact("approveVersion", MODULE, 2)
    council.transact("activateVersion", MODULE, 2)
    never = run_watchdog("rollback", "lending-risk", "--to", "3", "--reason", "r", *common, env=env)
    assert never.returncode == 1 and "VersionNotFound" in never.stdout
    back = run_watchdog("rollback", "lending-risk", "--to", "1", "--reason", "v2 misprices", *common, env=env)
    assert back.returncode == 0, back.stderr
    assert client.module_info(MODULE) == (True, True, 1)

    # a held action (the medium tier's veto window), vetoed by a steward from the command line
    with Store(store) as st:
        inc = Incident(id="0x" + keccak(text="held").hex(), model="lending-risk", rule="R", tier="medium",
                       opened_at=0.0, record_index=1, policy_hash="0x", dry_run=False, evidence="{}",
                       evidence_hash="0x" + keccak(text="ev").hex(), state="open")
        st.add_incident(inc)
        Outbox(st, None).enqueue(incident_id=inc.id, kind="pause", module="lending-risk", module_id=MODULE,
                                 evidence_hash=inc.evidence_hash, not_before=4e9)
    listed = run_watchdog("outbox", "--store", store)
    assert listed.returncode == 0 and "intent" in listed.stdout and inc.id in listed.stdout
    assert "failed     rollback to version 3" in listed.stdout
    vetoed = run_watchdog("veto", inc.id, "--by", "alice", "--reason", "maintenance window", "--store", store)
    assert vetoed.returncode == 0 and "vetoed pause" in vetoed.stdout
    again = run_watchdog("veto", "0x" + "ab" * 32, "--by", "alice", "--reason", "x", "--store", store)
    assert again.returncode == 2 and "No on-chain action" in again.stderr

    status = run_watchdog("status", "--policy", str(demo_policy), "--rpc-url", node.url, "--monitor", address,
                          "--store", store)
    assert status.returncode == 0, status.stderr
    assert "chain PAUSED, version 1" in status.stdout and "rollback failed" in status.stdout


# The raw env key case runs in tests/e2e/test_run_on_anvil.py (every run there checks its output).
@pytest.mark.parametrize("how", ["keystore"])
def test_signing_key_is_absent_from_all_output_of_a_full_run(how, node, demo_policy, drift_log, tmp_path):
    from .conftest import deploy

    address = deploy(node)
    key = node.accounts[3].private_key
    password = "correct horse battery staple"
    if how == "keystore":
        ks = tmp_path / "watchdog-key.json"
        ks.write_text(json.dumps(Account.encrypt(key, password, kdf="scrypt", iterations=2**10)))
        extra, env = ["--key-file", str(ks)], {"WATCHDOG_KEY_PASSWORD": password}
    else:
        extra, env = [], {"WATCHDOG_PRIVATE_KEY": key}
    proc = run_watchdog(
        "--log-level", "debug", "--log-format", "json", "run", "--policy", str(demo_policy), "--source",
        str(drift_log), "--rpc-url", node.url, "--monitor", address, "--store", str(tmp_path / "w.db"),
        "--quarantine", str(tmp_path / "q.jsonl"), "--metrics-addr", "off", "--no-progress", *extra, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "action_mined" in proc.stderr  # the run did sign and send
    everything = (proc.stdout + proc.stderr).lower()
    assert key[2:].lower() not in everything
    assert password.lower() not in everything
    assert ("signing_key_from_env" in everything) == (how == "env")


def test_outbox_process_after_the_veto_window_reports_the_outcome(node, tmp_path, monkeypatch, capsys):
    """A held pause whose window has passed, on a module a steward already paused: ``outbox --process`` says
    it ended already_paused instead of "nothing pending" (issue #16, item 5)."""
    from tests.fixtures import deploy
    from watchdog.cli import main

    address = deploy(node)
    store = str(tmp_path / "w.db")
    monkeypatch.setenv("WATCHDOG_PRIVATE_KEY", node.accounts[3].private_key)
    common = ("--rpc-url", node.url, "--monitor", address, "--store", store)
    assert main(["pause", "lending-risk", "--reason", "drill", *common]) == 0
    with Store(store) as st:
        inc = Incident(id="0x" + keccak(text="held-past").hex(), model="lending-risk", rule="R", tier="medium",
                       opened_at=0.0, record_index=1, policy_hash="0x", dry_run=False, evidence="{}",
                       evidence_hash="0x" + keccak(text="ev2").hex(), state="open")
        st.add_incident(inc)
        Outbox(st, None).enqueue(incident_id=inc.id, kind="pause", module="lending-risk", module_id=MODULE,
                                 evidence_hash=inc.evidence_hash, not_before=1.0)  # the window ended long ago
    capsys.readouterr()
    assert main(["outbox", "--process", *common]) == 0
    out = capsys.readouterr().out
    assert f"processed: pause lending-risk incident {inc.id}: already_paused" in out, out
    assert "nothing pending" not in out
