"""Every store test runs twice: on a SQLite file and on a real PostgreSQL server (tests/pg.py)."""

from __future__ import annotations

import itertools

import pytest

from tests.pg import PostgresError, shared_server

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    try:
        return shared_server()
    except PostgresError as e:  # no server binaries on this machine: say so, loudly
        pytest.fail(f"PostgreSQL could not be started for the store tests: {e}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A fresh, empty store: a SQLite file, or a new schema on the test PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "w.db")
    pg = request.getfixturevalue("pg_server")
    return pg.create_schema(f"t{next(_names)}")
