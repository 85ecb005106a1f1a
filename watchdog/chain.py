"""Chain access: the one module of ours that talks to web3.

Signing is local and explicit (a :class:`Signer` never shows its key: not in ``repr``, logs or
errors). Reverts are decoded to the custom error's name from the monitor's ABI. Only the same signed
transaction is ever re-broadcast; nothing here re-signs with a new nonce behind the caller's back.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from .errors import ActionReverted, ChainError, KeyLoadError

log = logging.getLogger("watchdog.chain")

DEV_KEY_ENV = "WATCHDOG_PRIVATE_KEY"
KEY_PASSWORD_ENV = "WATCHDOG_KEY_PASSWORD"
GWEI = 10**9


@cache
def load_artifact(name: str = "ModelMonitor") -> dict[str, Any]:
    """The compiled contract shipped inside the package (ABI and bytecode)."""
    text = resources.files("watchdog").joinpath("artifacts", f"{name}.json").read_text()
    return json.loads(text)


def error_selectors(abi: list[dict[str, Any]]) -> dict[str, str]:
    """Map 4-byte selectors (``0x`` + 8 hex) of an ABI's custom errors to their names."""
    out: dict[str, str] = {}
    for item in abi:
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(_abi_type(i) for i in item.get('inputs', []))})"
            out["0x" + keccak(text=sig)[:4].hex()] = item["name"]
    return out


def _abi_type(inp: dict[str, Any]) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in inp["components"]) + ")" + t[len("tuple"):]
    return t


def decode_revert(exc: BaseException, abi: list[dict[str, Any]]) -> str | None:
    """The custom error's name carried by a web3 revert exception, or ``None``."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return error_selectors(abi).get(data[:10].lower())
    return None


class Signer:
    """A local signing key. Its key is private: ``repr`` and ``str`` show only the address."""

    __slots__ = ("_account",)

    def __init__(self, account: Any):
        self._account = account

    @property
    def address(self) -> str:
        return self._account.address

    def sign(self, tx: Mapping[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(dict(tx)).raw_transaction)

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickle a key by accident
        raise TypeError("a Signer cannot be pickled")

    @classmethod
    def from_key(cls, key: str | bytes) -> Signer:
        try:
            return cls(Account.from_key(key))
        except Exception:
            # The original exception may echo the key; say what was wrong without it.
            raise KeyLoadError("The private key is not a valid 32-byte secp256k1 key.") from None


def load_signer(key_file: str | Path | None = None, password_file: str | Path | None = None,
                env: Mapping[str, str] | None = None) -> Signer:
    """Load the watchdog's key from an encrypted JSON keystore, or from the environment for development.

    The keystore's password comes from ``password_file`` or the ``WATCHDOG_KEY_PASSWORD`` variable.
    Without a keystore, ``WATCHDOG_PRIVATE_KEY`` is used, with a warning: that is for development.
    """
    env = os.environ if env is None else env
    if key_file is not None:
        path = Path(key_file)
        try:
            keystore = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyLoadError(f"The keystore {path} does not exist.") from None
        except (OSError, ValueError) as e:
            raise KeyLoadError(f"The keystore {path} could not be read as JSON: {type(e).__name__}.") from None
        if password_file is not None:
            try:
                password = Path(password_file).read_text().rstrip("\r\n")
            except OSError as e:
                raise KeyLoadError(f"The password file {password_file} could not be read: {e.strerror}.") from None
        elif KEY_PASSWORD_ENV in env:
            password = env[KEY_PASSWORD_ENV]
        else:
            raise KeyLoadError(
                f"The keystore {path} needs a password: set {KEY_PASSWORD_ENV} or pass --key-password-file."
            )
        try:
            key = Account.decrypt(keystore, password)
        except ValueError:
            raise KeyLoadError(f"The keystore {path} could not be decrypted: wrong password or damaged file.") from None
        return Signer.from_key(key)
    if env.get(DEV_KEY_ENV):
        log.warning("signing_key_from_env", extra={"event": "signing_key_from_env", "variable": DEV_KEY_ENV})
        return Signer.from_key(env[DEV_KEY_ENV])
    raise KeyLoadError(
        f"No signing key: pass --key-file KEYSTORE (with {KEY_PASSWORD_ENV} or --key-password-file), "
        f"or set {DEV_KEY_ENV} for development."
    )


def connect(rpc_url: str, timeout: float = 10.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id
    except Exception as e:
        raise ChainError(f"The RPC endpoint {rpc_url} did not answer: {type(e).__name__}: {e}.") from None
    return w3


def to_bytes32(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 32:
            raise ValueError(f"a bytes32 value must have 32 bytes, got {len(value)}")
        return value
    if value.startswith("0x") and len(value) == 66:
        return bytes.fromhex(value[2:])
    raise ValueError(f"expected 0x followed by 64 hex digits, got {value[:70]!r}")


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int
    nonce: int


class MonitorClient:
    """The watchdog's view of one deployed ModelMonitor, sending as one signer."""

    def __init__(self, w3: Web3, address: str, signer: Signer | None = None, *,
                 max_fee_gwei: float = 500.0, priority_fee_gwei: float = 1.0, receipt_timeout: float = 120.0):
        self.w3 = w3
        self.abi = load_artifact()["abi"]
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=self.abi)
        self.signer = signer
        self.max_fee_wei = int(max_fee_gwei * GWEI)
        self.priority_fee_wei = int(priority_fee_gwei * GWEI)
        self.receipt_timeout = receipt_timeout
        if not w3.eth.get_code(self.address):
            raise ChainError(f"No contract is deployed at {self.address}; check --monitor and --rpc-url.")

    # reads ---------------------------------------------------------------------------------------

    def is_paused(self, module: bytes) -> bool:
        return bool(self.contract.functions.isPaused(module).call())

    def module_paused_events(self, from_block: int = 0) -> list[dict[str, Any]]:
        logs = self.contract.events.ModulePaused().get_logs(from_block=from_block)
        return [dict(e["args"], tx_hash="0x" + e["transactionHash"].hex().removeprefix("0x"),
                     block_number=e["blockNumber"]) for e in logs]

    # writes --------------------------------------------------------------------------------------

    def pause(self, module: bytes, incident_id: bytes, evidence_hash: bytes) -> TxResult:
        return self.transact("pause", module, incident_id, evidence_hash)

    def transact(self, fn_name: str, *args: Any) -> TxResult:
        if self.signer is None:
            raise ChainError("This monitor client has no signer; it can only read.")
        call = getattr(self.contract.functions, fn_name)(*args)
        sender = self.signer.address
        try:
            gas = call.estimate_gas({"from": sender})
        except (ContractCustomError, ContractLogicError) as e:
            raise ActionReverted(fn_name, decode_revert(e, self.abi), getattr(e, "message", "") or "") from None
        tx = call.build_transaction({
            "from": sender,
            "nonce": self.w3.eth.get_transaction_count(sender, "pending"),
            "gas": int(gas * 1.2) + 10_000,
            "chainId": self.w3.eth.chain_id,
            **self._fees(),
        })
        raw = self.signer.sign(tx)
        tx_hash = self.w3.eth.send_raw_transaction(raw)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        hex_hash = "0x" + bytes(tx_hash).hex()
        if receipt["status"] != 1:
            raise ActionReverted(fn_name, None, "status 0 in the receipt", tx_hash=hex_hash)
        return TxResult(hex_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]), int(tx["nonce"]))

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": min(int(self.w3.eth.gas_price), self.max_fee_wei)}
        prio = min(self.priority_fee_wei, self.max_fee_wei)
        max_fee = min(2 * int(base) + prio, self.max_fee_wei)
        if max_fee < int(base):
            raise ChainError(
                f"The base fee ({int(base) / GWEI:.2f} gwei) is above the configured cap "
                f"({self.max_fee_wei / GWEI:.2f} gwei); raise --max-fee-gwei to act now."
            )
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": prio}


def deploy_monitor(w3: Web3, deployer: Signer, *, watchdogs: tuple[str, ...] = (), modules: tuple[bytes, ...] = (),
                   admin_delay: int = 3 * 24 * 3600, max_actions_per_window: int = 3,
                   window_seconds: int = 24 * 3600) -> str:
    """Deploy a ModelMonitor with ``deployer`` as admin, council and proposer; returns its address.

    Each module in ``modules`` is registered with version 1 proposed, approved and active, and each
    address in ``watchdogs`` gets the watchdog role. For production the admin is the DAO's timelock
    and the council a multisig; this helper is for the demo and for tests.
    """
    art = load_artifact()
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    ctor = factory.constructor(admin_delay, deployer.address, max_actions_per_window, window_seconds)
    tx = ctor.build_transaction({
        "from": deployer.address, "nonce": w3.eth.get_transaction_count(deployer.address, "pending"),
        "chainId": w3.eth.chain_id,
    })
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(deployer.sign(tx)))
    if receipt["status"] != 1:
        raise ChainError("The ModelMonitor deployment reverted.")
    address = receipt["contractAddress"]
    client = MonitorClient(w3, address, deployer)
    roles = client.contract.functions
    client.transact("grantRole", roles.COUNCIL_ROLE().call(), deployer.address)
    client.transact("grantRole", roles.PROPOSER_ROLE().call(), deployer.address)
    for wd in watchdogs:
        client.transact("grantRole", roles.WATCHDOG_ROLE().call(), Web3.to_checksum_address(wd))
    for module in modules:
        client.transact("registerModule", module)
        client.transact("proposeVersion", module, 1, keccak(b"artifact:" + module), keccak(b"metadata:" + module))
        client.transact("approveVersion", module, 1)
        client.transact("activateVersion", module, 1)
    return address
