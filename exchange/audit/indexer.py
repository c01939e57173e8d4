"""The searchable index of the audit log: durable groups copied into DuckDB by one thread.

:class:`Indexer` is the part of :class:`exchange.audit.writer.GroupCommitWriter` that
fills ``audit_entries`` and ``audit_subjects`` from the groups the syncer made durable.
It trails the log by a bounded amount (:data:`INDEX_LAG_MAX`; the writer waits when the
lag passes it) and never holds up a caller: a caller is answered once its group is
durable in the segments. :meth:`Indexer.wait_indexed` is the read barrier: whoever
reads the audit tables first waits until they hold every committed entry.

The indexer gathers durable groups while they keep arriving, up to :data:`INDEX_BATCH`
entries (a pause of :data:`INDEX_DELAY_S` in the groups, :data:`INDEX_GATHER_S` gone by,
a waiting reader or the log closing ends the gathering), and inserts them in one
transaction. A gathered group holds its body as the segment holds it, its entries'
lengths and its leaf hashes (the callers' rows are let go once they are answered); the
transaction joins them into one table. DuckDB makes the rows from those bytes
(:func:`exchange.audit.tables.insert_index`: each entry's JSON read in C++, without the
interpreter lock), so the index's work per entry takes nothing from the event loop and
the appends. Under load the batch is at least one DuckDB row group (122,880 rows), which
DuckDB writes straight into its file: an index transaction of that size costs about half
the CPU per entry of one of 32,768 (measured), and the index keeps up with the appends
instead of holding them back.
"""

from __future__ import annotations

import queue
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import chain
from time import monotonic
from typing import TYPE_CHECKING

import duckdb

from exchange.audit.event import Row
from exchange.audit.tables import frame, insert_index, iso
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable
from exchange.store import Store

if TYPE_CHECKING:
    from exchange.audit.writer import Pending

__all__ = [
    "INDEX_BATCH",
    "INDEX_DELAY_S",
    "INDEX_GATHER_S",
    "INDEX_LAG_MAX",
    "Indexer",
    "Written",
    "iso",
]

INDEX_LAG_MAX = 262_144  # entries the index may trail the log by before appends wait
INDEX_BATCH = 131_072  # entries the indexer gathers for one transaction at most
INDEX_DELAY_S = 0.02  # a pause in the groups that ends its gathering
INDEX_GATHER_S = 2.0  # gathering ends after this long (at a modest rate: small batches)


@dataclass
class Written:
    """A group written to the segment: what the syncer and the indexer need of it."""

    group: list[Pending]
    first: int
    rows: list[Row]  # the callers' rows: let go once they are answered
    leaves: list[bytes]
    body: bytes  # the group's body as the segment holds it (each entry's length and data)
    lengths: list[int]  # of each entry's data in ``body``
    sync_s: float = 0.0
    count: int = field(init=False)  # entries (``rows`` is let go once answered)

    def __post_init__(self) -> None:
        self.count = len(self.rows)


POKE = object()  # put on the indexer's queue by a reader waiting for the index


def _entries(item: object) -> int:
    return item.count if isinstance(item, Written) else 0


class Indexer:
    """The index half of the group-commit writer (its base class): the indexer thread,
    the lag and the read barrier."""

    store: Store
    settings: AuditSettings
    _failure: BaseException | None
    _size: int
    _own: threading.local

    def _init_index(self, indexed: int) -> None:
        self._indexed = indexed  # entries the DuckDB index holds
        self._index_cond = threading.Condition()
        self._waiters = 0  # threads waiting for the index (it then gathers no longer)
        self._to_index: queue.Queue[Written | object | None] = queue.Queue()

    def _fail(self, exc: BaseException, group: list[Pending]) -> None:
        """Close the log (the writer's)."""
        raise NotImplementedError

    def _after_index(self, indexed: int) -> None:
        """Called on the indexer thread after each index transaction (the writer's)."""

    @property
    def indexed(self) -> int:
        """How many entries the DuckDB index holds (the first ``indexed``)."""
        return self._indexed

    @property
    def index_lag(self) -> int:
        """Durable entries not yet in the index (searches do not see them yet)."""
        return max(0, self._size - self._indexed)

    def wait_indexed(self, size: int | None = None, timeout: float = 60.0) -> None:
        """Wait until the index holds the first ``size`` entries (default: every durable one).

        The read barrier of the audit tables; a no-op on the log's own threads.
        """
        if getattr(self._own, "writer", False):
            return
        target = self._size if size is None else size
        if self._indexed >= target:
            return
        with self._index_cond:
            self._waiters += 1
            self._to_index.put(POKE)  # someone waits: the indexer stops gathering
            try:
                self._index_cond.wait_for(
                    lambda: self._indexed >= target or self._failure is not None, timeout
                )
            finally:
                self._waiters -= 1

    def _set_indexed(self, indexed: int) -> None:
        with self._index_cond:
            self._indexed = indexed
            self._index_cond.notify_all()

    def _wait_for_index(self, size: int) -> None:
        """Wait (a writer's thread) until the index holds the first ``size`` entries."""
        with self._index_cond:
            self._waiters += 1
            self._to_index.put(POKE)  # the indexer stops gathering
            try:
                self._index_cond.wait_for(
                    lambda: self._indexed >= size or self._failure is not None
                )
            finally:
                self._waiters -= 1

    # -- the indexer thread ------------------------------------------------
    def _index_loop(self) -> None:
        self._own.writer = True
        cur = self.store.cursor()
        while True:
            batch = self._gather()
            groups = [g for g in batch if isinstance(g, Written) and g.count]
            if groups and self._failure is None:
                try:
                    self._index(cur, groups)
                except BaseException as exc:
                    with suppress(duckdb.Error):
                        cur.rollback()
                    self._fail(exc, [])
                else:
                    self._after_index(self._indexed)
            if batch[-1] is None:
                return

    def _gather(self) -> list[Written | object | None]:
        """Durable groups for one index transaction: while they keep arriving (a gap of
        :data:`INDEX_DELAY_S` ends the gathering), for at most :data:`INDEX_GATHER_S`, up
        to :data:`INDEX_BATCH` entries, so that under load the index takes little from the
        appends and at a modest rate it trails by seconds, not minutes; at once when a
        reader waits (a poke) or the log closes."""
        source = self._to_index
        batch: list[Written | object | None] = [source.get()]
        entries = _entries(batch[-1])
        until = monotonic() + INDEX_GATHER_S
        while batch[-1] is not None and batch[-1] is not POKE and entries < INDEX_BATCH:
            if self._waiters or monotonic() > until:
                break
            try:
                item = source.get(timeout=INDEX_DELAY_S)
            except queue.Empty:
                break
            batch.append(item)
            entries += _entries(item)
        return batch

    def _index(self, cur: duckdb.DuckDBPyConnection, groups: list[Written]) -> None:
        """One transaction: every gathered group's entries in one table (their bodies and
        leaf hashes joined; a table per group would cost Python time per group, and at a
        modest rate a batch holds thousands of groups of one or two entries)."""
        table = frame(
            b"".join(g.body for g in groups),
            list(chain.from_iterable(g.lengths for g in groups)),
            b"".join(chain.from_iterable(g.leaves for g in groups)),
        )
        cur.begin()
        insert_index(cur, table)
        cur.commit()
        for g in groups:  # indexed: their bytes are in the segments and the index
            g.body, g.lengths, g.leaves = b"", [], []
        last = groups[-1]
        self._set_indexed(last.first + last.count)

    def _unavailable(self) -> AuditUnavailable:
        return AuditUnavailable(f"audit log is unavailable ({self._failure})")
