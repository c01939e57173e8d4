"""The audit log as C2SP tlog-tiles: hash tiles from the tree's files, entry bundles.

Hash tile ``(L, N)`` of width ``W`` is nodes ``(8·L, N·256 + i)``, ``i < W``, of the
tree the log keeps on disk (:mod:`exchange.audit.tilestore`): one ``pread`` of the
level file ``8·L``. A tile exists once the committed tree covers it:
full tiles never change and are kept in a small LRU; a partial tile of width ``W``
is served while the tree holds at least ``W`` hashes at its level (the same bytes
for every size that holds them).

An entry bundle holds each entry's leaf data (:meth:`exchange.audit.leaf.AuditEntry.leaf_bytes`,
the bytes its leaf hashes) as a big-endian uint16 length and the bytes; each entry is
checked against the tree's leaf hash before it is served, archived entries included.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from exchange.audit.log import AuditLog
from exchange.audit.query import COLUMNS, entries_source, entry_from_row
from exchange.errors import AuditUnavailable, NotFound
from schemas.errors import ErrorCode
from signing.merkle import leaf_hash
from signing.tiles import TILE_HEIGHT, TILE_WIDTH, Tile, encode_bundle

__all__ = ["LogTiles"]

_CACHED = 1024  # full hash tiles kept (8 KiB each)


class LogTiles:
    """Hash tiles and entry bundles of one audit log."""

    def __init__(self, log: AuditLog, *, cached: int = _CACHED) -> None:
        self.log = log
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cached = cached
        self._lock = threading.Lock()
        self.computed = 0  # tiles built from nodes (for tests)

    def _check(self, tile: Tile) -> None:
        level = max(tile.level, 0)
        end = (tile.index * TILE_WIDTH + tile.width) << (TILE_HEIGHT * level)
        if end > self.log.size:
            raise NotFound(
                f"{tile.path} is beyond the log's {self.log.size} entries",
                code=ErrorCode.NO_SUCH_TILE,
            )

    def hash_tile(self, tile: Tile) -> bytes:
        """The bytes of a hash tile (``32 · width``); :class:`NotFound` beyond the tree."""
        self._check(tile)
        key = (tile.level, tile.index)
        if tile.full:
            with self._lock:
                found = self._cache.get(key)
                if found is not None:
                    self._cache.move_to_end(key)
                    return found
        level = TILE_HEIGHT * tile.level
        data = self.log.nodes.tile(level, tile.index * TILE_WIDTH, tile.width)
        if len(data) != 32 * tile.width:
            raise AuditUnavailable(f"the audit tree's files lack {tile.path}")
        self.computed += 1
        if tile.full:
            with self._lock:
                self._cache[key] = data
                while len(self._cache) > self._cached:
                    self._cache.popitem(last=False)
        return data

    def entry_bundle(self, tile: Tile) -> bytes:
        """The entry bundle of level-0 tile ``tile.index``, ``tile.width`` entries."""
        self._check(tile)
        first = tile.index * TILE_WIDTH
        source, params = entries_source(self.log.store, archived=True)
        rows = self.log.store.fetchall(
            f"SELECT {COLUMNS} FROM {source} WHERE seq >= ? AND seq < ? ORDER BY seq",  # noqa: S608
            [*params, first, first + tile.width],
        )
        entries = [entry_from_row(row) for row in rows]
        if [e.entry.seq for e in entries] != list(range(first, first + tile.width)):
            raise NotFound(f"entries {first}..{first + tile.width - 1} are not all at hand")
        out = []
        for stored in entries:
            data = stored.entry.leaf_bytes()
            if leaf_hash(data) != self.log.nodes.get(0, stored.entry.seq):
                raise AuditUnavailable(
                    f"entry {stored.entry.seq} does not hash to its leaf in the tree"
                )
            out.append(data)
        return encode_bundle(out)
