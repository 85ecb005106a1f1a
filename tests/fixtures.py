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
