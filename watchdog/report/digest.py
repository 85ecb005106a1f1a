"""The report's bytes and their hash: what is anchored on-chain and what a verifier recomputes."""

from __future__ import annotations

import json
from typing import Any

from eth_utils import keccak

__all__ = ["canonical_json", "report_hash"]


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: the same numbers always give the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def report_hash(data: bytes) -> str:
    """The report hash: keccak-256 of the JSON file's exact bytes, as 0x + 64 hex digits."""
    return "0x" + keccak(data).hex()
