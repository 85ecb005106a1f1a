"""`watchdog quorum set|status` and the preflight's gas estimate under a quorum, on a real anvil."""

from __future__ import annotations

import pytest

from watchdog.actions.chain import MonitorClient, Signer, connect
from watchdog.actions.preflight import pause_gas
from watchdog.actions.quorum import pause_config
from watchdog.cli import main

from .conftest import MODULE, deploy, run_watchdog

pytestmark = pytest.mark.e2e


def _set(node, address, key, *extra):
    return run_watchdog("quorum", "set", "--module", "lending-risk", "--rpc-url", node.url, "--monitor", address,
                        *extra, env={"WATCHDOG_PRIVATE_KEY": key})


def test_quorum_set_needs_the_admin_role_and_names_it(node):
    address = deploy(node)
    watchdog_key = node.accounts[3].private_key
    refused = _set(node, address, watchdog_key, "--quorum", "2", "--vote-window", "600", "--max-pause", "0")
    assert refused.returncode == 2
    assert "needs DEFAULT_ADMIN_ROLE (the DAO timelock's role)" in refused.stderr
    assert node.accounts[3].address in refused.stderr and watchdog_key[2:] not in refused.stderr + refused.stdout
    reader = MonitorClient(connect(node.url), address)
    assert pause_config(reader, MODULE).quorum == 1  # nothing was sent

    done = _set(node, address, node.accounts[0].private_key, "--quorum", "3", "--vote-window", "900",
                "--max-pause", "3600", "--one-shot")
    assert done.returncode == 0, done.stderr
    assert "quorum 3, vote window 900 s, pauses end after 3600 s, one-shot operators" in done.stdout
    assert pause_config(reader, MODULE).voting

    shown = run_watchdog("quorum", "status", "--module", "lending-risk", "--rpc-url", node.url, "--monitor", address)
    assert shown.returncode == 0, shown.stderr
    assert "pending quorums: 0" in shown.stdout
    unknown = run_watchdog("quorum", "status", "--module", "no-such-module", "--rpc-url", node.url, "--monitor",
                           address)
    assert unknown.returncode == 2 and "is not registered on the ModelMonitor" in unknown.stderr


@pytest.mark.parametrize(("args", "said"), [
    (["--quorum", "0", "--vote-window", "600", "--max-pause", "0"], "--quorum must be 1 to 16, got 0."),
    (["--quorum", "17", "--vote-window", "600", "--max-pause", "0"], "--quorum must be 1 to 16, got 17."),
    (["--quorum", "2", "--vote-window", "0", "--max-pause", "0"], "A quorum of 2 needs a vote window of at least"),
    (["--quorum", "1", "--vote-window", "0", "--max-pause", "-5"], "--max-pause must be 0 to 4294967295 seconds"),
])
def test_quorum_set_refuses_bad_values_before_connecting(args, said, capsys):
    # the RPC URL points nowhere: the values are refused first
    code = main(["quorum", "set", "--module", "lending-risk", "--rpc-url", "http://127.0.0.1:9", "--monitor",
                 "0x" + "11" * 20, *args])
    assert code == 2
    assert said in capsys.readouterr().err


def test_preflight_estimates_a_vote_under_a_quorum(node):
    address = deploy(node)
    admin = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[0].private_key))
    me = MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[3].private_key))
    solo, estimated = pause_gas(me)
    assert estimated
    admin.transact("setPauseConfig", MODULE, 2, 600, 0, False)
    vote, estimated = pause_gas(me)  # a pause would revert with QuorumRequired: the vote is what is sent
    assert estimated and vote > solo
    probe_free = me.simulate("votePause", MODULE, b"\x01" * 32, b"\x02" * 32)
    assert abs(vote - probe_free) < 5_000
