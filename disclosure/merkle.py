"""The RFC 9162 (Certificate Transparency v2) Merkle tree over the audit log, §2.1.

Leaf hash SHA-256(0x00 ‖ entry), node hash SHA-256(0x01 ‖ left ‖ right), the tree of n leaves
split at the largest power of two smaller than n. `Tree` holds the hashes of every complete,
aligned subtree of a list of leaves (computed level by level, about n hashes in all), so the
root of any prefix and any inclusion or consistency proof within it costs O(log n) afterwards.
Verification (`verify_inclusion`, `verify_consistency`) follows §2.1.3.2 and §2.1.4.2 step by
step, with the edge cases of equal sizes and of the empty tree made explicit.

Memory: a `Tree` keeps about 64 bytes per leaf (32 for the leaves, 32 for the levels above).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from disclosure import errors

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 ‖ entry): the hash of one log entry as a leaf."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _next_level(level: bytes) -> bytes:
    """Hashes of the complete pairs of a level (concatenated 32-byte hashes)."""
    sha256 = hashlib.sha256
    pair = 2 * HASH_SIZE
    return b"".join(
        [
            sha256(_NODE_PREFIX + level[i : i + pair]).digest()
            for i in range(0, len(level) - pair + 1, pair)
        ]
    )


class Tree:
    """A Merkle tree over leaf hashes, answering for every prefix size up to `size`.

    Level j holds the hashes of the complete subtrees of 2**j leaves aligned at multiples
    of 2**j. Any node of the tree of a prefix is either such a subtree or a right-edge node,
    built from O(log n) of them.
    """

    __slots__ = ("_levels", "size")

    def __init__(self, leaf_hashes: bytes) -> None:
        """Build from the concatenated 32-byte leaf hashes, in index order."""
        if len(leaf_hashes) % HASH_SIZE:
            raise ValueError("leaf hashes are 32 bytes each")
        self.size = len(leaf_hashes) // HASH_SIZE
        levels = [bytes(leaf_hashes)]
        while len(levels[-1]) >= 2 * HASH_SIZE:
            levels.append(_next_level(levels[-1]))
        self._levels = levels

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> Tree:
        """The tree whose leaves are these entries."""
        return cls(b"".join(leaf_hash(entry) for entry in entries))

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        self._check_size(index + 1)
        return self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE]

    def leaf_hashes(self, start: int = 0, stop: int | None = None) -> bytes:
        """The leaf hashes of `start <= index < stop`, concatenated."""
        stop = self.size if stop is None else stop
        return self._levels[0][start * HASH_SIZE : stop * HASH_SIZE]

    def _perfect(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return self._levels[level][start : start + HASH_SIZE]

    def _subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a node [lo, hi) of some prefix tree (lo aligned, hi > lo)."""
        width = hi - lo
        if width & (width - 1) == 0 and lo % width == 0:
            return self._perfect(width.bit_length() - 1, lo // width)
        k = _split(width)
        return node_hash(self._subtree(lo, lo + k), self._subtree(lo + k, hi))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first `size` leaves (default all); SHA-256('') when empty."""
        size = self.size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf `index` in the tree of the first `size` leaves (§2.1.3.1)."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is outside a tree of size {size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._subtree(lo, lo + k))
                lo = lo + k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree of `old_size` leaves is a prefix of `new_size` (§2.1.4.1).

        Empty when the sizes are equal or `old_size` is 0 (nothing to prove).
        """
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is outside 0..{new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        m, lo, hi, complete = old_size, 0, new_size, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                proof.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._subtree(lo, lo + k))
                m, lo, complete = m - k, lo + k, False
        if not complete:
            proof.append(self._subtree(lo, hi))
        proof.reverse()
        return proof


class Accumulator:
    """The root of a growing log, leaf by leaf, in O(log n) memory.

    Keeps the compact range of the leaves so far: the roots of the complete subtrees that the
    binary digits of the size name, largest first.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), heights decreasing
        self.size = 0

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash."""
        height, value = 0, leaf
        stack = self._stack
        while stack and stack[-1][0] == height:
            value = node_hash(stack.pop()[1], value)
            height += 1
        stack.append((height, value))
        self.size += 1

    def root(self) -> bytes:
        """The root hash of the leaves so far."""
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    """The root hash over leaf hashes, in O(log n) memory."""
    accumulator = Accumulator()
    for leaf in leaf_hashes:
        accumulator.append(leaf)
    return accumulator.root()


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise errors.ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an inclusion proof of `leaf` at `index` implies (§2.1.3.2, steps 1 to 4)."""
    if not 0 <= index < size:
        raise errors.ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    fn, sn, r = index, size - 1, leaf
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
        if sn == 0:
            raise errors.ProofError("the inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise errors.ProofError("the inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check that `leaf` is at `index` of the tree of `size` leaves with `root_hash`.

    Raises `ProofError` saying what does not hold.
    """
    if root_from_inclusion_proof(index, size, leaf, proof) != root_hash:
        raise errors.ProofError(
            f"the inclusion proof of leaf {index} does not lead to the root of tree size {size}"
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree (`old_size`, `old_root`) is a prefix of (`new_size`, `new_root`).

    RFC 9162 §2.1.4.2 for 0 < old_size < new_size. Equal sizes need equal roots and an empty
    proof (and the empty tree's root is SHA-256 of nothing); nothing is consistent with a
    smaller tree, and a proof from the empty tree proves nothing, so it is refused.
    Raises `ProofError` saying what does not hold.
    """
    if old_size < 0 or new_size < old_size:
        raise errors.ProofError(f"tree size {new_size} is smaller than {old_size}")
    if old_size == new_size:
        _check_same_tree(old_size, old_root, new_root, proof)
        return
    if old_size == 0:
        raise errors.ProofError("a consistency proof from the empty tree proves nothing")
    if not proof:
        raise errors.ProofError("the consistency proof is empty")
    for position, p in enumerate(proof):
        _check_hash(p, f"proof hash {position}")
    fr, sr = _consistency_roots(old_size, new_size, old_root, proof)
    if fr != old_root:
        raise errors.ProofError(
            f"the consistency proof does not lead to the root of size {old_size}"
        )
    if sr != new_root:
        raise errors.ProofError(
            f"the consistency proof does not lead to the root of size {new_size}"
        )


def _check_same_tree(size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    if proof:
        raise errors.ProofError("equal tree sizes need an empty consistency proof")
    if old_root != new_root:
        raise errors.ProofError(f"two different roots for tree size {size}")
    if size == 0 and old_root != EMPTY_ROOT:
        raise errors.ProofError("the root of the empty tree is not SHA-256 of nothing")


def _consistency_roots(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """The (old, new) roots a consistency proof implies: §2.1.4.2 steps 2 to 6."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise errors.ProofError("the consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise errors.ProofError("the consistency proof is shorter than the tree is high")
    return fr, sr
