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
with the appends instead of holding them back. While it gathers, every
:data:`TABULATE_EVERY` entries it turns the groups so far into Arrow columns
(:func:`tabulate`: one table for many small groups, the rows let go while fresh in
memory), so a transaction's table is mostly made by the time it ends.
"""

from __future__ import annotations

import queue
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
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
    "TABULATE_EVERY",
    "Indexer",
    "Tables",
    "Written",
    "entries_table",
    "iso",
    "subjects_table",
    "tabulate",
]

INDEX_LAG_MAX = 262_144  # entries the index may trail the log by before appends wait
INDEX_BATCH = 131_072  # entries the indexer gathers for one transaction at most
INDEX_DELAY_S = 0.02  # a pause in the groups that ends its gathering
INDEX_GATHER_S = 2.0  # gathering ends after this long (at a modest rate: small batches)
TABULATE_EVERY = 4096  # entries gathered between conversions into tables

_TS = pa.timestamp("us", tz="UTC")
_HASH = pa.binary(32)
_PERSON = ROW_COLUMNS.index("person")  # the one caller column after the leaf hash
_COLUMN = [itemgetter(i) for i in range(len(ROW_COLUMNS))]


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
    count: int = field(init=False)  # entries (``rows`` is let go once tabulated)
    tabulated: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.count = len(self.rows)

    def entries(self) -> pa.Table:
        """The group's ``audit_entries`` rows, each with its leaf's time."""
        return entries_table(self.first, self.rows, self.leaves, self.now, self.runs)


@dataclass
class Tables:
    """What one index transaction inserts: ``audit_entries`` and ``audit_subjects`` tables."""

    entries: list[pa.Table] = field(default_factory=list)
    further: list[pa.Table] = field(default_factory=list)


def tabulate(groups: list[Written], into: Tables) -> None:
    """The index tables of durable groups not tabulated yet, added to ``into``: one
    ``audit_entries`` table for each run of consecutive groups (a table has a fixed cost,
    so small groups share one) and the tables of their further subjects. The groups' rows
    and leaves are let go: entries waiting for an index transaction hold columns, not an
    object per entry."""
    groups = [g for g in groups if g.count and not g.tabulated]
    if not groups:
        return
    into.further += [t for g in groups if (t := subjects_table(g.first, g.rows)) is not None]
    tables = into.entries
    start = 0
    for i in range(1, len(groups) + 1):  # runs of consecutive sequence numbers
        if i < len(groups) and groups[i].first == groups[i - 1].first + groups[i - 1].count:
            continue
        run = groups[start:i]
        if len(run) == 1:
            tables.append(run[0].entries())
        else:
            times = [t for g in run for t in (g.runs or [(g.count, g.now)])]
            rows = [r for g in run for r in g.rows]
            leaves = [h for g in run for h in g.leaves]
            tables.append(entries_table(run[0].first, rows, leaves, run[0].now, times))
        start = i
    for g in groups:
        g.rows, g.leaves, g.tabulated = [], [], True


def entries_table(
    first: int,
    rows: list[Row],
    leaves: list[bytes],
    now: datetime,
    runs: list[tuple[int, datetime]] | None = None,
) -> pa.Table:
    """``audit_entries`` rows of a group whose first entry is ``first``, written at ``now``
    (or its runs of entries each at its own time: ``runs`` of (count, time)).

    Column by column (``map`` of an item getter per column: no tuple per entry, unlike a
    transposition with ``zip``); the columns every entry of a run shares are repeated by
    Arrow, the leaf hashes are one buffer.
    """
    n = len(rows)
    text = pa.string()
    if runs is None or len(runs) == 1:
        when = now if runs is None else runs[0][1]
        micros = pa.repeat(pa.scalar(_micros(when), pa.int64()), n)
        texts = pa.repeat(pa.scalar(iso(when), text), n)
    else:  # many runs (small groups tabulated together): lists, not an array a run
        times: list[int] = []
        stamps: list[str] = []
        for count, when in runs:
            times += [_micros(when)] * count
            stamps += [iso(when)] * count
        micros, texts = pa.array(times, pa.int64()), pa.array(stamps, text)
    return pa.Table.from_arrays(
        [
            pa.array(range(first, first + n), pa.int64()),
            micros.cast(_TS),
            *(pa.array(list(map(_COLUMN[i], rows)), text) for i in range(_PERSON)),
            _hashes(leaves),
            texts,
            pa.array(list(map(_COLUMN[_PERSON], rows)), text),
        ],
        names=list(TABLE_COLUMNS),
    )


def _micros(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def _hashes(leaves: list[bytes]) -> pa.Array:
    """The leaf hashes as one ``binary(32)`` array over their joined bytes."""
    data = b"".join(leaves)
    if len(data) != 32 * len(leaves):  # not all 32 bytes: let Arrow say which
        return pa.array(leaves, _HASH)
    return pa.Array.from_buffers(_HASH, len(leaves), [None, pa.py_buffer(data)])


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


POKE = object()  # put on the indexer's queue by a reader waiting for the index


def _entries(item: object) -> int:
    return item.count if isinstance(item, Written) else 0


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
            try:
                batch, tables = self._gather()
            except BaseException as exc:  # its tables (memory): the log closes, as in _index
                self._fail(exc, [])
                continue  # the groups still come until the log closes: drained, not indexed
            groups = [g for g in batch if isinstance(g, Written) and g.count]
            if groups and self._failure is None:
                try:
                    self._index(cur, groups, tables)
                except BaseException as exc:
                    with suppress(duckdb.Error):
                        cur.rollback()
                    self._fail(exc, [])
                else:
                    self._after_index(self._indexed)
            if batch[-1] is None:
                return

    def _gather(self) -> tuple[list[Written | object | None], Tables]:
        """Durable groups for one index transaction: while they keep arriving (a gap of
        :data:`INDEX_DELAY_S` ends the gathering), for at most :data:`INDEX_GATHER_S`, up
        to :data:`INDEX_BATCH` entries, so that under load the index takes little from the
        appends and at a modest rate it trails by seconds, not minutes; at once when a
        reader waits (a poke) or the log closes.

        Every :data:`TABULATE_EVERY` entries the groups gathered so far are turned into
        tables (:func:`tabulate`) while their rows are fresh in memory; returned beside
        the batch."""
        source = self._to_index
        batch: list[Written | object | None] = [source.get()]
        entries = fresh = _entries(batch[-1])
        tables, untabulated = Tables(), 0  # batch[untabulated:] not tabulated yet
        until = monotonic() + INDEX_GATHER_S
        while batch[-1] is not None and batch[-1] is not POKE and entries < INDEX_BATCH:
            if self._waiters or monotonic() > until:
                break
            if fresh >= TABULATE_EVERY:
                tabulate([g for g in batch[untabulated:] if isinstance(g, Written)], tables)
                untabulated, fresh = len(batch), 0
            try:
                item = source.get(timeout=INDEX_DELAY_S)
            except queue.Empty:
                break
            batch.append(item)
            entries += _entries(item)
            fresh += _entries(item)
        return batch, tables

    def _index(self, cur: duckdb.DuckDBPyConnection, groups: list[Written], tables: Tables) -> None:
        tabulate(groups, tables)
        found = tables.entries
        entries = found[0] if len(found) == 1 else pa.concat_tables(found)
        cur.begin()
        cur.from_arrow(entries).insert_into("audit_entries")
        for table in tables.further:
            cur.from_arrow(table).insert_into("audit_subjects")
        cur.commit()
        last = groups[-1]
        self._set_indexed(last.first + last.count)

    def _unavailable(self) -> AuditUnavailable:
        return AuditUnavailable(f"audit log is unavailable ({self._failure})")
