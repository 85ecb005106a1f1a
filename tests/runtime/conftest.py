"""The runtime tests use the store tests' fixtures: ``store_url`` runs a test on SQLite and PostgreSQL."""

from tests.store.conftest import pg_server, store_url  # noqa: F401
