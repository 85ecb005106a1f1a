from __future__ import annotations

from functools import partial

import pytest
from web3 import Web3

from tests import fixtures
from tests.fixtures import MODULE, deploy  # noqa: F401  (MODULE is imported from here by the tests)

# end-to-end runs replay whole logs: a longer timeout than the chain tests'
run_watchdog = partial(fixtures.run_watchdog, timeout=300)


@pytest.fixture
def monitor(node):
    """A fresh ModelMonitor on the module's anvil node; the watchdog is anvil account 3."""
    return Web3(Web3.HTTPProvider(node.url)), deploy(node)
