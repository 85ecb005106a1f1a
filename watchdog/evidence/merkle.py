"""A positional Merkle tree over keccak-256, with proofs: a public format, written out here in full.

Leaves and nodes are domain-separated, so a leaf can never pass for a node (the second-preimage attack on
naive Merkle trees)::

    leaf(data)  = keccak256(0x00 || data)                   data: the canonical bytes of one item
    node(l, r)  = keccak256(0x01 || l || r)                 l, r: 32-byte hashes, in positional order

The tree is *positional* (not sorted-pair): the leaves keep their order, and a proof also proves the
leaf's position. Each level pairs neighbours left to right; a level of odd length carries its last hash up
unchanged (it is not paired with itself, so a tree of n leaves has no duplicate of any leaf). The root of
one leaf is that leaf; there is no root of no leaves.

A proof of the leaf at ``index`` among ``size`` leaves is the list of sibling hashes from the leaf up to
the root, each with the side it stands on (``"L"``: the sibling is the left one). A level where the node
was carried up contributes nothing. As JSON::

    {"index": 3, "size": 7, "leaf": "0x..", "path": [["R", "0x.."], ["L", "0x.."], ...]}

:func:`verify_proof` folds the path from the leaf and compares with the root; it also checks that the sides
agree with ``index`` and ``size``, so a proof cannot claim another position.

>>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
>>> root = merkle_root(leaves)
>>> all(verify_proof(root, proof(leaves, i)) for i in range(5))
True
>>> verify_proof(root, {**proof(leaves, 2), "leaf": leaves[3].hex()})
False
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_utils import keccak

LEAF = b"\x00"
NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: keccak256(0x00 || data)."""
    return bytes(keccak(LEAF + data))


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: keccak256(0x01 || left || right)."""
    return bytes(keccak(NODE + left + right))


def _up(level: Sequence[bytes]) -> list[bytes]:
    nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])  # carried up unchanged
    return nxt


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over ``leaves`` (each already a :func:`leaf_hash`); ValueError when there are none."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf, got none")
    level = list(leaves)
    while len(level) > 1:
        level = _up(level)
    return level[0]


def proof(leaves: Sequence[bytes], index: int) -> dict[str, Any]:
    """The proof that ``leaves[index]`` is in the tree (JSON-ready, hashes as 0x-hex)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"index must be in 0..{len(leaves) - 1}, got {index}")
    path: list[list[str]] = []
    level, i = list(leaves), index
    while len(level) > 1:
        if i % 2 == 1:
            path.append(["L", "0x" + level[i - 1].hex()])
        elif i + 1 < len(level):
            path.append(["R", "0x" + level[i + 1].hex()])
        level, i = _up(level), i // 2
    return {"index": index, "size": len(leaves), "leaf": "0x" + leaves[index].hex(), "path": path}


def _sides(index: int, size: int) -> list[str]:
    """The sides a proof of ``index`` among ``size`` leaves must have, level by level."""
    out = []
    while size > 1:
        if index % 2 == 1:
            out.append("L")
        elif index + 1 < size:
            out.append("R")
        index, size = index // 2, (size + 1) // 2
    return out


def from_hex(h: str) -> bytes:
    """A 32-byte hash from its hex (with or without 0x); ValueError naming the value otherwise."""
    try:
        b = bytes.fromhex(h.removeprefix("0x"))
    except (ValueError, AttributeError):
        raise ValueError(f"a hash must be 32 bytes of hex, got {h!r}") from None
    if len(b) != 32:
        raise ValueError(f"a hash must be 32 bytes of hex, got {len(b)} bytes in {h!r}")
    return b


def verify_proof(root: bytes | str, prf: Mapping[str, Any]) -> bool:
    """Whether ``prf`` (see :func:`proof`) leads from its leaf to ``root``. A malformed proof is False."""
    try:
        want = from_hex(root) if isinstance(root, str) else root
        index, size = int(prf["index"]), int(prf["size"])
        h = from_hex(prf["leaf"])
        path = [(str(side), from_hex(sib)) for side, sib in prf["path"]]
    except (KeyError, TypeError, ValueError):
        return False
    if not 0 <= index < size or [s for s, _ in path] != _sides(index, size):
        return False
    for side, sib in path:
        h = node_hash(sib, h) if side == "L" else node_hash(h, sib)
    return h == want
