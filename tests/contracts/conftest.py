"""Fixtures for the contract tests: one anvil per session, one deployment per test module, and a chain
snapshot around every test so tests do not see each other's transactions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.anvil import AnvilNode, start_anvil
from tests.contracts.monitor import Deployment, Operator, add_operators, deploy_monitor, reverted_after


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """A running anvil node (automine)."""
    with start_anvil() as node:
        yield node


@pytest.fixture(scope="module")
def deployed(anvil: AnvilNode) -> Deployment:
    """ModelMonitor deployed once per test module: admin = account 0, council = 1, proposer = 2,
    watchdog = 3; module ``MODULE`` registered with version 1 approved and active."""
    return deploy_monitor(anvil)


@pytest.fixture
def monitor(anvil: AnvilNode, deployed: Deployment) -> Iterator[Deployment]:
    """The module's deployment, with every chain change of the test rolled back afterwards."""
    with reverted_after(anvil):
        yield deployed


@pytest.fixture(scope="module")
def deployed_with_operators(anvil: AnvilNode) -> tuple[Deployment, list[Operator]]:
    """Like ``deployed`` but with a rate limit of 8 watchdog actions an hour, plus three watchdog operators
    with keys of their own (WATCHDOG_ROLE each)."""
    d = deploy_monitor(anvil, max_actions=8)
    return d, add_operators(d, 3)


@pytest.fixture
def quorum(
    anvil: AnvilNode, deployed_with_operators: tuple[Deployment, list[Operator]]
) -> Iterator[tuple[Deployment, list[Operator]]]:
    """The deployment and its three operators, every chain change of the test rolled back afterwards."""
    with reverted_after(anvil):
        yield deployed_with_operators
