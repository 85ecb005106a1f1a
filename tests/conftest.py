# The anvil node and demo policy fixtures, shared by tests/chain, tests/e2e and the in-process engine tests.
pytest_plugins = ("tests.fixtures",)
