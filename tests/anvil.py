"""Start a throwaway anvil node for tests.

``start_anvil()`` is a context manager: it launches the anvil that ``@foundry-rs/anvil`` installed under
``contracts/node_modules`` on a free loopback port (anvil binds port 0 and reports the port it got, so no
other process can race for it), waits until JSON-RPC answers, yields an :class:`AnvilNode` and stops the
process on exit::

    with start_anvil() as node:               # doctest: +SKIP
        w3 = Web3(Web3.HTTPProvider(node.url))
        node.increase_time(3600)

Errors::

    RuntimeError
     └── AnvilError                 anvil exited, or did not answer in time (carries its output)
          └── AnvilNotFoundError    no anvil binary; run `cd contracts && npm ci`
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO_ROOT / "contracts" / "node_modules"

#: The keys anvil derives from its default mnemonic
#: "test test test test test test test test test test test junk" (m/44'/60'/0'/0/i, i = 0..9).
DEFAULT_PRIVATE_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)

#: The matching checksummed addresses, in the same order.
DEFAULT_ADDRESSES: tuple[str, ...] = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
)

_LISTENING = re.compile(rb"Listening on 127\.0\.0\.1:(\d+)")
_PLATFORM_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
}


class AnvilError(RuntimeError):
    """anvil could not be started or did not answer; ``output`` holds the tail of its stdout and stderr."""

    def __init__(self, message: str, output: str = "") -> None:
        self.output = output
        super().__init__(f"{message}\n--- anvil output ---\n{output}" if output else message)


class AnvilNotFoundError(AnvilError, FileNotFoundError):
    """No anvil binary where the npm package puts it."""


@dataclass(frozen=True)
class AnvilAccount:
    """A funded, unlocked dev account of anvil."""

    address: str
    private_key: str


@dataclass
class AnvilNode:
    """A running anvil node; valid inside the ``start_anvil`` block."""

    url: str
    port: int
    chain_id: int
    accounts: tuple[AnvilAccount, ...]
    process: subprocess.Popen[bytes] = field(repr=False)
    _request_id: int = field(default=0, repr=False)

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Call a JSON-RPC method and return its ``result``; raise ``AnvilError`` on an RPC error."""
        self._request_id += 1
        reply = _post(self.url, method, list(params), self._request_id, timeout=30.0)
        if "error" in reply:
            raise AnvilError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def increase_time(self, seconds: int) -> None:
        """Move the chain clock forward (``evm_increaseTime``) and mine a block so it takes effect."""
        self.rpc("evm_increaseTime", [int(seconds)])
        self.mine()

    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` empty blocks."""
        for _ in range(blocks):
            self.rpc("evm_mine")

    def snapshot(self) -> str:
        """Take an ``evm_snapshot``; pass the id to :meth:`revert`."""
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """Restore a snapshot (it is consumed, take a new one to revert again)."""
        if not self.rpc("evm_revert", [snapshot_id]):
            raise AnvilError(f"evm_revert({snapshot_id}) was refused")


def find_anvil() -> Path:
    """Return the anvil binary installed by ``npm ci`` in ``contracts/``.

    ``$ANVIL_BIN`` overrides the search. The native binary of the platform package is preferred over the
    ``node_modules/.bin/anvil`` Node shim, so no Node process sits between us and anvil.
    """
    override = os.environ.get("ANVIL_BIN")
    if override:
        path = Path(override)
        if not path.is_file():
            raise AnvilNotFoundError(f"ANVIL_BIN points to {path}, which is not a file.")
        return path
    package = _PLATFORM_PACKAGES.get((platform.system(), platform.machine()))
    candidates = [NODE_MODULES / "@foundry-rs" / package / "bin" / "anvil"] if package else []
    candidates.append(NODE_MODULES / ".bin" / "anvil")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise AnvilNotFoundError(
        f"anvil not found (looked for {', '.join(str(p) for p in candidates)}); "
        "install it with `cd contracts && npm ci`."
    )


@contextmanager
def start_anvil(
    *,
    block_time: float | None = None,
    no_mining: bool = False,
    chain_id: int = 31337,
    hardfork: str | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 20.0,
) -> Iterator[AnvilNode]:
    """Run anvil on a free 127.0.0.1 port for the duration of the ``with`` block.

    Parameters
    ----------
    block_time
        Seconds between blocks; ``None`` (default) mines a block for every transaction (automine).
    no_mining
        Do not mine at all until ``evm_mine`` is called; excludes ``block_time``.
    chain_id
        Chain id of the node.
    hardfork
        EVM hardfork name (``"cancun"``, ``"prague"``...); ``None`` keeps anvil's default (latest).
    extra_args
        More command-line arguments for anvil.
    startup_timeout
        Seconds to wait for the node to answer JSON-RPC before failing with its output.
    """
    if block_time is not None and no_mining:
        raise ValueError("block_time and no_mining exclude each other; pass one of them")
    if block_time is not None and block_time <= 0:
        raise ValueError(f"block_time must be positive, got {block_time}")
    if startup_timeout <= 0:
        raise ValueError(f"startup_timeout must be positive, got {startup_timeout}")

    args = [str(find_anvil()), "--host", "127.0.0.1", "--port", "0", "--chain-id", str(chain_id)]
    if block_time is not None:
        args += ["--block-time", f"{block_time:g}"]
    if no_mining:
        args.append("--no-mining")
    if hardfork is not None:
        args += ["--hardfork", hardfork]
    args += list(extra_args)

    # Output goes to a file, not a pipe: anvil logs every transaction and nobody would drain a pipe. The
    # child appends through its own O_APPEND handle, so our reads (separate handle) never move its offset.
    with tempfile.TemporaryDirectory(prefix="anvil-") as tmp:
        log_path = Path(tmp) / "anvil.log"
        with open(log_path, "ab") as sink:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            yield _wait_until_ready(process, log_path, chain_id, startup_timeout)
        finally:
            _stop(process)


def _wait_until_ready(
    process: subprocess.Popen[bytes], log: Path, chain_id: int, timeout: float
) -> AnvilNode:
    deadline = time.monotonic() + timeout
    port: int | None = None
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AnvilError(f"anvil exited with code {process.returncode} during startup", _tail(log))
        if port is None:
            match = _LISTENING.search(_read_all(log))
            if match:
                port = int(match.group(1))
        if port is not None:
            url = f"http://127.0.0.1:{port}"
            try:
                reply = _post(url, "eth_chainId", [], 0, timeout=1.0)
                if int(reply["result"], 16) != chain_id:
                    raise AnvilError(
                        f"anvil at {url} reports chain id {reply['result']}, expected {chain_id}"
                    )
                accounts = tuple(
                    AnvilAccount(address, key)
                    for address, key in zip(DEFAULT_ADDRESSES, DEFAULT_PRIVATE_KEYS, strict=True)
                )
                return AnvilNode(url=url, port=port, chain_id=chain_id, accounts=accounts, process=process)
            except (OSError, ValueError, KeyError) as exc:
                last_error = repr(exc)
        time.sleep(0.05)
    raise AnvilError(f"anvil did not answer JSON-RPC within {timeout:g} s ({last_error})", _tail(log))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _post(url: str, method: str, params: list[Any], request_id: int, timeout: float) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _read_all(log: Path) -> bytes:
    try:
        return log.read_bytes()
    except FileNotFoundError:
        return b""


def _tail(log: Path, limit: int = 4000) -> str:
    return _read_all(log)[-limit:].decode("utf-8", "replace")
