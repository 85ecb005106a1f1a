"""Chain access: the one module of ours that talks to web3.

Signing is local and explicit (a :class:`Signer` never shows its key: not in ``repr``, logs or
errors). Reverts are decoded to the custom error's name from the monitor's ABI. Only the same signed
transaction is ever re-broadcast; nothing here re-signs with a new nonce behind the caller's back.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from eth_abi import decode
from eth_account import Account
from eth_typing import ChecksumAddress, HexStr
from eth_utils import keccak
from prometheus_client import Counter
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound, Web3RPCError
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint

from watchdog.artifacts import load_artifact
from watchdog.errors import ActionReverted, ChainError, KeyLoadError

log = logging.getLogger("watchdog.chain")

DEV_KEY_ENV = "WATCHDOG_PRIVATE_KEY"
KEY_PASSWORD_ENV = "WATCHDOG_KEY_PASSWORD"
GWEI = 10**9
#: ``ModelMonitor.VersionStatus`` in declaration order.
VERSION_STATUS = ("none", "proposed", "approved", "deprecated", "revoked")


def _address(text: str) -> ChecksumAddress:
    """An address as web3's calls type it (the signer's and the monitor's are checksummed when made)."""
    return Web3.to_checksum_address(text)


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


#: ``ModelMonitor.Verdict`` in declaration order.
VERDICTS = ("none", "upheld", "overturned")
#: The monitor's role constants, by the short names the command line takes.
ROLE_CONSTANTS: Mapping[str, str] = {"admin": "DEFAULT_ADMIN_ROLE", "council": "COUNCIL_ROLE",
                                     "proposer": "PROPOSER_ROLE", "watchdog": "WATCHDOG_ROLE"}


def revert_error(exc: BaseException, abi: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The custom error carried by a web3 revert exception, with its arguments by name, or ``None``.

    The same selectors as :func:`decode_revert`; the arguments are decoded with the error's ABI inputs.
    """
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if not (isinstance(data, str) and data.startswith("0x") and len(data) >= 10):
        return None
    selector = data[:10].lower()
    for item in abi:
        if item.get("type") != "error":
            continue
        inputs = item.get("inputs", [])
        if "0x" + keccak(text=f"{item['name']}({','.join(_abi_type(i) for i in inputs)})")[:4].hex() != selector:
            continue
        name = item["name"]
        try:
            values = decode([_abi_type(i) for i in inputs], bytes.fromhex(data[10:]))
        except Exception:  # malformed revert data: the name alone is still worth saying
            return name, {}
        return name, {i["name"]: v for i, v in zip(inputs, values, strict=True)}
    return None


#: Readable sentences for the monitor's custom errors; ``{module}`` etc. are the error's arguments.
_REVERT_SENTENCES = {
    "InvalidModuleId": "the module id is zero",
    "ModuleAlreadyRegistered": "module {module} is registered already",
    "ModuleNotRegistered": "module {module} is not registered on the monitor; register it first with "
                           "watchdog modules register",
    "InvalidVersionNumber": "version 0 is reserved for \"no active version\"; use a version of 1 or more",
    "ZeroArtifactHash": "a version needs a non-zero artifact hash",
    "VersionAlreadyExists": "version {version} of module {module} exists already; propose a new number",
    "VersionNotFound": "version {version} of module {module} was never proposed",
    "InvalidVersionStatus": "version {version} of module {module} is {status}, which does not allow this step",
    "VersionNotApproved": "version {version} of module {module} is {status}; it must be approved first",
    "VersionNeverActive": "version {version} of module {module} was never active, so it cannot be rolled back to",
    "VersionAlreadyActive": "version {version} of module {module} is the active version already",
    "CannotDeprecateActiveVersion": "version {version} of module {module} is the active version; activate "
                                    "another version first, or revoke it",
    "AlreadyPaused": "module {module} is paused already",
    "NotPaused": "module {module} is not paused, or its watchdog pause has expired",
    "ActiveVersionNotApproved": "the active version {version} of module {module} is {status}; activate an "
                                "approved version before unpausing",
    "PauseNotBounded": "the pause of module {module} has no expiry to extend: a council pause, or one "
                       "extended without expiry already",
    "InvalidPauseExtension": "the new expiry {pausedUntil} of module {module} must be later than the current "
                             "one (or 0 for none)",
    "PauseNotExpired": "the pause of module {module} has not expired; its expiry is {pausedUntil} (0: none)",
    "NotAWatchdogIncident": "incident {incidentId} is no watchdog's pause or rollback: unused, or the council's",
    "IncidentAlreadyResolved": "incident {incidentId} was judged already: {verdict}",
    "ZeroReasonHash": "a verdict needs a non-zero reason hash",
    "InvalidContestRole": "the watchdogs may not judge their own incidents",
    "OperatorAlreadyArmed": "operator {operator} is armed already for module {module}",
    "AccessControlEnforcedDefaultAdminRules": "the admin role is not granted or revoked: it moves only by the "
                                              "delayed two-step transfer (beginDefaultAdminTransfer, then "
                                              "acceptDefaultAdminTransfer)",
    "AccessControlBadConfirmation": "an account may only renounce a role for itself",
}


def _show(key: str, value: Any, names: Mapping[bytes, str]) -> str:
    if isinstance(value, bytes):
        return names.get(value) or "0x" + value.hex()
    if key == "status" and isinstance(value, int) and 0 <= value < len(VERSION_STATUS):
        return VERSION_STATUS[value]
    if key == "verdict" and isinstance(value, int) and 0 <= value < len(VERDICTS):
        return VERDICTS[value]
    return str(value)


def explain_revert(name: str, args: Mapping[str, Any], names: Mapping[bytes, str] | None = None) -> str:
    """A sentence for a decoded custom error; module ids found in ``names`` are shown by name.

    >>> explain_revert("VersionNotApproved", {"module": b"\\x01" * 32, "version": 3, "status": 4},
    ...                {b"\\x01" * 32: "lending-risk"})
    'version 3 of module lending-risk is revoked; it must be approved first'
    """
    shown = {k: _show(k, v, names or {}) for k, v in args.items()}
    template = _REVERT_SENTENCES.get(name)
    if template is not None:
        try:
            return template.format(**shown)
        except (KeyError, IndexError):  # an ABI whose argument names differ: fall through to the plain form
            pass
    return f"{name}({', '.join(f'{k}={v}' for k, v in shown.items())})"


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


class ChainMetrics:
    """The transaction path's metrics on a :class:`watchdog.metrics.Metrics` (see :func:`chain_metrics`).

    ``rpc_errors`` (``watchdog_rpc_errors_total{endpoint,kind}``) and ``tx_latency``
    (``watchdog_transaction_latency_seconds{action}``, signing to receipt) are the shared ones from
    ``Metrics``; the replacement and stuck-at-cap counters are registered here.
    """

    def __init__(self, metrics: Any):
        r = metrics.registry
        self.rpc_errors = metrics.rpc_errors
        self.tx_latency = metrics.tx_latency
        self.tx_replaced = Counter(
            "watchdog_tx_replaced_total", "Transactions replaced with a higher fee after being stuck.",
            [], registry=r)
        self.tx_stuck_alerts = Counter(
            "watchdog_tx_stuck_alerts_total",
            "Stuck transactions whose fee reached the cap: a steward must look (raise --max-fee-gwei).",
            [], registry=r)


_CHAIN_METRICS: weakref.WeakKeyDictionary[Any, ChainMetrics] = weakref.WeakKeyDictionary()


def chain_metrics(metrics: Any | None) -> ChainMetrics | None:
    """The :class:`ChainMetrics` of a ``Metrics`` object, created once; ``None`` for none."""
    if metrics is None:
        return None
    m = _CHAIN_METRICS.get(metrics.registry)
    if m is None:
        m = _CHAIN_METRICS[metrics.registry] = ChainMetrics(metrics)
    return m


#: JSON-RPC error codes that say "this endpoint is in trouble", not "your request is wrong": move on.
#: Semantic answers (execution reverted, nonce too low, already known: -32000 and 3) are returned as they
#: are, because every healthy endpoint would give the same one.
FAILOVER_CODES = frozenset({-32700, -32600, -32601, -32603, -32001, -32002, -32004, -32005, 429})
_FAILOVER_WORDS = ("rate limit", "too many requests", "unavailable", "timeout", "timed out", "header not found",
                   "upstream")


def endpoint_label(url: str) -> str:
    """``host:port`` of a URL: a bounded metric label that never carries a path's API key."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _endpoint_trouble(error: Any) -> bool:
    if not isinstance(error, dict):
        return True
    if error.get("code") in FAILOVER_CODES:
        return True
    msg = str(error.get("message", "")).lower()
    return any(w in msg for w in _FAILOVER_WORDS)


class FailoverProvider(JSONBaseProvider):
    """A web3 provider over several JSON-RPC URLs, in order of preference.

    A dead endpoint, a timeout, a non-200 status, a body that is not JSON, or an HTTP 200 carrying a
    JSON-RPC error that means endpoint trouble (see :data:`FAILOVER_CODES`) moves the call to the next
    URL; the one that answered stays current. Each failure is counted in
    ``watchdog_rpc_errors_total{endpoint,kind}``. When every URL failed, :class:`ChainError` says why.
    Any call is safe to repeat on another endpoint: reads are, and a write is always the same signed
    transaction (its hash is its identity).
    """

    def __init__(self, urls: Sequence[str], timeout: float = 10.0, metrics: ChainMetrics | None = None):
        super().__init__()
        if not urls:
            raise ValueError("FailoverProvider needs at least one RPC URL")
        for u in urls:
            if urlsplit(u).scheme not in ("http", "https") or not urlsplit(u).hostname:
                raise ValueError(f"an RPC URL must be http(s)://host[:port][/path], got {endpoint_label(u)!r}")
        self.urls = list(urls)
        self.labels = [endpoint_label(u) for u in self.urls]
        self.timeout = timeout
        self.metrics = metrics
        self.current = 0
        self._client = httpx.Client(timeout=timeout)

    def __repr__(self) -> str:
        return f"FailoverProvider({', '.join(self.labels)})"

    def make_request(self, method: Any, params: Any) -> Any:
        body = self.encode_rpc_request(method, params)
        failures: list[str] = []
        n = len(self.urls)
        for k in range(n):
            i = (self.current + k) % n
            kind, detail = self._try(i, body)
            if kind is None:
                self.current = i
                return detail
            failures.append(f"{self.labels[i]}: {kind} ({detail})")
            if self.metrics is not None:
                self.metrics.rpc_errors.labels(self.labels[i], kind).inc()
            log.warning("rpc_endpoint_failed", extra={"endpoint": self.labels[i], "kind": kind, "method": method})
        raise ChainError(f"Every RPC endpoint failed for {method}: {'; '.join(failures)}. "
                         "Check the nodes or add another --rpc-url.")

    def _try(self, i: int, body: bytes) -> tuple[str | None, Any]:
        try:
            r = self._client.post(self.urls[i], content=body, headers={"Content-Type": "application/json"})
        except httpx.TimeoutException:
            return "timeout", f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as e:
            return "connection", type(e).__name__
        if r.status_code != 200:
            return "http_status", f"HTTP {r.status_code}"
        try:
            resp = json.loads(r.content)
        except ValueError:
            return "bad_json", "the body is not JSON"
        if not isinstance(resp, dict):
            return "bad_json", "the body is not a JSON-RPC object"
        if "error" in resp and _endpoint_trouble(resp["error"]):
            err = resp["error"]
            msg = err.get("message", "") if isinstance(err, dict) else str(err)
            return "rpc_error", f"code {err.get('code') if isinstance(err, dict) else '?'}: {str(msg)[:120]}"
        return None, resp


def connect(rpc_url: str | Sequence[str], timeout: float = 10.0, metrics: ChainMetrics | None = None) -> Web3:
    """A :class:`Web3` over one or several RPC URLs (failover in the given order); checks one answers."""
    urls = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
    try:
        provider = FailoverProvider(urls, timeout=timeout, metrics=metrics)
    except ValueError as e:
        raise ChainError(f"Bad --rpc-url: {e}.") from None
    w3 = Web3(provider)
    try:
        _ = w3.eth.chain_id  # one answer proves an endpoint is up
    except Exception as e:
        raise ChainError(f"No RPC endpoint answered ({', '.join(provider.labels)}): {e}") from None
    return w3


def to_bytes32(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 32:
            raise ValueError(f"a bytes32 value must have 32 bytes, got {len(value)}")
        return value
    if value.startswith("0x") and len(value) == 66:
        return bytes.fromhex(value[2:])
    raise ValueError(f"expected 0x followed by 64 hex digits, got {value[:70]!r}")


def gas_limit(estimate: int) -> int:
    """The gas limit the watchdog signs with for a call whose estimate is ``estimate``: 20 % and 10,000 above it."""
    return int(estimate * 1.2) + 10_000


def fee_per_gas(fees: Mapping[str, int]) -> int:
    """The most a transaction signed with ``fees`` may pay per gas (``maxFeePerGas``, or ``gasPrice``)."""
    return int(fees["maxFeePerGas"] if "maxFeePerGas" in fees else fees["gasPrice"])


@dataclass(frozen=True, slots=True)
class TxResult:
    """A mined transaction. ``gas_used`` is ``None`` when the action was recognised by the monitor's event
    before the node could serve its receipt (a lagging endpoint)."""

    tx_hash: str
    block_number: int
    gas_used: int | None
    nonce: int


class RoleRequired(ChainError):
    """The signing key lacks the role an action needs (checked with ``hasRole`` before sending, or decoded
    from ``AccessControlUnauthorizedAccount``).

    Attributes
    ----------
    role:
        The role's name (``COUNCIL_ROLE``...) or its id in hex when the monitor has no constant for it.
    address:
        The key's address (never the key).
    action:
        What was refused, e.g. ``watchdog unpause``.
    """

    def __init__(self, role: str, address: str, action: str):
        self.role = role
        self.address = address
        self.action = action
        super().__init__(f"{action} needs {role}, and the key {address} does not hold it; sign with a key that "
                         f"holds {role} (the role's admin grants it: watchdog roles grant).")


@dataclass(frozen=True, slots=True)
class VersionDetails:
    """One version as ``versionInfo`` tells it."""

    version: int
    status: str
    artifact_hash: bytes
    metadata_hash: bytes
    was_active: bool


@dataclass(frozen=True, slots=True)
class ModuleState:
    """What the monitor holds for one module, read at the latest block."""

    module: bytes
    registered: bool
    paused: bool
    active_version: int
    paused_until: int
    actions_in_window: int
    next_action_at: int
    quorum: int
    vote_window: int
    max_pause_duration: int
    one_shot: bool


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

    def incident_events(self, incident_id: bytes, from_block: int = 0) -> list[dict[str, Any]]:
        """The monitor's ``ModulePaused`` and ``ModuleRolledBack`` events carrying ``incident_id``, oldest first.

        Each is ``{"kind": "pause" | "rollback", "tx_hash", "block_number", "by"}``: which transaction used the
        incident, so the outbox can tell its own action from another's.
        """
        out = []
        for kind, event in (("pause", self.contract.events.ModulePaused),
                            ("rollback", self.contract.events.ModuleRolledBack)):
            for e in event().get_logs(from_block=from_block, argument_filters={"incidentId": incident_id}):
                out.append({"kind": kind, "tx_hash": "0x" + bytes(e["transactionHash"]).hex(),
                            "block_number": int(e["blockNumber"]), "log_index": int(e["logIndex"]),
                            "by": e["args"]["by"]})
        return sorted(out, key=lambda e: (e["block_number"], e["log_index"]))

    def registered_modules(self, from_block: int = 0) -> list[bytes]:
        """Every module id registered on the monitor (its ``ModuleRegistered`` events), oldest first."""
        logs = self.contract.events.ModuleRegistered().get_logs(from_block=from_block)
        return [bytes(e["args"]["module"]) for e in logs]

    def role_id(self, name: str) -> bytes:
        """The id of a role of the monitor by its constant's name (``DEFAULT_ADMIN_ROLE``, ``WATCHDOG_ROLE``...)."""
        return bytes(getattr(self.contract.functions, name)().call())

    def has_role(self, name: str, address: str) -> bool:
        return bool(self.contract.functions.hasRole(self.role_id(name), Web3.to_checksum_address(address)).call())

    def balance(self) -> int:
        """The signer's balance in wei."""
        if self.signer is None:
            raise ChainError("This monitor client has no signer; it has no balance to read.")
        return int(self.w3.eth.get_balance(_address(self.signer.address)))

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
            "nonce": self.w3.eth.get_transaction_count(_address(sender), "pending"),
            "gas": gas_limit(gas),
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

    # the outbox's steps: each is one explicit chain call, so a crash between two is resumable ----------

    @property
    def chain_id(self) -> int:
        cid = getattr(self, "_chain_id", None)
        if cid is None:
            cid = self._chain_id = int(self.w3.eth.chain_id)
        return cid

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def pending_nonce(self) -> int:
        """The signer's next nonce as the chain's pending pool sees it."""
        assert self.signer is not None
        return int(self.w3.eth.get_transaction_count(_address(self.signer.address), "pending"))

    def mined_nonce(self) -> int:
        assert self.signer is not None
        return int(self.w3.eth.get_transaction_count(_address(self.signer.address), "latest"))

    def incident_used(self, incident_id: bytes) -> bool:
        return bool(self.contract.functions.incidentUsed(incident_id).call())

    def module_info(self, module: bytes) -> tuple[bool, bool, int]:
        registered, paused, active = self.contract.functions.moduleInfo(module).call()
        return bool(registered), bool(paused), int(active)

    def version_info(self, module: bytes, version: int) -> tuple[str, bool]:
        status, _artifact, _meta, was_active = self.contract.functions.versionInfo(module, version).call()
        return VERSION_STATUS[int(status)], bool(was_active)

    def activation_history(self, module: bytes) -> list[int]:
        """Versions the module was made active with, oldest first (activations and rollbacks)."""
        items: list[tuple[int, int, int]] = []
        for e in self.contract.events.VersionActivated().get_logs(from_block=0, argument_filters={"module": module}):
            items.append((e["blockNumber"], e["logIndex"], int(e["args"]["version"])))
        for e in self.contract.events.ModuleRolledBack().get_logs(from_block=0, argument_filters={"module": module}):
            items.append((e["blockNumber"], e["logIndex"], int(e["args"]["toVersion"])))
        return [v for _b, _i, v in sorted(items)]

    def rollback_target(self, module: bytes) -> int:
        """The most recent version active before the current one that is still Approved.

        Raises :class:`ChainError` with a sentence when there is none (nothing to roll back to).
        """
        _reg, _paused, current = self.module_info(module)
        for v in reversed(self.activation_history(module)):
            if v == current:
                continue
            status, was_active = self.version_info(module, v)
            if status == "approved" and was_active:
                return v
        raise ChainError(f"No approved version was active before version {current} of module 0x{module.hex()}; "
                         "there is nothing to roll back to (a steward must decide).")

    def simulate(self, fn_name: str, *args: Any) -> int:
        """Estimate the call's gas as the signer; a revert raises :class:`ActionReverted` with the error's name."""
        assert self.signer is not None
        call = getattr(self.contract.functions, fn_name)(*args)
        try:
            return int(call.estimate_gas({"from": self.signer.address}))
        except (ContractCustomError, ContractLogicError) as e:
            raise ActionReverted(fn_name, decode_revert(e, self.abi), getattr(e, "message", "") or "") from None

    def sign_call(self, fn_name: str, args: Sequence[Any], *, nonce: int, gas: int,
                  fees: Mapping[str, int]) -> tuple[str, bytes]:
        """Sign a call to the monitor; returns ``(tx_hash, raw)``. Nothing is sent."""
        if self.signer is None:
            raise ChainError("This monitor client has no signer; it can only read.")
        call = getattr(self.contract.functions, fn_name)(*args)
        tx = call.build_transaction({"from": self.signer.address, "nonce": nonce, "gas": gas,
                                     "chainId": self.chain_id, **fees})
        raw = self.signer.sign(tx)
        return "0x" + keccak(raw).hex(), raw

    def broadcast(self, raw: bytes) -> str:
        """Send a signed transaction. Returns ``"sent"``, or ``"known"`` / ``"nonce_too_low"`` which mean
        "maybe sent already": the caller must check the chain before doing anything else."""
        try:
            self.w3.eth.send_raw_transaction(raw)
        except (Web3RPCError, ValueError) as e:
            msg = str(e).lower()
            if "already known" in msg or "already imported" in msg or "known transaction" in msg:
                return "known"
            if "nonce too low" in msg or "nonce is too low" in msg:
                return "nonce_too_low"
            if "underpriced" in msg:
                return "underpriced"
            raise ChainError(f"The node refused the transaction: {str(e)[:300]}") from None
        return "sent"

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            r = self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        return None if r is None else dict(r)

    def knows(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (pooled or mined); a node may drop an underpriced one."""
        try:
            return self.w3.eth.get_transaction(HexStr(tx_hash)) is not None
        except TransactionNotFound:
            return False

    def revert_reason(self, tx_hash: str, block_number: int) -> str | None:
        """The custom error's name of a mined, reverted transaction (best effort).

        First the node's call trace (``debug_traceTransaction``, exact: its revert output); without it, the
        call replayed on the state after its block, which names the usual causes (already paused, incident
        used) but can differ when the block changed what made it fail.
        """
        try:
            trace = self.w3.provider.make_request(RPCEndpoint("debug_traceTransaction"),
                                                 [tx_hash, {"tracer": "callTracer"}])
            out = (trace.get("result") or {}).get("output")
            if isinstance(out, str) and len(out) >= 10:
                name = error_selectors(self.abi).get(out[:10].lower())
                if name:
                    return name
        except Exception:  # not every node offers traces
            pass
        tx = self.w3.eth.get_transaction(HexStr(tx_hash))
        try:
            self.w3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]},
                             block_number)
        except (ContractCustomError, ContractLogicError) as e:
            return decode_revert(e, self.abi)
        except Exception:  # the replay is a best effort for a readable reason
            return None
        return None

    def fees(self) -> dict[str, int]:
        return self._fees()

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


    # steward reads and calls (the command line's chain operations) -------------------------------------

    def role_names(self) -> dict[bytes, str]:
        """Role id => constant name, for the monitor's constants."""
        cached: dict[bytes, str] | None = getattr(self, "_role_names", None)
        if cached is None:
            cached = self._role_names = {self.role_id(c): c for c in ROLE_CONSTANTS.values()}
        return cached

    def role_label(self, role: bytes) -> str:
        """A role's constant name, or its id in hex (a contest role the admin made up)."""
        return self.role_names().get(role) or "0x" + role.hex()

    def contest_role(self) -> bytes:
        """The role that judges contested incidents (``contestRole``)."""
        return bytes(self.contract.functions.contestRole().call())

    def role_admin(self, role: bytes) -> bytes:
        """The role that grants and revokes ``role`` (``getRoleAdmin``)."""
        return bytes(self.contract.functions.getRoleAdmin(role).call())

    def holds(self, role: bytes, address: str) -> bool:
        return bool(self.contract.functions.hasRole(role, _address(address)).call())

    def role_members(self, role: bytes | None = None, from_block: int = 0) -> dict[bytes, list[str]]:
        """Holders of each role (or of ``role``), from the ``RoleGranted``/``RoleRevoked`` events replayed in
        order and checked with ``hasRole`` (AccessControl keeps no list)."""
        filters = {} if role is None else {"role": role}
        items: list[tuple[int, int, bool, bytes, str]] = []
        for granted, event in ((True, self.contract.events.RoleGranted), (False, self.contract.events.RoleRevoked)):
            for e in event().get_logs(from_block=from_block, argument_filters=filters):
                items.append((int(e["blockNumber"]), int(e["logIndex"]), granted, bytes(e["args"]["role"]),
                              str(e["args"]["account"])))
        members: dict[bytes, list[str]] = {}
        for _b, _i, granted, r, account in sorted(items):
            held = members.setdefault(r, [])
            if granted and account not in held:
                held.append(account)
            elif not granted and account in held:
                held.remove(account)
        return {r: [a for a in held if self.holds(r, a)] for r, held in members.items()}

    def require_role(self, role: bytes, action: str) -> None:
        """Raise :class:`RoleRequired` unless the signer holds ``role``: before anything is signed."""
        if self.signer is None:
            raise ChainError("This monitor client has no signer; it can only read.")
        if not self.holds(role, self.signer.address):
            raise RoleRequired(self.role_label(role), self.signer.address, action)

    def send_as(self, role: bytes | None, action: str, fn_name: str, *args: Any,
                names: Mapping[bytes, str] | None = None) -> TxResult:
        """Send ``fn_name(*args)`` as the signer after checking it holds ``role`` (``None``: open to anyone).

        A revert found by the gas estimate raises :class:`ActionReverted` whose message is a sentence from
        the decoded custom error (:func:`explain_revert`); ``AccessControlUnauthorizedAccount`` (a role
        taken away meanwhile) raises :class:`RoleRequired`. ``action`` names the command in errors.
        """
        if self.signer is None:
            raise ChainError("This monitor client has no signer; it can only read.")
        if role is not None:
            self.require_role(role, action)
        call = getattr(self.contract.functions, fn_name)(*args)
        try:
            call.estimate_gas({"from": self.signer.address})
        except (ContractCustomError, ContractLogicError) as e:
            decoded = revert_error(e, self.abi)
            if decoded is None:
                raise ActionReverted(fn_name, None, getattr(e, "message", "") or "") from None
            name, values = decoded
            if name == "AccessControlUnauthorizedAccount":
                raise RoleRequired(self.role_label(bytes(values["neededRole"])), _address(values["account"]),
                                   action) from None
            raise ActionReverted(fn_name, name, explain_revert(name, values, names)) from None
        return self.transact(fn_name, *args)

    def version_details(self, module: bytes, version: int) -> VersionDetails:
        status, artifact, meta, was_active = self.contract.functions.versionInfo(module, version).call()
        return VersionDetails(int(version), VERSION_STATUS[int(status)], bytes(artifact), bytes(meta), bool(was_active))

    def proposed_versions(self, module: bytes, from_block: int = 0) -> list[int]:
        """The module's version numbers, in the order they were proposed (``VersionProposed`` events)."""
        logs = self.contract.events.VersionProposed().get_logs(from_block=from_block,
                                                               argument_filters={"module": module})
        return [int(e["args"]["version"]) for e in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))]

    def module_state(self, module: bytes) -> ModuleState:
        """Registration, pause (as the views see it: an expired watchdog pause is none), active version, the
        watchdog rate limit's use and the pause configuration of one module."""
        f = self.contract.functions
        registered, paused, active = f.moduleInfo(module).call()
        used, next_at = f.rateLimitState(module).call()
        quorum, vote_window, max_pause, one_shot = f.pauseConfig(module).call()
        return ModuleState(module, bool(registered), bool(paused), int(active), int(f.pausedUntil(module).call()),
                           int(used), int(next_at), int(quorum) or 1, int(vote_window), int(max_pause),
                           bool(one_shot))

    def rate_limit(self) -> tuple[int, int]:
        """``(maxActionsPerWindow, windowSeconds)``: the watchdog rate limit, the same for every module."""
        f = self.contract.functions
        return int(f.maxActionsPerWindow().call()), int(f.windowSeconds().call())

    def last_heartbeat(self) -> tuple[str | None, int, bytes]:
        """``(by, at, last report hash)`` of the monitor's last heartbeat; ``(None, 0, ...)`` if none."""
        f = self.contract.functions
        at = int(f.lastHeartbeatAt().call())
        by = str(f.lastHeartbeatBy().call())
        return (by if at else None), at, bytes(f.lastReportHash().call())

    def incident_info(self, incident_id: bytes) -> tuple[bool, str, list[str]]:
        """``(used, verdict, operators)`` of an incident id on-chain (``incidentInfo``)."""
        used, verdict, operators = self.contract.functions.incidentInfo(incident_id).call()
        return bool(used), VERDICTS[int(verdict)], [str(o) for o in operators]

    def latest_timestamp(self) -> int:
        """The latest block's timestamp: the chain's "now" that pauses and rate limits are measured against."""
        return int(self.w3.eth.get_block("latest")["timestamp"])


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
        "from": deployer.address, "nonce": w3.eth.get_transaction_count(_address(deployer.address), "pending"),
        "chainId": w3.eth.chain_id,
    })
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(deployer.sign(tx)))
    if receipt["status"] != 1:
        raise ChainError("The ModelMonitor deployment reverted.")
    if receipt["contractAddress"] is None:
        raise ChainError("The deployment's receipt names no contract address.")
    address = str(receipt["contractAddress"])
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
