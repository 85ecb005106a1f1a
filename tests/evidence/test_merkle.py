"""The Merkle tree against a reference written out by hand, and its proofs: every position verifies, and
any change to a proof (leaf, sibling, side, position, size) is refused."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from watchdog.evidence.merkle import leaf_hash, merkle_root, node_hash, proof, verify_proof


def _leaf(i: int) -> bytes:
    return leaf_hash(f"record {i}".encode())


def test_hashes_are_domain_separated_keccak() -> None:
    assert leaf_hash(b"x") == keccak(b"\x00x")
    a, b = _leaf(0), _leaf(1)
    assert node_hash(a, b) == keccak(b"\x01" + a + b)
    assert node_hash(a, b) != node_hash(b, a)  # positional, not sorted-pair


def test_root_matches_a_tree_written_by_hand() -> None:
    l0, l1, l2, l3, l4 = (_leaf(i) for i in range(5))
    assert merkle_root([l0]) == l0
    assert merkle_root([l0, l1]) == node_hash(l0, l1)
    assert merkle_root([l0, l1, l2]) == node_hash(node_hash(l0, l1), l2)  # the odd one is carried up
    assert merkle_root([l0, l1, l2, l3]) == node_hash(node_hash(l0, l1), node_hash(l2, l3))
    assert merkle_root([l0, l1, l2, l3, l4]) == node_hash(node_hash(node_hash(l0, l1), node_hash(l2, l3)), l4)


def test_no_leaves_is_an_error_that_says_so() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle_root([])
    with pytest.raises(ValueError, match=r"index must be in 0\.\.2, got 3"):
        proof([_leaf(0), _leaf(1), _leaf(2)], 3)


@pytest.mark.parametrize("size", range(1, 18))
def test_every_position_proves_and_a_changed_proof_does_not(size: int) -> None:
    leaves = [_leaf(i) for i in range(size)]
    root = merkle_root(leaves)
    for i in range(size):
        prf = proof(leaves, i)
        assert verify_proof(root, prf)
        assert verify_proof("0x" + root.hex(), prf)
        assert not verify_proof(root, {**prf, "leaf": "0x" + _leaf(size + 1).hex()})
        if size > 1:
            assert not verify_proof(root, {**prf, "index": (i + 1) % size})  # another position
            side, sib = prf["path"][0]
            flipped = [["L" if side == "R" else "R", sib], *prf["path"][1:]]
            assert not verify_proof(root, {**prf, "path": flipped})
            changed = [[side, "0x" + _leaf(99).hex()], *prf["path"][1:]]
            assert not verify_proof(root, {**prf, "path": changed})


def test_a_malformed_proof_is_false_not_an_exception() -> None:
    leaves = [_leaf(i) for i in range(4)]
    root = merkle_root(leaves)
    assert not verify_proof(root, {"index": 0})
    assert not verify_proof(root, {**proof(leaves, 0), "leaf": "0x12"})
    assert not verify_proof("nothex", proof(leaves, 0))
