"""Start a throwaway PostgreSQL server for tests (Debian's ``postgresql-15``).

``start_postgres()`` is a context manager: ``initdb`` into a fresh temporary folder, ``pg_ctl start``
on a free loopback port with its unix socket in that folder, yield a :class:`PostgresServer`, then
stop it and remove the folder. PostgreSQL refuses to run as root, so when the tests run as root the
server runs as the ``postgres`` user (the folder is handed to it)::

    with start_postgres() as pg:               # doctest: +SKIP
        url = pg.create_database("t1")          # postgresql://postgres@127.0.0.1:PORT/t1
        url = pg.create_schema("s1")            # .../postgres?options=-csearch_path%3Ds1

Errors::

    RuntimeError
     └── PostgresError               initdb or pg_ctl failed (carries their output)
          └── PostgresNotFoundError  no PostgreSQL binaries; install the Debian package postgresql
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresError(RuntimeError):
    pass


class PostgresNotFoundError(PostgresError):
    pass


def find_bindir() -> Path:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists() and Path(cand, "pg_ctl").exists():
            return Path(cand)
    raise PostgresNotFoundError(
        "No PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install them with "
        "`apt-get install postgresql` (scripts/bootstrap.sh --test does)."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_schema(self, name: str) -> str:
        """A fresh schema in the ``postgres`` database; the URL puts it first on the search path.

        Much cheaper than a database per test (no template copy), and as isolated for the store."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def start_postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="watchdog-pg-"))
    as_root = os.geteuid() == 0
    run_as: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    data = root / "data"
    if as_root:
        shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o700)
    port = _free_port()

    def run(*cmd: str) -> None:
        p = subprocess.run([*run_as, *cmd], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise PostgresError(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-instructions")
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60", "start")
        try:
            yield PostgresServer(port=port, datadir=data)
        finally:
            subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """One server for the whole test process (started on first use, stopped at exit), so test folders
    that each ask for PostgreSQL do not each pay for an initdb."""
    global _shared
    if _shared is None:
        import atexit

        cm = start_postgres()
        _shared = cm.__enter__()
        atexit.register(cm.__exit__, None, None, None)
    return _shared
