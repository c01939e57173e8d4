"""The searchable index of the audit log: durable groups copied into DuckDB by one thread.

:class:`Indexer` is the part of :class:`exchange.audit.writer.GroupCommitWriter` that
fills ``audit_entries`` and ``audit_subjects`` from the groups the syncer made durable.
It trails the log by a bounded amount (:data:`INDEX_LAG_MAX`; the writer waits when the
lag passes it) and never holds up a caller: a caller is answered once its group is
durable in the segments. :meth:`Indexer.wait_indexed` is the read barrier: whoever
reads the audit tables first waits until they hold every committed entry.

The indexer gathers durable groups while they keep arriving, up to :data:`INDEX_BATCH`
entries (a pause of :data:`INDEX_DELAY_S` in the groups, :data:`INDEX_GATHER_S` gone by,
a waiting reader or the log closing ends the gathering), and inserts them as one Arrow
table in one transaction. Under load the batch is at least one DuckDB row group (122,880
rows), which DuckDB writes straight into its file: an index transaction of that size
costs about half the CPU per entry of one of 32,768 (measured), and the index keeps up
with the appends instead of holding them back.
"""

from __future__ import annotations

import queue
import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from time import monotonic
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from exchange.audit.event import ROW_COLUMNS, SUBJECTS, TABLE_COLUMNS, Row
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
    "batch_tables",
    "entries_table",
    "iso",
    "subjects_table",
]

INDEX_LAG_MAX = 262_144  # entries the index may trail the log by before appends wait
INDEX_BATCH = 131_072  # entries the indexer gathers for one transaction at most
INDEX_DELAY_S = 0.02  # a pause in the groups that ends its gathering
INDEX_GATHER_S = 2.0  # gathering ends after this long (at a modest rate: small batches)

_TS = pa.timestamp("us", tz="UTC")
_HASH = pa.binary(32)
_PERSON = ROW_COLUMNS.index("person")  # the one caller column after the leaf hash


def iso(ts: datetime) -> str:
    """An entry's ``ts`` text: RFC 3339 UTC with microseconds."""
    return ts.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Written:
    """A group written to the segment: what the syncer and the indexer need of it."""

    group: list[Pending]
    first: int
    rows: list[Row]
    leaves: list[bytes]
    now: datetime
    sync_s: float = 0.0
    # the times of the group's runs of entries (count, time) when its calls brought their
    # own (a cluster's replica: each message its publisher's), else None: all ``now``
    runs: list[tuple[int, datetime]] | None = None

    def entries(self) -> pa.Table:
        """The group's ``audit_entries`` rows, each with its leaf's time."""
        return entries_table(self.first, self.rows, self.leaves, self.now, self.runs)


def entries_table(
    first: int,
    rows: list[Row],
    leaves: list[bytes],
    now: datetime,
    runs: list[tuple[int, datetime]] | None = None,
) -> pa.Table:
    """``audit_entries`` rows of a group whose first entry is ``first``, written at ``now``
    (or its runs of entries each at its own time: ``runs`` of (count, time))."""
    n = len(rows)
    columns = list(zip(*rows, strict=True))
    text = pa.string()
    if runs is None:
        micros = [int(now.timestamp()) * 1_000_000 + now.microsecond] * n
        texts = [iso(now)] * n
    else:
        micros, texts = [], []
        for count, when in runs:
            micros += [int(when.timestamp()) * 1_000_000 + when.microsecond] * count
            texts += [iso(when)] * count
    return pa.Table.from_arrays(
        [
            pa.array(range(first, first + n), pa.int64()),
            pa.array(micros, pa.int64()).cast(_TS),
            *(pa.array(columns[i], text) for i in range(_PERSON)),
            pa.array(leaves, _HASH),
            pa.array(texts, text),
            pa.array(columns[_PERSON], text),
        ],
        names=list(TABLE_COLUMNS),
    )


def subjects_table(first: int, rows: list[Row]) -> pa.Table | None:
    """``audit_subjects`` rows (seq, subject_hash) of a group's further subjects."""
    seqs: list[int] = []
    hashes: list[str] = []
    for seq, row in enumerate(rows, start=first):
        found = row[SUBJECTS]
        if found:
            seqs.extend([seq] * len(found))
            hashes.extend(found)
    if not seqs:
        return None
    return pa.table(
        {"seq": pa.array(seqs, pa.int64()), "subject_hash": pa.array(hashes, pa.string())}
    )


def batch_tables(groups: list[Written]) -> tuple[pa.Table, pa.Table | None]:
    """The ``audit_entries`` and ``audit_subjects`` rows of a batch of groups, one table
    each. At a modest rate a batch holds thousands of groups of a few entries, and a
    table per group cost more than its rows: the indexer held the GIL for a second at a
    time, and the requests waiting for their audit entries with it."""
    first = groups[0].first
    rows: list[Row] = []
    leaves: list[bytes] = []
    runs: list[tuple[int, datetime]] = []
    for g in groups:
        if g.first != first + len(rows):  # not consecutive (never seen): a table per group
            tables = [g.entries() for g in groups]
            further = [t for g in groups if (t := subjects_table(g.first, g.rows)) is not None]
            return pa.concat_tables(tables), pa.concat_tables(further) if further else None
        rows += g.rows
        leaves += g.leaves
        runs += g.runs if g.runs is not None else [(len(g.rows), g.now)]
    return entries_table(first, rows, leaves, groups[0].now, runs), subjects_table(first, rows)


POKE = object()  # put on the indexer's queue by a reader waiting for the index


def _entries(item: object) -> int:
    return len(item.rows) if isinstance(item, Written) else 0


class Indexer:
    """The index half of the group-commit writer (its base class): the indexer thread,
    the lag and the read barrier."""

    store: Store
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
            groups = [g for g in batch if isinstance(g, Written) and g.rows]
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
        entries, further = batch_tables(groups)
        cur.begin()
        cur.from_arrow(entries).insert_into("audit_entries")
        if further is not None:
            cur.from_arrow(further).insert_into("audit_subjects")
        cur.commit()
        last = groups[-1]
        self._set_indexed(last.first + len(last.rows))

    def _unavailable(self) -> AuditUnavailable:
        return AuditUnavailable(f"audit log is unavailable ({self._failure})")
