"""Fixtures and helpers shared by the tests that run the watchdog against anvil or as a subprocess.

The fixtures (``node``, ``demo_policy``) reach every test through ``pytest_plugins`` in ``tests/conftest.py``;
the helpers are imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from web3 import Web3

from rules import module_id_bytes32
from tests.anvil import AnvilNode, start_anvil
from watchdog.actions.chain import Signer, deploy_monitor

REPO = Path(__file__).resolve().parents[1]
MODULE = module_id_bytes32("lending-risk")


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with start_anvil() as n:
        yield n


def deploy(node: AnvilNode, **kw) -> str:
    """A fresh ModelMonitor on ``node`` with ``MODULE``; the deployer is anvil account 0, the watchdog account 3."""
    w3 = Web3(Web3.HTTPProvider(node.url))
    deployer = Signer.from_key(node.accounts[0].private_key)
    return deploy_monitor(w3, deployer, watchdogs=(node.accounts[3].address,), modules=(MODULE,), **kw)


@pytest.fixture
def demo_policy(tmp_path) -> Path:
    """A copy of the bundled demo policy in ``tmp_path``, free to edit."""
    dst = tmp_path / "policy.yaml"
    with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
        shutil.copyfile(p, dst)
    return dst


def run_watchdog(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m watchdog *args`` from the repository, without the caller's ``WATCHDOG_*`` variables."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "watchdog", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO, check=False)


def free_port() -> int:
    """A port free on 127.0.0.1 now (the test's server binds it next)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_api(url: str, proc: subprocess.Popen, log: Path | None = None, timeout: float = 60) -> None:
    """Bounded polling of a real ``watchdog serve`` until its ``/healthz`` answers; fails with the end of its log
    (``log``) when the process exits first."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = f": {log.read_text()[-2000:]}" if log is not None and log.exists() else ""
            raise AssertionError(f"serve exited with {proc.returncode}{tail}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the API did not answer within {timeout:g} s")
