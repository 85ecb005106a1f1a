from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import MODULE, deploy, run_watchdog  # noqa: F401  (imported from here by the tests)
from watchdog.actions.chain import MonitorClient, Signer, connect
from watchdog.service.demo_data import write_log


def watchdog_client(node, address, **kw) -> MonitorClient:
    return MonitorClient(connect(node.url), address, Signer.from_key(node.accounts[3].private_key), **kw)


@pytest.fixture(scope="session")
def drift_log(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "drift.jsonl"
    write_log(str(path), n=4800, drift_at=4000, seed=11, malformed=False)
    return path
