"""The audit log's Merkle nodes in DuckDB: written with or soon after the entries.

A node ``(level, idx)`` is stored under its *in-order* id
``idx · 2^(level+1) + 2^level − 1``: leaves get the even ids, and the nodes of any
complete subtree occupy one contiguous id range. Appends write ids in nearly
increasing order, so DuckDB zone maps answer a range without an index.

Reads go through two caches:

* every node at level ≥ ``upper`` (1 in 2^upper of the tree, a few MB at 10M
  leaves) is kept in memory, loaded once when the log opens;
* the lower nodes are read a *block* at a time (the complete subtree of height
  ``upper`` around the node asked for, one range query) into a small LRU.

An inclusion proof at any size therefore needs at most one query, usually none.

Writes are staged: :class:`TreeAppender` (the audit writer's right edge of the tree)
and :meth:`DuckNodeStore.put_many` (called by :class:`signing.merkle.MerkleTree`) only
buffer ``(id, hash)`` columns; :meth:`DuckNodeStore.flush` inserts the buffer with
Arrow inside the writer's transaction, :meth:`DuckNodeStore.promote` moves it into the
caches after the commit and :meth:`DuckNodeStore.discard` drops it after a rollback, so
readers only ever see committed nodes. A commit may also leave its nodes out of the
table (:meth:`DuckNodeStore.defer`): readers then find them in memory until a later
transaction writes them (:meth:`DuckNodeStore.unwritten`, :meth:`DuckNodeStore.written`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from exchange.store import Store
from signing.errors import SigningError
from signing.merkle import extend_frontier, frontier_of

__all__ = ["INSERT_SQL", "DuckNodeStore", "Staged", "TreeAppender", "node_id", "node_of"]

INSERT_SQL = "INSERT INTO audit_nodes SELECT id, hash FROM audit_nodes_batch"

_HASH = pa.binary(32)

Staged = tuple[list[int], list[bytes]]
"""Nodes staged for one transaction: their in-order ids and hashes, level by level."""


def node_id(level: int, idx: int) -> int:
    """In-order id of node ``(level, idx)``."""
    return (idx << (level + 1)) + (1 << level) - 1


def node_of(nid: int) -> tuple[int, int]:
    """``(level, idx)`` of an in-order id (its level is the count of trailing 1 bits)."""
    level = ((nid + 1) & -(nid + 1)).bit_length() - 1
    return level, nid >> (level + 1)


class DuckNodeStore:
    """A :class:`signing.merkle.NodeStore` on the ``audit_nodes`` table."""

    def __init__(self, store: Store, *, upper: int = 8, blocks: int = 256) -> None:
        self.store = store
        self.upper = upper
        self._block_span = 1 << (upper + 1)  # ids per block (one unused: the block root)
        self._max_blocks = blocks
        self._upper: dict[int, bytes] = {}
        self._blocks: OrderedDict[int, dict[int, bytes]] = OrderedDict()
        self._ids: list[int] = []
        self._hashes: list[bytes] = []
        self._unwritten: dict[int, bytes] = {}  # committed, not yet in the table
        self._lock = threading.Lock()
        self.reads = 0  # range queries issued (for tests and the bench)
        mask = (1 << upper) - 1
        rows = store.fetchall(
            f"SELECT id, hash FROM audit_nodes WHERE (id + 1) & {mask} = 0"  # noqa: S608
        )
        self._upper = {int(i): bytes(h) for i, h in rows}

    # -- NodeStore ------------------------------------------------
    def get(self, level: int, index: int) -> bytes | None:
        nid = node_id(level, index)
        if level >= self.upper:
            return self._upper.get(nid)
        block = nid // self._block_span
        with self._lock:
            nodes = self._blocks.get(block)
            if nodes is not None:
                self._blocks.move_to_end(block)
                found = nodes.get(nid)
                if found is not None:
                    return found
        found = self._unwritten.get(nid)
        if found is not None:
            return found
        # not cached, or cached before this node was committed: read the block again
        return self._load_block(block).get(nid)

    def put_many(self, items: Iterable[tuple[int, int, bytes]]) -> None:
        for level, idx, h in items:
            self._ids.append((idx << (level + 1)) + (1 << level) - 1)
            self._hashes.append(h)

    def stage(self, level: int, start: int, hashes: list[bytes]) -> None:
        """Stage consecutive nodes ``(level, start)``, ``(level, start + 1)``, …"""
        step = 1 << (level + 1)
        first = start * step + (1 << level) - 1
        self._ids.extend(range(first, first + step * len(hashes), step))
        self._hashes.extend(hashes)

    # -- the writer's transaction -----------------------------------
    def take(self) -> Staged:
        """The nodes staged since the last call, in the order they were computed."""
        staged = (self._ids, self._hashes)
        self._ids, self._hashes = [], []
        return staged

    @staticmethod
    def table(staged: Staged) -> pa.Table:
        """Staged nodes as an Arrow table ``(id, hash)`` for :data:`INSERT_SQL`."""
        ids, hashes = staged
        return pa.table({"id": pa.array(ids, pa.int64()), "hash": pa.array(hashes, _HASH)})

    def flush(self, cur: duckdb.DuckDBPyConnection) -> Staged:
        """Insert the staged nodes through ``cur`` (inside its open transaction)."""
        staged = self.take()
        if staged[0]:
            cur.register("audit_nodes_batch", self.table(staged))
            try:
                cur.execute(INSERT_SQL)
            finally:
                cur.unregister("audit_nodes_batch")
        return staged

    def promote(self, staged: Staged) -> None:
        """After the commit: make these nodes visible to readers."""
        ids, hashes = staged
        mask, span = (1 << self.upper) - 1, self._block_span
        with self._lock:
            position = len(ids)
            # nodes come level by level: the upper ones are at the end
            while position and (ids[position - 1] + 1) & mask == 0:
                position -= 1
                self._upper[ids[position]] = hashes[position]
            if not self._blocks:
                return
            for nid, h in zip(ids[:position], hashes[:position], strict=True):
                nodes = self._blocks.get(nid // span)
                if nodes is not None:
                    nodes[nid] = h

    def defer(self, staged: Staged) -> None:
        """After a commit that did not write these nodes: keep them until :meth:`unwritten`
        is written. They are derived from the committed entries' leaf hashes, so a crash
        loses nothing: the log rebuilds them when it opens."""
        self._unwritten.update(zip(*staged, strict=True))

    @property
    def backlog(self) -> int:
        """How many committed nodes are not yet written to the table."""
        return len(self._unwritten)

    def unwritten(self, staged: Staged) -> Staged:
        """Every committed node not yet written, then ``staged``: one table's worth."""
        if not self._unwritten:
            return staged
        ids, hashes = zip(*self._unwritten.items(), strict=True)
        return [*ids, *staged[0]], [*hashes, *staged[1]]

    def written(self, staged: Staged) -> None:
        """After the commit that wrote ``staged``: readers find them in the table now."""
        if self._unwritten:
            unwritten = self._unwritten
            for nid in staged[0]:
                unwritten.pop(nid, None)

    def discard(self) -> None:
        """After a rollback: forget the staged nodes."""
        self._ids, self._hashes = [], []

    # -- reads ------------------------------------------------
    def _load_block(self, block: int) -> dict[int, bytes]:
        lo = block * self._block_span
        rows = (
            self.store.cursor()
            .execute(
                "SELECT id, hash FROM audit_nodes WHERE id BETWEEN ? AND ?",
                [lo, lo + self._block_span - 2],
            )
            .fetchall()
        )
        self.reads += 1
        nodes = {int(i): bytes(h) for i, h in rows}
        with self._lock:
            self._blocks[block] = nodes
            self._blocks.move_to_end(block)
            while len(self._blocks) > self._max_blocks:
                self._blocks.popitem(last=False)
        return nodes

    def leaf_count(self) -> int:
        """Number of leaves stored (the tree size the table holds)."""
        row = self.store.fetchone("SELECT max(id) FROM audit_nodes WHERE id % 2 = 0")
        return 0 if row is None or row[0] is None else int(row[0]) // 2 + 1


class TreeAppender:
    """The right edge of the audit tree: extends it by leaf hashes, staging the new nodes.

    :func:`signing.merkle.extend_frontier` (the computation behind
    :meth:`signing.merkle.MerkleTree.extend`) with the nodes going straight into the
    store's ``(id, hash)`` columns (ids from a ``range``, no tuple per node); the leaves
    are known to be SHA-256 digests, so they are not checked again.
    """

    def __init__(self, store: DuckNodeStore, size: int) -> None:
        self.store = store
        self.size = size
        self._frontier = frontier_of(size, self._node)

    def _node(self, level: int, index: int) -> bytes:
        found = self.store.get(level, index)
        if found is None:
            raise SigningError(f"node store has no node ({level}, {index})")
        return found

    def extend(self, leaves: list[bytes]) -> int:
        """Append leaf hashes, staging every new node; return the old size."""
        first = self.size
        self._frontier = extend_frontier(self._frontier, first, leaves, self.store.stage)
        self.size = first + len(leaves)
        return first
