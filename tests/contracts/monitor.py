"""Deploy ModelMonitor from its committed artifact and talk to it with web3 8, for tests and the gas report.

Accounts follow one convention everywhere: anvil account 0 is the admin, 1 the council, 2 the proposer,
3 the watchdog and 4 an outsider with no role. Watchdog operators of the k-of-n pause are keys of their own
(:func:`add_operators`), not anvil accounts: they sign their transactions and their EIP-712 votes locally,
as the service does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxReceipt

from tests.anvil import AnvilNode

ARTIFACT_PATH = Path(__file__).resolve().parents[2] / "watchdog" / "artifacts" / "ModelMonitor.json"

MODULE = keccak(text="risk-engine")
ARTIFACT_V1 = keccak(text="risk-engine weights v1")
METADATA_V1 = keccak(text="risk-engine model card v1")

ADMIN_DELAY = 3 * 24 * 3600
MAX_ACTIONS = 2
WINDOW_SECONDS = 3600

# VersionStatus enum of the contract.
NONE, PROPOSED, APPROVED, DEPRECATED, REVOKED = range(5)
# Verdict enum of the contract.
NO_VERDICT, UPHELD, OVERTURNED = range(3)

#: The EIP-712 struct an operator signs for a relayed vote (``ModelMonitor.PAUSE_VOTE_TYPEHASH``).
PAUSE_VOTE_TYPE = [
    {"name": "operator", "type": "address"},
    {"name": "module", "type": "bytes32"},
    {"name": "incidentId", "type": "bytes32"},
    {"name": "evidenceHash", "type": "bytes32"},
    {"name": "deadline", "type": "uint256"},
]


def load_artifact() -> dict[str, Any]:
    """The committed compiler artifact; run `cd contracts && npm run compile` if it is missing."""
    if not ARTIFACT_PATH.is_file():
        raise FileNotFoundError(f"{ARTIFACT_PATH} is missing; run `cd contracts && npm run compile`.")
    return json.loads(ARTIFACT_PATH.read_text())


def error_selectors(abi: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    """Map '0x' + 4-byte selector to (error name, argument types) for every error in an ABI."""
    table = {}
    for entry in abi:
        if entry["type"] == "error":
            types = [arg["type"] for arg in entry["inputs"]]
            selector = "0x" + keccak(text=f"{entry['name']}({','.join(types)})")[:4].hex()
            table[selector] = (entry["name"], types)
    return table


@dataclass(frozen=True)
class Revert:
    """A decoded custom-error revert."""

    name: str
    args: tuple[Any, ...]


def decode_custom_error(abi: list[dict[str, Any]], exc: ContractCustomError) -> Revert:
    """Name and arguments of the custom error carried by ``exc`` (its ``data`` is selector + ABI args)."""
    data = exc.data if isinstance(exc.data, str) else str(exc.args[0])
    selector, payload = data[:10].lower(), bytes.fromhex(data[10:])
    known = error_selectors(abi)
    if selector not in known:
        raise AssertionError(f"revert data {data} has selector {selector}, which is no error of the ABI")
    name, types = known[selector]
    values = abi_decode(types, payload)
    return Revert(
        name,
        tuple(to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)),
    )


@dataclass
class Deployment:
    """A deployed monitor with one registered module whose version 1 is approved and active."""

    node: AnvilNode
    w3: Web3
    contract: Contract
    admin: str
    council: str
    proposer: str
    watchdog: str
    outsider: str
    module: bytes

    def send(self, call: Any, sender: str) -> TxReceipt:
        """Send a contract call from an unlocked anvil account; assert it succeeded; return the receipt."""
        tx_hash = call.transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        assert receipt["status"] == 1, f"transaction {tx_hash.hex()} failed"
        return receipt

    def send_unchecked(self, call: Any, sender: str, gas: int = 500_000) -> TxReceipt:
        """Send with a fixed gas limit (no estimate, so a revert is mined) and return the receipt."""
        tx_hash = call.transact({"from": sender, "gas": gas})
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    def revert_of(self, call: Any, sender: str | None = None) -> Revert:
        """The custom error that ``call`` reverts with: sent as a transaction from ``sender``, or as an
        ``eth_call`` if ``sender`` is None."""
        try:
            if sender is None:
                call.call()
            else:
                call.transact({"from": sender})
        except ContractCustomError as exc:
            return decode_custom_error(self.contract.abi, exc)
        raise AssertionError("the call did not revert")

    def events(self, receipt: TxReceipt, name: str) -> list[Any]:
        """Decoded events called ``name`` in a receipt, in log order."""
        return list(getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD))

    def role(self, name: str) -> bytes:
        """bytes32 of a role constant, read from the contract."""
        return getattr(self.contract.functions, name)().call()

    def block_timestamp(self, receipt: TxReceipt) -> int:
        return self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]

    def now(self) -> int:
        """Timestamp of the latest block."""
        return self.w3.eth.get_block("latest")["timestamp"]

    def send_signed(self, call: Any, operator: Operator) -> TxReceipt:
        """Sign a contract call with the operator's own key, send it raw, assert it succeeded."""
        receipt = self.send_signed_unchecked(call, operator)
        assert receipt["status"] == 1, f"transaction {receipt['transactionHash'].hex()} failed"
        return receipt

    def send_signed_unchecked(self, call: Any, operator: Operator, gas: int | None = None) -> TxReceipt:
        """Like :meth:`send_signed`; with ``gas`` no estimate is made, so a revert is mined."""
        tx = call.build_transaction({
            "from": operator.address,
            "nonce": self.w3.eth.get_transaction_count(operator.address, "pending"),
            "chainId": self.w3.eth.chain_id,
            **({"gas": gas} if gas is not None else {}),
        })
        raw = Account.sign_transaction(tx, operator.key).raw_transaction
        tx_hash = self.w3.eth.send_raw_transaction(raw)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    def revert_as(self, call: Any, sender: str) -> Revert:
        """The custom error that ``call`` reverts with as an ``eth_call`` from ``sender`` (any address)."""
        try:
            call.call({"from": sender})
        except ContractCustomError as exc:
            return decode_custom_error(self.contract.abi, exc)
        raise AssertionError("the call did not revert")

    def sign_vote(
        self, operator: Operator, module: bytes, incident_id: bytes, evidence: bytes, deadline: int
    ) -> tuple[str, int, bytes]:
        """The operator's EIP-712 ``PauseVote`` as the ``SignedVote`` tuple ``relayPauseVotes`` takes."""
        signed = Account.sign_typed_data(
            operator.key,
            domain_data={
                "name": "ModelMonitor",
                "version": "1",
                "chainId": self.w3.eth.chain_id,
                "verifyingContract": self.contract.address,
            },
            message_types={"PauseVote": PAUSE_VOTE_TYPE},
            message_data={
                "operator": operator.address,
                "module": module,
                "incidentId": incident_id,
                "evidenceHash": evidence,
                "deadline": deadline,
            },
        )
        return (operator.address, deadline, bytes(signed.signature))


@dataclass(frozen=True)
class Operator:
    """A watchdog operator with its own key (not an anvil account)."""

    name: str
    address: str
    key: bytes


def add_operators(d: Deployment, count: int, *, fund_wei: int = 10**19) -> list[Operator]:
    """Make ``count`` operators with fresh deterministic keys, fund them from the admin and grant each
    ``WATCHDOG_ROLE``."""
    operators = []
    for i in range(count):
        key = keccak(text=f"watchdog operator {i + 1} of {d.contract.address}")
        account = Account.from_key(key)
        operators.append(Operator(f"operator-{i + 1}", account.address, key))
        d.w3.eth.wait_for_transaction_receipt(
            d.w3.eth.send_transaction({"from": d.admin, "to": account.address, "value": fund_wei}), timeout=30
        )
        d.send(d.contract.functions.grantRole(d.role("WATCHDOG_ROLE"), account.address), d.admin)
    return operators


def deploy_monitor(
    node: AnvilNode,
    *,
    admin_delay: int = ADMIN_DELAY,
    max_actions: int = MAX_ACTIONS,
    window_seconds: int = WINDOW_SECONDS,
) -> Deployment:
    """Deploy, grant the roles, register ``MODULE``, propose, approve and activate its version 1."""
    artifact = load_artifact()
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    admin, council, proposer, watchdog, outsider = (account.address for account in node.accounts[:5])
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(admin_delay, admin, max_actions, window_seconds).transact({"from": admin})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1, "ModelMonitor deployment failed"
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    d = Deployment(node, w3, contract, admin, council, proposer, watchdog, outsider, MODULE)
    f = contract.functions
    d.send(f.grantRole(d.role("COUNCIL_ROLE"), council), admin)
    d.send(f.grantRole(d.role("PROPOSER_ROLE"), proposer), admin)
    d.send(f.grantRole(d.role("WATCHDOG_ROLE"), watchdog), admin)
    d.send(f.registerModule(MODULE), council)
    d.send(f.proposeVersion(MODULE, 1, ARTIFACT_V1, METADATA_V1), proposer)
    d.send(f.approveVersion(MODULE, 1), council)
    d.send(f.activateVersion(MODULE, 1), council)
    return d


@contextmanager
def reverted_after(node: AnvilNode) -> Iterator[None]:
    """Undo every chain change made inside the block (evm_snapshot / evm_revert)."""
    snapshot = node.snapshot()
    try:
        yield
    finally:
        node.revert(snapshot)
