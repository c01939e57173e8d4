"""Opening the audit log: segments, tree files and index brought level with each other.

The segments (:mod:`exchange.audit.segments`) are the system of record; the tree's
files (:mod:`exchange.audit.tilestore`) and the DuckDB index are derived from them.
:func:`recover` runs before the writer starts:

1. **Segments.** A group torn by a crash is cut off (it was never answered).
2. **Migration.** A store whose entries are only in DuckDB (written before the
   segments existed, or restored from a backup of the database) has them written into
   the segments once, in order, each checked against its stored leaf hash.
3. **Tree.** Every level file is cut back to the size they were last synced at and
   the rest is recomputed from the segments' leaves (a tile torn by a crash is never
   served). Files that were synced at a size the segments no longer reach mean
   entries were removed: the log opens closed.
4. **Index.** Entries the index lacks are indexed from the segments. A group written
   with transactional work (flag :data:`exchange.audit.segments.WORK`) commits its
   index row in the work's transaction, so a ``WORK`` entry without its index row is
   one whose work (the records of a ``publish``) never committed: it is indexed all
   the same — the log never loses an entry — and :func:`recover` returns its sequence
   number, for which the log appends an ``audit.void`` entry naming it. The sender was
   never answered and sends the batch again; nothing is lost, nothing is duplicated.
   An index holding entries beyond the segments' end opens the log closed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from exchange.audit.query import COLUMNS, entries_source, entry_from_row
from exchange.audit.segments import WORK, SegmentWriter, scan
from exchange.audit.tables import frame_of, insert_index
from exchange.audit.tilestore import FileNodeStore, TreeAppender
from exchange.store import Store
from signing.merkle import leaf_hash

__all__ = ["Recovered", "recover"]

_LOG = logging.getLogger("govex.audit")
RECOVER_BATCH = 65_536  # entries indexed in one transaction when the log opens
_BATCH = 8_192


@dataclass
class Recovered:
    """What opening found: sizes, and why the log must open closed (if it must)."""

    size: int = 0
    indexed: int = 0
    migrated: int = 0
    torn_bytes: int = 0
    rehashed: int = 0  # entries whose tree nodes were recomputed from the segments
    voided: list[int] = field(default_factory=list)
    failure: str | None = None


def recover(store: Store, segments: SegmentWriter, nodes: FileNodeStore) -> Recovered:
    """Bring the tree files and the index level with the segments (see the module)."""
    found = Recovered(torn_bytes=segments.torn)
    indexed = _indexed(store)
    if segments.size == 0 and indexed > 0:
        found.migrated = _migrate(store, segments, indexed)
        if found.migrated < 0:
            found.failure = "stored audit entries do not hash to their leaves; not migrated"
            return found
    size = found.size = segments.size
    synced = nodes.synced()
    if synced > size:
        found.failure = (
            f"the tree's files were synced at {synced} entries but the segments end at "
            f"{size}: entries were removed outside the exchange"
        )
        return found
    if indexed > size:
        found.failure = (
            f"the index holds {indexed} entries but the segments end at {size}: "
            "entries were removed outside the exchange"
        )
        return found
    if nodes.count(0) != synced or synced < size:
        found.rehashed = size - synced
        nodes.cut(synced)
        tree = TreeAppender(nodes, synced)
        sha = hashlib.sha256
        for group in scan(store.data_dir, synced):
            skip = max(0, synced - group.first)
            tree.extend([sha(d).digest() for d in group.leaves[skip:]])
    if synced != size:
        nodes.mark_synced(size)
    if indexed < size:
        found.voided = _index(store, indexed)
    found.indexed = size
    return found


def _indexed(store: Store) -> int:
    row = store.fetchone(
        "SELECT greatest(coalesce((SELECT max(seq) + 1 FROM audit_entries), 0), "
        "coalesce((SELECT max(end_seq) FROM audit_archives), 0))"
    )
    return int(row[0]) if row else 0


def _migrate(store: Store, segments: SegmentWriter, end: int) -> int:
    """Write the entries stored only in DuckDB into the segments; -1 if one is altered."""
    source, params = entries_source(store, archived=True)
    cur = store.cursor()
    result = cur.execute(
        f"SELECT {COLUMNS} FROM {source} ORDER BY seq",  # noqa: S608 - constants
        params,
    )
    expected = 0
    while batch := result.fetchmany(_BATCH):
        inputs = []
        for row in batch:
            stored = entry_from_row(row)
            data = b"\x00" + stored.entry.leaf_bytes_fast()
            if stored.entry.seq != expected or leaf_hash(data[1:]) != stored.leaf_hash:
                return -1
            inputs.append(data)
            expected += 1
        segments.write(inputs)
    if expected != end:
        return -1
    segments.sync()
    _LOG.info("audit log: %d entries moved from the database into segment files", end)
    return end


def _index(store: Store, indexed: int) -> list[int]:
    """Index the entries from ``indexed`` on; return the ``WORK`` entries never committed.

    In transactions of up to :data:`RECOVER_BATCH` entries (after a crash at a modest rate
    the segments' tail holds thousands of groups of one or two entries)."""
    voided: list[int] = []
    cur = store.cursor()
    datas: list[bytes] = []
    for group in scan(store.data_dir, indexed):
        datas += group.leaves[max(0, indexed - group.first) :]
        if group.flags & WORK:
            voided.extend(range(max(indexed, group.first), group.first + len(group.leaves)))
        if len(datas) >= RECOVER_BATCH:
            _index_entries(cur, datas)
            datas = []
    _index_entries(cur, datas)
    return voided


def _index_entries(cur: Any, datas: list[bytes]) -> None:
    if not datas:
        return
    sha = hashlib.sha256
    cur.begin()
    insert_index(cur, frame_of(datas, b"".join(sha(data).digest() for data in datas)))
    cur.commit()
