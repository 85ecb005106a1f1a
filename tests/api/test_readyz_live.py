"""/readyz of a running `watchdog serve` with its real checks: a real anvil behind the RPC check, a real
PostgreSQL server behind the store check. Stopping either turns /readyz into a 503 that names it; so does
removing a SQLite store's file or directory."""

from __future__ import annotations

import json
import shutil
import socket
import time
from importlib import resources

import httpx
import pytest
from eth_account import Account

from tests.anvil import start_anvil
from tests.fixtures import deploy
from tests.pg import PostgresError, start_postgres
from watchdog.cli import build_parser
from watchdog.commands.serve import Service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readyz(url: str) -> tuple[int, dict]:
    r = httpx.get(url + "/readyz", timeout=30)
    return r.status_code, r.json()


@pytest.mark.e2e
def test_readyz_names_the_rpc_then_the_store_once_each_goes_away(tmp_path):
    source = tmp_path / "records.jsonl"
    source.touch()
    port = _free_port()
    svc = None
    try:
        try:
            pg_server = start_postgres()
            pg = pg_server.__enter__()
        except PostgresError as e:
            pytest.fail(f"PostgreSQL could not be started: {e}")
        try:
            with start_anvil() as node:
                monitor = deploy(node)  # the watchdog's signer is anvil account 3
                keystore = tmp_path / "key.json"
                keystore.write_text(json.dumps(Account.encrypt(node.accounts[3].private_key, "pw",
                                                               kdf="scrypt", iterations=2**10)))
                (tmp_path / "pw").write_text("pw")
                (tmp_path / "tokens").write_text("readyz-test-token-0123456789\n")
                with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
                    args = build_parser().parse_args([
                        "serve", "--policy", str(p), "--source", str(source), "--no-follow",
                        "--rpc-url", node.url, "--monitor", monitor, "--key-file", str(keystore),
                        "--key-password-file", str(tmp_path / "pw"), "--store", pg.url(),
                        "--http", f"127.0.0.1:{port}", "--api-token-file", str(tmp_path / "tokens"),
                        "--heartbeat-interval", "0",
                        "--quarantine", str(tmp_path / "q.jsonl"), "--report-dir", str(tmp_path / "reports"),
                        "--spool-dir", str(tmp_path / "spool")])
                    svc = Service(args)
                    svc.start()
                url = f"http://127.0.0.1:{port}"
                assert svc.monitor is not None  # not a dry run: the RPC check reaches the chain
                assert _readyz(url) == (200, {"ready": True, "checks": {"policy": True, "store": True, "rpc": True}})
            # anvil is stopped: the next check finds no endpoint answering
            started = time.monotonic()
            assert _readyz(url) == (503, {"ready": False, "checks": {"policy": True, "store": True, "rpc": False}})
            assert time.monotonic() - started < 15  # a refused connection answers at once, no hang
        finally:
            pg_server.__exit__(None, None, None)
        # PostgreSQL is stopped too: the store's connection is gone and cannot be made again
        assert _readyz(url) == (503, {"ready": False, "checks": {"policy": True, "store": False, "rpc": False}})
        assert httpx.get(url + "/healthz", timeout=10).json() == {"status": "alive"}  # alive, not ready
    finally:
        if svc is not None:
            svc.shutdown()  # exits 1 here: the final checkpoint cannot reach the stopped store


@pytest.mark.parametrize("removed", ["file", "directory"])
def test_readyz_names_a_sqlite_store_whose_file_was_removed(tmp_path, removed):
    """An open SQLite file keeps answering queries after it is unlinked: the store check also looks for it."""
    source = tmp_path / "records.jsonl"
    source.touch()
    store_dir = tmp_path / "store"
    store = store_dir / "watchdog.db"
    (tmp_path / "tokens").write_text("readyz-test-token-0123456789\n")
    port = _free_port()
    svc = None
    try:
        with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
            args = build_parser().parse_args([
                "serve", "--policy", str(p), "--source", str(source), "--no-follow", "--dry-run",
                "--store", str(store), "--http", f"127.0.0.1:{port}",
                "--api-token-file", str(tmp_path / "tokens"), "--heartbeat-interval", "0",
                "--quarantine", str(tmp_path / "q.jsonl"), "--report-dir", str(tmp_path / "reports"),
                "--spool-dir", str(tmp_path / "spool")])
            svc = Service(args)
            svc.start()
        url = f"http://127.0.0.1:{port}"
        assert _readyz(url) == (200, {"ready": True, "checks": {"policy": True, "store": True, "rpc": True}})
        if removed == "file":
            for f in store_dir.glob("watchdog.db*"):  # the database and its -wal / -shm files
                f.unlink()
        else:
            shutil.rmtree(store_dir)
        assert svc.store.query_one("SELECT 1 AS ok") is not None  # the open file still answers
        assert _readyz(url) == (503, {"ready": False, "checks": {"policy": True, "store": False, "rpc": True}})
        assert httpx.get(url + "/healthz", timeout=10).json() == {"status": "alive"}
    finally:
        if svc is not None:
            svc.shutdown()
