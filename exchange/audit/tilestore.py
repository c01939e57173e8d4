"""The audit tree on disk beside the segments: one file of 32-byte hashes per level.

``<data>/audit/tiles/level-<k, 2 digits>`` holds the complete nodes of level ``k``,
node ``(k, i)`` at byte ``32·i``. Levels ``0, 8, 16, …`` *are* the C2SP tlog-tiles hash
tiles: tile ``(L, N)`` of width ``W`` is bytes ``[32·256·N, 32·(256·N + W))`` of level
``8·L``, full or partial, read with one ``pread`` (:meth:`FileNodeStore.tile`). The
levels between are kept as well (the tree's every complete node, twice the leaves in
all), so an inclusion or consistency proof reads one 32-byte hash per level and hashes
nothing: no table scan, no re-hashing of a tile.

The nodes are derived from the segments' leaves, so they are written without a sync
(``os.pwrite``, by the writer thread, ahead of the group's ``fdatasync``); readers only
ask for nodes below the committed size. :meth:`FileNodeStore.mark_synced` makes every
level durable and records the size they hold in ``synced``; after a crash the log
cuts every level back to that size and recomputes the rest from the segments
(:mod:`exchange.audit.recovery`), so a tile torn by a crash is never served.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

from exchange.audit.segments import crash_point
from signing.errors import SigningError
from signing.merkle import extend_frontier, frontier_of

__all__ = ["FileNodeStore", "TreeAppender", "tiles_dir"]

_LEVELS = 64
_SIZE = struct.Struct(">Q")


def tiles_dir(data_dir: Path) -> Path:
    return data_dir / "audit" / "tiles"


class FileNodeStore:
    """A :class:`signing.merkle.NodeStore` on the level files."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = tiles_dir(data_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self.reads = 0  # preads issued (for tests and the bench)
        self.writes = 0  # tile writes (crash tests count them)

    def _fd(self, level: int) -> int:
        fds = self._fds
        if level < len(fds):
            return fds[level]
        with self._lock:
            while len(fds) <= level:
                path = self.folder / f"level-{len(fds):02d}"
                fds.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        return fds[level]

    # -- NodeStore ------------------------------------------------
    def get(self, level: int, index: int) -> bytes | None:
        self.reads += 1
        found = os.pread(self._fd(level), 32, index << 5)
        return found if len(found) == 32 else None

    def put_many(self, items: Iterable[tuple[int, int, bytes]]) -> None:
        for level, idx, h in items:
            self.stage(level, idx, [h])

    def stage(self, level: int, start: int, hashes: list[bytes]) -> None:
        """Write consecutive nodes ``(level, start)``, ``(level, start + 1)``, …"""
        fd = self._fd(level)
        data = b"".join(hashes)
        if level == 0:
            self.writes += 1
            crash_point("tile-write")
        os.pwrite(fd, data, start << 5)

    # -- tiles ------------------------------------------------
    def tile(self, level: int, start: int, width: int) -> bytes:
        """``width`` consecutive hashes of ``level`` from node ``start`` (a C2SP hash tile)."""
        self.reads += 1
        return os.pread(self._fd(level), width << 5, start << 5)

    def count(self, level: int) -> int:
        """How many nodes of ``level`` the file holds."""
        return os.fstat(self._fd(level)).st_size >> 5

    # -- durability ------------------------------------------------
    def synced(self) -> int:
        """The tree size every level was last made durable at (0 if never)."""
        try:
            data = (self.folder / "synced").read_bytes()
        except FileNotFoundError:
            return 0
        return _SIZE.unpack(data)[0] if len(data) == _SIZE.size else 0

    def mark_synced(self, size: int) -> None:
        """Make every level durable, then record that they hold the tree of ``size``."""
        for fd in list(self._fds):
            os.fdatasync(fd)
        path = self.folder / "synced"
        temporary = path.with_suffix(".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _SIZE.pack(size))
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)

    def cut(self, size: int) -> None:
        """Cut every level back to the complete nodes of the tree of ``size`` leaves."""
        level = 0
        while True:
            path = self.folder / f"level-{level:02d}"
            if not path.exists() and level >= size.bit_length():
                return
            self._fd(level)
            os.ftruncate(self._fds[level], (size >> level) << 5)
            level += 1
            if level >= _LEVELS:
                return

    def close(self) -> None:
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds = []


class TreeAppender:
    """The right edge of the audit tree: extends it by leaf hashes, writing the new nodes.

    :func:`signing.merkle.extend_frontier` with the nodes going straight into the level
    files; the leaves are known to be SHA-256 digests, so they are not checked again.
    """

    def __init__(self, store: FileNodeStore, size: int) -> None:
        self.store = store
        self.size = size
        self._frontier = frontier_of(size, self._node)

    def _node(self, level: int, index: int) -> bytes:
        found = self.store.get(level, index)
        if found is None:
            raise SigningError(f"the tree's files have no node ({level}, {index})")
        return found

    def extend(self, leaves: list[bytes]) -> int:
        """Append leaf hashes, writing every new node; return the old size."""
        first = self.size
        self._frontier = extend_frontier(self._frontier, first, leaves, self.store.stage)
        self.size = first + len(leaves)
        return first
