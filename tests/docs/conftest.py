from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # the site builds run mkdocs in a subprocess (about 5 s alone, twice that on a loaded machine)
    config.addinivalue_line("markers", "slow: tests that take more than about 10 s (they still run in the suite)")
