"""On-chain module ids.

A policy names each model's on-chain module either by a readable string, whose id is the keccak256 of its
UTF-8 bytes (``keccak256(bytes("lending-risk"))`` in Solidity), or directly as ``0x`` followed by 64 hex
digits.
"""

from __future__ import annotations

import re

__all__ = ["check_module", "module_id_bytes32", "module_id_hex"]

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")


def check_module(module: str) -> str | None:
    """Say what is wrong with a module reference, or None when it is usable."""
    if not module:
        return "must not be empty"
    if module[:2].lower() == "0x" and not _HEX32.fullmatch(module):
        return (
            f"{module!r} starts with 0x but is not 32 bytes of hex (0x + 64 hex digits); "
            "give the full bytes32 id or a plain name without 0x"
        )
    if module != module.strip():
        return f"{module!r} has leading or trailing spaces, which would change its keccak256 id"
    return None


def module_id_bytes32(module: str) -> bytes:
    """Return the 32-byte on-chain id of a module reference.

    Examples
    --------
    >>> module_id_bytes32("lending-risk").hex()
    '8d61c3afcfe716c6c97025d61bbb476206c46dcbccacb54c0684c30fa51e03a5'
    >>> module_id_bytes32("0x" + "ab" * 32) == bytes.fromhex("ab" * 32)
    True
    """
    problem = check_module(module)
    if problem is not None:
        raise ValueError(f"module {problem}")
    if _HEX32.fullmatch(module):
        return bytes.fromhex(module[2:])
    from eth_utils.crypto import keccak  # imported late: loading a policy should not pay for eth_utils

    return bytes(keccak(text=module))


def module_id_hex(module: str) -> str:
    """The module id as ``0x`` + 64 lowercase hex digits."""
    return "0x" + module_id_bytes32(module).hex()
