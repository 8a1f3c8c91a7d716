"""Properties of the Merkle tree: it agrees with RFC 9162's recursive definitions, and every
proof it makes verifies while every altered proof, root or leaf is rejected."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure import errors, merkle


def _mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 §2.1.1 defines it (over leaf hashes)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 §2.1.3.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _leaves(count: int, salt: int = 0) -> list[bytes]:
    return [merkle.leaf_hash(f"entry {salt}:{i}".encode()) for i in range(count)]


logs = st.integers(min_value=0, max_value=70).map(_leaves)


def test_known_roots() -> None:
    # RFC 6962 / 9162 reference: the empty tree and a one-leaf tree of the empty entry.
    assert merkle.Tree(b"").root().hex() == hashlib.sha256(b"").hexdigest()
    assert merkle.Tree.from_entries([b""]).root().hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@settings(max_examples=60, deadline=None)
@given(logs)
def test_roots_of_every_prefix_match_the_definition(leaves: list[bytes]) -> None:
    tree = merkle.Tree(b"".join(leaves))
    for size in range(len(leaves) + 1):
        assert tree.root(size) == _mth(leaves[:size])
    assert merkle.root(leaves) == _mth(leaves)


@settings(max_examples=40, deadline=None)
@given(logs)
def test_every_inclusion_proof_verifies(leaves: list[bytes]) -> None:
    tree = merkle.Tree(b"".join(leaves))
    for size in range(1, len(leaves) + 1):
        root = tree.root(size)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == _path(index, leaves[:size])
            merkle.verify_inclusion(index, size, leaves[index], proof, root)


@settings(max_examples=40, deadline=None)
@given(logs)
def test_every_consistency_proof_verifies(leaves: list[bytes]) -> None:
    tree = merkle.Tree(b"".join(leaves))
    for new in range(len(leaves) + 1):
        for old in range(1, new + 1):
            proof = tree.consistency_proof(old, new)
            if old < new:
                assert proof == _subproof(old, leaves[:new], True)
            merkle.verify_consistency(old, new, tree.root(old), tree.root(new), proof)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=64), st.data())
def test_an_altered_inclusion_proof_is_rejected(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    tree = merkle.Tree(b"".join(leaves))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index)
    root = tree.root()
    position = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    altered = list(proof)
    altered[position] = bytes(
        b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(proof[position])
    )
    with pytest.raises(errors.ProofError):
        merkle.verify_inclusion(index, size, leaves[index], altered, root)
    with pytest.raises(errors.ProofError):
        merkle.verify_inclusion(index, size, leaves[index], proof[:-1], root)
    with pytest.raises(errors.ProofError):
        merkle.verify_inclusion(index, size, leaves[index], [*proof, proof[0]], root)
    other = (index + 1) % size
    with pytest.raises(errors.ProofError):
        merkle.verify_inclusion(other, size, leaves[index], proof, root)
    with pytest.raises(errors.ProofError):
        merkle.verify_inclusion(index, size, leaves[other], proof, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=64), st.data())
def test_a_consistency_proof_to_another_log_is_rejected(size: int, data: st.DataObject) -> None:
    old = data.draw(st.integers(1, size - 1))
    leaves = _leaves(size)
    tree = merkle.Tree(b"".join(leaves))
    proof = tree.consistency_proof(old)
    # A log that differs in one entry before `old` has another root at `old`.
    changed = data.draw(st.integers(0, old - 1))
    forked = list(leaves)
    forked[changed] = merkle.leaf_hash(b"forged")
    other = merkle.Tree(b"".join(forked))
    with pytest.raises(errors.ProofError):
        merkle.verify_consistency(old, size, other.root(old), tree.root(), proof)
    with pytest.raises(errors.ProofError):
        merkle.verify_consistency(old, size, tree.root(old), other.root(), proof)
    with pytest.raises(errors.ProofError):
        merkle.verify_consistency(old, size, tree.root(old), tree.root(), proof[:-1])


def test_proofs_outside_the_tree_are_refused() -> None:
    tree = merkle.Tree(b"".join(_leaves(5)))
    with pytest.raises(ValueError, match="outside"):
        tree.inclusion_proof(5)
    with pytest.raises(ValueError, match="outside"):
        tree.root(6)
    with pytest.raises(ValueError, match="outside"):
        tree.consistency_proof(6, 5)
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.Tree(b"x" * 33)
