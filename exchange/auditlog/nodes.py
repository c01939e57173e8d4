"""The audit log's Merkle nodes in DuckDB: written with the entries, read in O(log n).

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

Writes are staged: :meth:`DuckNodeStore.put_many` (called by
:class:`signing.merkle.MerkleTree`) only buffers; :meth:`flush` inserts the buffer
with Arrow inside the writer's transaction, :meth:`promote` moves it into the caches
after the commit and :meth:`discard` drops it after a rollback, so readers only
ever see committed nodes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from exchange.store import Store

__all__ = ["INSERT_SQL", "DuckNodeStore", "node_id", "node_of"]

INSERT_SQL = "INSERT INTO audit_nodes SELECT id, hash FROM audit_nodes_batch"

_HASH = pa.binary(32)


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
        self._pending: list[tuple[int, int, bytes]] = []
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
        # not cached, or cached before this node was committed: read the block again
        return self._load_block(block).get(nid)

    def put_many(self, items: Iterable[tuple[int, int, bytes]]) -> None:
        self._pending.extend(items)

    # -- the writer's transaction -----------------------------------
    def take(self) -> list[tuple[int, int, bytes]]:
        """The nodes staged since the last call, in the order they were computed."""
        pending, self._pending = self._pending, []
        return pending

    @staticmethod
    def table(items: list[tuple[int, int, bytes]]) -> pa.Table:
        """Staged nodes as an Arrow table ``(id, hash)`` for :data:`INSERT_SQL`."""
        return pa.table(
            {
                "id": pa.array([(i << (lv + 1)) + (1 << lv) - 1 for lv, i, _ in items], pa.int64()),
                "hash": pa.array([h for _, _, h in items], _HASH),
            }
        )

    def flush(self, cur: duckdb.DuckDBPyConnection) -> list[tuple[int, int, bytes]]:
        """Insert the staged nodes through ``cur`` (inside its open transaction)."""
        items = self.take()
        if items:
            cur.register("audit_nodes_batch", self.table(items))
            try:
                cur.execute(INSERT_SQL)
            finally:
                cur.unregister("audit_nodes_batch")
        return items

    def promote(self, items: list[tuple[int, int, bytes]]) -> None:
        """After the commit: make these nodes visible to readers."""
        upper, span = self.upper, self._block_span
        with self._lock:
            position = len(items)
            # nodes come level by level: the upper ones are at the end
            while position and items[position - 1][0] >= upper:
                position -= 1
                level, idx, h = items[position]
                self._upper[node_id(level, idx)] = h
            if not self._blocks:
                return
            for level, idx, h in items[:position]:
                nid = node_id(level, idx)
                nodes = self._blocks.get(nid // span)
                if nodes is not None:
                    nodes[nid] = h

    def discard(self) -> None:
        """After a rollback: forget the staged nodes."""
        self._pending = []

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
