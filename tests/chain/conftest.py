from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from web3 import Web3

from rules import module_id_bytes32
from tests.anvil import start_anvil
from watchdog.chain import MonitorClient, Signer, connect, deploy_monitor
from watchdog.demo_data import write_log

REPO = Path(__file__).resolve().parents[2]
MODULE = module_id_bytes32("lending-risk")


@pytest.fixture(scope="module")
def node():
    with start_anvil() as n:
        yield n


def deploy(node, **kw) -> str:
    w3 = Web3(Web3.HTTPProvider(node.url))
    deployer = Signer.from_key(node.accounts[0].private_key)
    return deploy_monitor(w3, deployer, watchdogs=(node.accounts[3].address,), modules=(MODULE,), **kw)


def watchdog_client(node, address, **kw) -> MonitorClient:
    return MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[3].private_key), **kw)


@pytest.fixture(scope="session")
def drift_log(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "drift.jsonl"
    write_log(str(path), n=4800, drift_at=4000, seed=11, malformed=False)
    return path


@pytest.fixture
def demo_policy(tmp_path) -> Path:
    dst = tmp_path / "policy.yaml"
    with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
        shutil.copyfile(p, dst)
    return dst


def run_watchdog(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "watchdog", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO, check=False)
