"""The append-only tree whose complete-subtree nodes live in a :class:`NodeStore`.

:class:`MerkleTree` keeps in memory only its size and its right edge; roots and proofs
for any earlier size are read from O(log n) stored nodes, never by rebuilding the
tree. :class:`MemoryNodeStore` keeps the nodes in lists; an audit log backs the
protocol with a database table ``(level, index, hash)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Protocol, runtime_checkable

from signing.errors import MerkleProofError, SigningError
from signing.merkle.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    check_hashes,
    complete_subtrees,
    extend_frontier,
    fold,
    frontier_of,
    node_hash,
)
from signing.merkle.proving import (
    check_consistency_sizes,
    check_sizes,
    consistency_ranges,
    path_ranges,
)

__all__ = ["MemoryNodeStore", "MerkleTree", "NodeStore"]


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
            node = node_hash(frontier[level], node)
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
        check_hashes(leaves, "leaf hashes")
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
        check_sizes(index, size, self._size)
        return [self._range_hash(lo, hi) for lo, hi in path_ranges(index, size)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """Consistency proof from size ``first`` to ``second`` (default: current)."""
        second = self._size if second is None else second
        check_consistency_sizes(first, second, self._size)
        return [self._range_hash(lo, hi) for lo, hi in consistency_ranges(first, second)]

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
