"""RFC 9162 Merkle tree: hashes, roots, inclusion and consistency proofs, and their checks.

Pure functions, no storage. A tree is read through ``Nodes``: the hash of a perfect subtree
given by its level (0 = leaves) and its index at that level. The log stores exactly those
nodes as leaves arrive (see ``append``), so a root or a proof reads O(log n) hashes and
nothing is ever recomputed from the first leaf.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Nodes = Callable[[int, int], bytes]  # (level, index) -> hash of that perfect subtree


class ProofError(ValueError):
    """A proof does not check out (wrong shape, wrong size or wrong root)."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# ----- the frontier: what appending needs ----------------------------------------------------

def append(frontier: Sequence[bytes], size: int, hashed_leaf: bytes
           ) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Add one leaf hash to a tree of ``size`` leaves.

    ``frontier`` holds the roots of the perfect subtrees making up the tree, largest first
    (one per set bit of ``size``). Returns the new frontier and the perfect-subtree nodes that
    became complete, (level, index, hash), the leaf itself included.
    """
    if len(frontier) != bin(size).count("1"):
        raise ValueError("frontier does not match the tree size")
    f = list(frontier)
    h, level, index = hashed_leaf, 0, size
    made = [(0, size, h)]
    while index & 1:
        h = node_hash(f.pop(), h)
        level += 1
        index >>= 1
        made.append((level, index, h))
    f.append(h)
    return f, made


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r


# ----- roots and proofs from stored nodes ----------------------------------------------------

def subtree_root(nodes: Nodes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion produces (start aligned)."""
    n = end - start
    if n <= 0:
        raise ValueError("empty range")
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return nodes(level, start >> level)
    k = _split(n)
    return node_hash(subtree_root(nodes, start, start + k), subtree_root(nodes, start + k, end))


def root(nodes: Nodes, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_root(nodes, 0, size)


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1, nearest sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(subtree_root(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_root(nodes, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(nodes: Nodes, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[new]) of RFC 9162 section 2.1.4.1."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    if old in (0, new):
        return []
    return _subproof(nodes, old, 0, new, True)


def _subproof(nodes: Nodes, m: int, start: int, end: int, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [subtree_root(nodes, start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof(nodes, m, start, start + k, complete),
                subtree_root(nodes, start + k, end)]
    return _subproof(nodes, m - k, start + k, end, False) + [subtree_root(nodes, start, start + k)]


# ----- verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ----------------------------------

def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError("a hash is not 32 bytes")


def root_from_inclusion(index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size}")
    _check_hashes(hashed_leaf, *proof)
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn != 0 and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is too short")
    return r


def verify_inclusion(index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> None:
    if root_from_inclusion(index, size, hashed_leaf, proof) != expected_root:
        raise ProofError("the inclusion proof leads to a different root")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    if not 0 <= old <= new:
        raise ProofError(f"a tree of {new} cannot extend a tree of {old}")
    if old == new:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need equal roots and an empty proof")
        return
    if old == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the proof is empty")
    _check_hashes(old_root, new_root, *proof)
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn != 0 and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is too short")
    if fr != old_root or sr != new_root:
        raise ProofError("the consistency proof leads to different roots")


class MemoryTree:
    """A whole tree in memory, built by appending (for verification runs and tests)."""

    def __init__(self) -> None:
        self.size = 0
        self.frontier: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}

    def append_hash(self, hashed_leaf: bytes) -> None:
        self.frontier, made = append(self.frontier, self.size, hashed_leaf)
        self.size += 1
        for level, index, h in made:
            self.nodes[(level, index)] = h

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def root(self, size: int | None = None) -> bytes:
        return frontier_root(self.frontier) if size is None else root(self.node, size)
