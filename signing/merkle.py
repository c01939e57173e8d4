"""RFC 6962 / RFC 9162 Merkle trees over SHA-256: hashes, proofs, verification.

Hashing (RFC 9162 §2.1.1): a leaf is ``SHA-256(0x00 ‖ data)``, an interior node
``SHA-256(0x01 ‖ left ‖ right)``, the empty tree ``SHA-256("")``. A tree of ``n``
leaves splits at the largest power of two below ``n``.

Three layers:

* ``leaf_hash`` / ``node_hash`` / ``root_of`` and the list-based
  ``inclusion_proof`` / ``consistency_proof`` work on a sequence of leaf hashes
  (O(n); good for a batch that is in memory anyway).
* ``verify_inclusion`` / ``verify_consistency`` check proofs with the semantics of
  the transparency-dev/merkle Go verifier (the reference the published vectors
  come from) and raise :class:`MerkleProofError` with the reason.
* :class:`MerkleTree` is append-only and keeps every complete subtree node in a
  :class:`NodeStore`; roots and proofs for any earlier size are read from
  O(log n) stored nodes, never by rebuilding the tree. :class:`MemoryNodeStore`
  keeps them in lists; an audit log can back the protocol with a database table
  ``(level, index, hash)``.

A node is addressed by ``(level, index)``: level 0 holds the leaf hashes, and node
``(level, index)`` is the root of the complete subtree over leaves
``[index·2^level, (index+1)·2^level)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Protocol, runtime_checkable

from .errors import MerkleProofError, SigningError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryNodeStore",
    "MerkleTree",
    "NodeStore",
    "complete_subtrees",
    "consistency_proof",
    "extend_frontier",
    "fold",
    "frontier_of",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf: ``SHA-256(0x00 ‖ data)``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


# --- which subtrees a proof is made of ---------------------------------------


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PATH(index, D[0:size]), bottom-up (RFC 9162 §2.1.3.1)."""
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """Leaf ranges of SUBPROOF(first, D[0:second], true), bottom-up (RFC 9162 §2.1.4.1)."""
    out: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def complete_subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` into complete subtrees ``(level, index)``, left to right.

    Every range a proof uses starts at a multiple of a power of two at least as
    large as the range, so the pieces are aligned nodes of the tree.
    """
    out: list[tuple[int, int]] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Root of a right-border chain of complete subtrees given left to right.

    With the hashes of :func:`complete_subtrees` ``(0, size)`` this is the root of the
    tree of ``size`` leaves.
    """
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _check_hashes(hashes: Iterable[bytes], what: str) -> None:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise MerkleProofError(f"{what}[{i}] is {len(h)} bytes; SHA-256 hashes are 32")


# --- trees held as a list of leaf hashes -------------------------------------


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root hash of the tree with these leaf hashes (``EMPTY_ROOT`` for none)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    _check_hashes(leaf_hashes, "leaf_hashes")
    nodes = list(leaf_hashes)
    while len(nodes) > 1:
        parents = [
            _sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(nodes[0::2], nodes[1::2], strict=False)
        ]
        if len(nodes) & 1:  # the last node is promoted unchanged (RFC 6962 split rule)
            parents.append(nodes[-1])
        nodes = parents
    return nodes[0]


def _check_sizes(index: int, size: int, available: int) -> None:
    if size > available:
        raise MerkleProofError(f"tree size {size} is larger than the {available} leaves known")
    if not 0 <= index < size:
        raise MerkleProofError(f"leaf index {index} is not below tree size {size}")


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
    _check_sizes(index, size, len(leaf_hashes))
    return [root_of(leaf_hashes[lo:hi]) for lo, hi in _path_ranges(index, size)]


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """Consistency proof from tree size ``first`` to ``second`` (0 < first ≤ second)."""
    _check_consistency_sizes(first, second, len(leaf_hashes))
    return [root_of(leaf_hashes[lo:hi]) for lo, hi in _consistency_ranges(first, second)]


def _check_consistency_sizes(first: int, second: int, available: int) -> None:
    if second > available:
        raise MerkleProofError(f"tree size {second} is larger than the {available} leaves known")
    if not 0 < first <= second:
        raise MerkleProofError(
            f"consistency proofs need 0 < first ≤ second; got first={first}, second={second}"
        )


# --- verification (transparency-dev/merkle semantics) ------------------------


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def _decomp_inclusion(index: int, size: int) -> tuple[int, int]:
    """Lengths of the inner and border parts of the inclusion proof of ``index``."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _match(calculated: bytes, expected: bytes, what: str) -> None:
    if len(expected) != HASH_SIZE:
        raise MerkleProofError(f"{what} is {len(expected)} bytes; SHA-256 hashes are 32")
    if calculated != expected:
        raise MerkleProofError(
            f"calculated {what} {calculated.hex()} does not match expected {expected.hex()}"
        )


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Raises :class:`MerkleProofError` naming the first thing that is wrong: an index
    outside the tree, a hash that is not 32 bytes, a proof of the wrong length, or a
    root that does not match.
    """
    if index < 0 or size < 0:
        raise MerkleProofError(f"index {index} and size {size} must not be negative")
    if index >= size:
        raise MerkleProofError(f"leaf index {index} is not below tree size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise MerkleProofError(f"leaf hash is {len(leaf_hash)} bytes; SHA-256 hashes are 32")
    inner, border = _decomp_inclusion(index, size)
    if len(proof) != inner + border:
        raise MerkleProofError(
            f"inclusion proof has {len(proof)} hashes; leaf {index} of a tree of "
            f"{size} needs {inner + border}"
        )
    _check_hashes(proof, "proof")
    calculated = _chain_border_right(_chain_inner(leaf_hash, proof[:inner], index), proof[inner:])
    _match(calculated, root, "root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of size ``second`` extends the tree of size ``first``.

    Follows RFC 9162 §2.1.4.2 as transparency-dev/merkle implements it: sizes must
    satisfy 0 < first ≤ second (a proof from the empty tree proves nothing and is
    refused); equal sizes need an empty proof and equal roots, compared as given.
    """
    if first < 0 or second < 0:
        raise MerkleProofError(f"sizes {first} and {second} must not be negative")
    if second < first:
        raise MerkleProofError(f"second size {second} is smaller than first size {first}")
    if first == 0:
        raise MerkleProofError("a consistency proof from the empty tree is meaningless")
    if first == second:
        if proof:
            raise MerkleProofError(f"sizes are equal but the proof has {len(proof)} hashes")
        if first_root != second_root:
            raise MerkleProofError("sizes are equal but the roots differ")
        return
    if not proof:
        raise MerkleProofError(f"empty consistency proof from size {first} to {second}")
    for what, root in (("first root", first_root), ("second root", second_root)):
        if len(root) != HASH_SIZE:
            raise MerkleProofError(f"{what} is {len(root)} bytes; SHA-256 hashes are 32")
    _check_hashes(proof, "proof")

    inner, border = _decomp_inclusion(first - 1, second)
    shift = ((first & -first).bit_length()) - 1  # trailing zeros of first
    inner -= shift
    # The proof starts with the root of the largest complete subtree that ends at
    # `first`, unless `first` is itself a power of two: then that root is first_root.
    if first == 1 << shift:
        seed, start = first_root, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise MerkleProofError(
            f"consistency proof has {len(proof)} hashes; sizes {first} → {second} "
            f"need {start + inner + border}"
        )
    rest = proof[start:]
    mask = (first - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _match(hash1, first_root, "first root")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    _match(hash2, second_root, "second root")


def frontier_of(size: int, node: Callable[[int, int], bytes]) -> dict[int, bytes]:
    """The right edge of a tree of ``size`` leaves: level → root of its complete subtree.

    One node per set bit of ``size``, read with ``node(level, index)``.
    """
    return {
        level: node(level, (size >> level) - 1)
        for level in range(size.bit_length())
        if (size >> level) & 1
    }


def extend_frontier(
    frontier: dict[int, bytes],
    size: int,
    leaves: list[bytes],
    emit: Callable[[int, int, list[bytes]], None],
) -> dict[int, bytes]:
    """Append leaf hashes to the tree of ``size`` leaves whose right edge is ``frontier``.

    Computes the new complete-subtree nodes level by level and hands each level's
    consecutive nodes to ``emit(level, start, hashes)`` (level 0: the leaves
    themselves); returns the new tree's frontier. The hashes are not checked: this is
    the one computation behind :meth:`MerkleTree.extend` and the audit writer's hot path.
    """
    if not leaves:
        return frontier
    end = size + len(leaves)
    new: dict[int, bytes] = {}
    sha = _sha256
    level, start, nodes = 0, size, leaves
    while nodes:
        emit(level, start, nodes)
        if (end >> level) & 1:
            new[level] = nodes[-1]
        pairs = [frontier[level], *nodes] if start & 1 else nodes
        nodes = [
            sha(_NODE_PREFIX + left + right).digest()
            for left, right in zip(pairs[0::2], pairs[1::2], strict=False)
        ]
        level += 1
        start >>= 1
    for lvl in range(level, end.bit_length()):
        if (end >> lvl) & 1:
            new[lvl] = frontier[lvl]
    return new


# --- the incremental tree ----------------------------------------------------


@runtime_checkable
class NodeStore(Protocol):
    """Where a :class:`MerkleTree` keeps its complete-subtree nodes.

    ``put_many`` receives ``(level, index, hash)`` triples in the order they were
    computed; each node is written once and never changes.
    """

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of node ``(level, index)``, or ``None`` if it is not stored."""
        ...

    def put_many(self, items: Iterable[tuple[int, int, bytes]]) -> None:
        """Store nodes ``(level, index, hash)``."""
        ...


class MemoryNodeStore:
    """A :class:`NodeStore` in lists, one per level (about 2·n hashes for n leaves)."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []

    def get(self, level: int, index: int) -> bytes | None:
        if level < len(self._levels):
            nodes = self._levels[level]
            if 0 <= index < len(nodes):
                return nodes[index]
        return None

    def put_many(self, items: Iterable[tuple[int, int, bytes]]) -> None:
        levels = self._levels
        for level, index, h in items:
            while level >= len(levels):
                levels.append([])
            nodes = levels[level]
            if index == len(nodes):
                nodes.append(h)
            elif index < len(nodes):
                if nodes[index] != h:
                    raise SigningError(
                        f"node ({level}, {index}) is already stored with another hash"
                    )
            else:
                raise SigningError(
                    f"node ({level}, {index}) written before node ({level}, {len(nodes)})"
                )


class MerkleTree:
    """An append-only RFC 6962 tree whose nodes live in a :class:`NodeStore`.

    The tree keeps in memory only its size and the "frontier": the roots of the
    complete subtrees along its right edge (one per set bit of the size). Roots and
    proofs for the current or any earlier size read O(log n) nodes from the store.
    To reopen a tree whose nodes are already stored, pass its ``size``.
    """

    def __init__(self, store: NodeStore | None = None, size: int = 0) -> None:
        self._store: NodeStore = store if store is not None else MemoryNodeStore()
        if size < 0:
            raise MerkleProofError(f"tree size {size} must not be negative")
        self._size = size
        self._frontier = frontier_of(size, self._node)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def store(self) -> NodeStore:
        """The node store this tree writes to."""
        return self._store

    def __len__(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise MerkleProofError(f"leaf hash is {len(leaf_hash)} bytes; SHA-256 hashes are 32")
        index = self._size
        frontier = self._frontier
        items = [(0, index, leaf_hash)]
        node, level, position = leaf_hash, 0, index
        while position & 1:  # a right child: fold in the left sibling from the frontier
            node = _sha256(_NODE_PREFIX + frontier[level] + node).digest()
            level += 1
            position >>= 1
            items.append((level, position, node))
        self._store.put_many(items)
        for merged in range(level):
            del frontier[merged]
        frontier[level] = node
        self._size = index + 1
        return index

    def extend(self, hashes: Iterable[bytes]) -> int:
        """Append leaf hashes; return the index of the first (the old size).

        Computes the new nodes level by level and writes them with one
        ``put_many`` call.
        """
        leaves = list(hashes)
        first = self._size
        if not leaves:
            return first
        _check_hashes(leaves, "leaf hashes")
        items: list[tuple[int, int, bytes]] = []

        def emit(level: int, start: int, nodes: list[bytes]) -> None:
            items.extend(zip(repeat(level), range(start, start + len(nodes)), nodes, strict=False))

        frontier = extend_frontier(self._frontier, first, leaves, emit)
        self._store.put_many(items)
        self._frontier = frontier
        self._size = first + len(leaves)
        return first

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree at ``size`` (default: the current size)."""
        if size is None or size == self._size:
            if self._size == 0:
                return EMPTY_ROOT
            return fold([self._frontier[lvl] for lvl in sorted(self._frontier, reverse=True)])
        if not 0 <= size <= self._size:
            raise MerkleProofError(f"tree size {size} is not within 0..{self._size}")
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of leaf ``index`` in the tree at ``size`` (default: current)."""
        size = self._size if size is None else size
        _check_sizes(index, size, self._size)
        return [self._range_hash(lo, hi) for lo, hi in _path_ranges(index, size)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """Consistency proof from size ``first`` to ``second`` (default: current)."""
        second = self._size if second is None else second
        _check_consistency_sizes(first, second, self._size)
        return [self._range_hash(lo, hi) for lo, hi in _consistency_ranges(first, second)]

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not 0 <= index < self._size:
            raise MerkleProofError(f"leaf index {index} is not below tree size {self._size}")
        return self._node(0, index)

    def _node(self, level: int, index: int) -> bytes:
        h = self._store.get(level, index)
        if h is None:
            raise SigningError(f"node store has no node ({level}, {index})")
        return h

    def _range_hash(self, lo: int, hi: int) -> bytes:
        return fold([self._node(level, index) for level, index in complete_subtrees(lo, hi)])
