"""The group-commit writer behind :class:`exchange.audit.log.AuditLog`: three threads.

Callers queue a :class:`Pending` call (one event, or with ``append_many`` a batch that
commits whole) and wait on its latch.

* The *writer* thread takes everything queued (up to ``group_commit_max`` entries) as
  one group: it splices ``seq`` and ``ts`` into the leaf data, hashes the leaves,
  appends the group to the segment file (``os.pwrite``, not yet durable,
  :mod:`exchange.audit.segments`) and extends the tree (the new nodes into the level
  files, :mod:`exchange.audit.tilestore`). New subject salts are committed to DuckDB
  before the group that uses them is written.
* The *syncer* thread takes every group written so far, makes them durable with one
  ``os.fdatasync`` and wakes their callers: a caller waits for its own group's sync and
  nothing else. While it syncs, the writer prepares and writes the next groups.
* The *indexer* thread copies durable groups into DuckDB (``audit_entries``,
  ``audit_subjects``) in batches: the searchable index, behind the log by a bounded
  amount (:attr:`GroupCommitWriter.index_lag`; the writer waits when the lag passes
  :data:`INDEX_LAG_MAX`). :meth:`GroupCommitWriter.wait_indexed` is the read barrier:
  whoever reads the audit tables first waits until they hold every committed entry.

A group where a caller brought transactional work (ingest writing records) runs alone
in the writer thread once the syncer and indexer are idle: one DuckDB transaction runs
the work and inserts the group's index rows; the group is appended to the segment with
flag :data:`exchange.audit.segments.WORK` and made durable *before* that transaction
commits. A crash between the two leaves a durable ``WORK`` entry without its index row,
which :mod:`exchange.audit.recovery` recognises and compensates on opening.

If a write or sync fails the log is *closed* (fail closed): every waiting and later
caller gets :class:`AuditUnavailable`.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import struct
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

import duckdb
import pyarrow as pa

from exchange.audit.context import current_request
from exchange.audit.event import (
    HEAD,
    MIDDLE,
    ROW_COLUMNS,
    SUBJECTS,
    TABLE_COLUMNS,
    AuditEvent,
    Row,
    encode_event,
)
from exchange.audit.latency import GroupLatency
from exchange.audit.segments import WORK, SegmentWriter, crash_point
from exchange.audit.subjects import SubjectKeys
from exchange.audit.tilestore import FileNodeStore, TreeAppender
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable
from exchange.store import Store

__all__ = [
    "INDEX_LAG_MAX",
    "GroupCommitWriter",
    "OnCommit",
    "Pending",
    "TxWork",
    "entries_table",
    "subjects_table",
]

TxWork = Callable[[duckdb.DuckDBPyConnection], Any]
OnCommit = Callable[[duckdb.DuckDBPyConnection, int, list[bytes]], None]

_LOG = logging.getLogger("govex.audit")
_TS = pa.timestamp("us", tz="UTC")
_HASH = pa.binary(32)
_sha256 = hashlib.sha256
_pack_len = struct.Struct(">I").pack  # an entry's length in a segment group
_PERSON = ROW_COLUMNS.index("person")  # the one caller column after the leaf hash
INDEX_LAG_MAX = 262_144  # entries the index may trail the log by before appends wait
_SYNC_EVERY = 65_536  # entries between syncs of the tree's files
_PIPELINE = 8  # groups written but not yet synced
_INDEX_BATCH = 32_768  # entries the indexer gathers for one transaction at most
_INDEX_DELAY_S = 0.02  # a pause in the groups that ends its gathering


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds").replace("+00:00", "Z")


class Pending:
    """A queued call: its entries (rows with pre-encoded leaf parts) and a one-shot latch.

    One latch per *call*, not per entry: ``append_many`` of a thousand events costs
    the writer one wake-up, and its entries are committed in one group.
    """

    __slots__ = (
        "done",
        "error",
        "events",
        "notify",
        "queued",
        "result",
        "rows",
        "seq",
        "sync",
        "work",
    )

    def __init__(self, events: list[AuditEvent], rows: list[Row], work: TxWork | None) -> None:
        self.events = events
        self.rows = rows
        self.work = work
        self.seq = -1  # the first entry's
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()  # released by the syncer: cheaper than a Future
        self.notify: Callable[[], None] | None = None  # wakes an async waiter
        self.queued = 0.0  # perf_counter() when queued, for the latency figures
        self.sync = False  # also wait until the index holds the entries

    def release(self) -> None:
        self.done.release()
        if self.notify is not None:
            self.notify()


@dataclass
class _Group:
    """A group written to the segment: what the syncer and the indexer need of it."""

    group: list[Pending]
    first: int
    rows: list[Row]
    leaves: list[bytes]
    now: datetime
    sync_s: float = 0.0


def entries_table(first: int, rows: list[Row], leaves: list[bytes], now: datetime) -> pa.Table:
    """``audit_entries`` rows of a group whose first entry is ``first``, written at ``now``."""
    n = len(rows)
    columns = list(zip(*rows, strict=True))
    micros = int(now.timestamp()) * 1_000_000 + now.microsecond
    text = pa.string()
    return pa.Table.from_arrays(
        [
            pa.array(range(first, first + n), pa.int64()),
            pa.array([micros] * n, pa.int64()).cast(_TS),
            *(pa.array(columns[i], text) for i in range(_PERSON)),
            pa.array(leaves, _HASH),
            pa.array([_iso(now)] * n, text),
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


_POKE = object()  # put on the indexer's queue by a reader waiting for the index


def _entries(item: object) -> int:
    return len(item.rows) if isinstance(item, _Group) else 0


class GroupCommitWriter:
    """Group commit of queued entries into the segments, the tree's files and the index.

    The base of :class:`exchange.audit.log.AuditLog`, which opens the files, recovers
    and then calls :meth:`_start_writer`.
    """

    def __init__(
        self,
        store: Store,
        settings: AuditSettings,
        subjects: SubjectKeys,
        on_commit: OnCommit | None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.subjects = subjects
        self.nodes = FileNodeStore(store.data_dir)
        self.latency = GroupLatency()  # the latest group commits, for the figures
        self._on_commit = on_commit
        self._failure: BaseException | None = None
        self._incoming: deque[Pending] = deque()
        self._wakeup = threading.Event()
        self._closing = False
        self._size = 0  # durable size: what readers may ask about
        self._indexed = 0  # entries the DuckDB index holds
        self._index_cond = threading.Condition()
        self._waiters = 0  # threads waiting for the index (it then gathers no longer)
        self._own = threading.local()  # set on the writer threads (no read barrier there)

    def _start_writer(self, segments: SegmentWriter, size: int, indexed: int) -> None:
        """Start the threads on a log of ``size`` durable entries, ``indexed`` of them indexed."""
        self.segments = segments
        self._tree = TreeAppender(self.nodes, size)  # the writer's, ahead of the syncs
        self._synced_tiles = size
        self._size = size
        self._indexed = indexed
        self._written: queue.Queue[_Group | None] = queue.Queue(maxsize=_PIPELINE)
        self._to_index: queue.Queue[_Group | object | None] = queue.Queue()
        self._syncer = threading.Thread(
            target=self._sync_loop, name="govex-audit-syncer", daemon=True
        )
        self._indexer = threading.Thread(
            target=self._index_loop, name="govex-audit-indexer", daemon=True
        )
        self._thread = threading.Thread(target=self._run, name="govex-audit-writer", daemon=True)
        self._indexer.start()
        self._syncer.start()
        self._thread.start()

    # -- the index ------------------------------------------------
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
            self._to_index.put(_POKE)  # someone waits: the indexer stops gathering
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

    def _unavailable(self) -> AuditUnavailable:
        return AuditUnavailable(f"audit log is unavailable ({self._failure})")

    def _fail(self, exc: BaseException, group: list[Pending]) -> None:
        _LOG.error("audit write failed; the audit log is closed (fail closed)", exc_info=exc)
        self._failure = self._failure or exc
        self._release(group, AuditUnavailable(f"audit write failed: {exc}"))
        with self._index_cond:
            self._index_cond.notify_all()

    def _queue(self, pending: Pending) -> None:
        pending.queued = perf_counter()
        self._incoming.append(pending)
        self._wakeup.set()

    def _wait(self, pending: Pending) -> int:
        pending.done.acquire()
        if pending.error is not None:
            raise pending.error
        if pending.sync:
            self.wait_indexed(pending.seq + len(pending.rows))
        request = current_request()
        if request is not None:
            request.last_seq = pending.seq
        return pending.seq

    # -- the writer thread ------------------------------------------------
    def _run(self) -> None:
        self._own.writer = True
        incoming, wakeup = self._incoming, self._wakeup
        limit = max(1, self.settings.group_commit_max)
        pause = self.settings.group_commit_wait_ms / 1000
        try:
            while True:
                wakeup.wait()
                wakeup.clear()
                if pause > 0 and 1 < len(incoming) < limit and self._written.qsize():
                    # a sync is under way: let more callers join this group
                    wakeup.wait(pause)
                    wakeup.clear()
                while incoming:
                    group = [incoming.popleft()]  # never split: a call commits in one group
                    self._take(group, len(group[0].rows), limit)
                    try:
                        self._dispatch(group)
                    except BaseException as exc:  # never leave a caller waiting
                        self._fail(exc, group)
                if self._closing and not incoming:
                    return
        finally:
            self._written.put(None)
            self._release(list(incoming), AuditUnavailable("the audit log is closed"))

    def _take(self, group: list[Pending], entries: int, limit: int) -> int:
        """Move queued calls into ``group`` while it holds at most ``limit`` entries."""
        incoming = self._incoming
        while incoming and entries + len(incoming[0].rows) <= limit:
            entries += len(incoming[0].rows)
            group.append(incoming.popleft())
        return entries

    def _dispatch(self, group: list[Pending]) -> None:
        if self._failure is not None:
            self._release(group, self._unavailable())
            return
        if self._on_commit is not None or any(p.work is not None for p in group):
            plain = [p for p in group if p.work is None]
            if plain and self._on_commit is None:  # the calls without work go the usual way
                self._dispatch(plain)
                group = [p for p in group if p.work is not None]
            self._drain()
            self._commit_alone(group)
            return
        if self._tree.size - self._indexed > INDEX_LAG_MAX:
            with self._index_cond:  # the index fell far behind: let it catch up
                self._index_cond.wait_for(
                    lambda: (
                        self._tree.size - self._indexed <= INDEX_LAG_MAX // 2
                        or self._failure is not None
                    )
                )
        self._commit_salts()
        written = self._write(group, 0)
        self._written.put(written)

    def _commit_salts(self) -> None:
        """New subjects' salts: committed before any entry that uses them is written."""
        salts = self.subjects.take_staged()
        if salts is None:
            return
        with self.store.transaction() as tx:
            tx.from_arrow(salts[1]).insert_into("audit_subject_salts")
        self.subjects.committed(salts[0])

    def _write(self, group: list[Pending], flags: int) -> _Group:
        """Leaves of the group, appended to the segment and the tree (not yet durable).

        One pass over the entries: splice ``seq`` and ``ts`` in, frame the leaf data into
        the group's body in place and hash it; no object per entry but its leaf data
        and hash.
        """
        first = self._tree.size
        now = datetime.now(UTC)
        ts = _iso(now).encode()
        rows = group[0].rows if len(group) == 1 else [r for p in group for r in p.rows]
        sha, pack = _sha256, _pack_len
        body = bytearray()
        leaves: list[bytes] = []
        add = leaves.append
        seq = first
        for row in rows:
            data = b'%s%d%s%s"}' % (row[HEAD], seq, row[MIDDLE], ts)
            body += pack(len(data))
            body += data
            add(sha(data).digest())
            seq += 1
        if rows:
            self.segments.write_body(bytes(body), len(rows), flags)
            self._tree.extend(leaves)
        return _Group(group, first, rows, leaves, now)

    def _drain(self) -> None:
        """Wait until every group written is durable and indexed."""
        with self._index_cond:
            self._waiters += 1
            self._to_index.put(_POKE)  # the indexer stops gathering
            try:
                self._index_cond.wait_for(
                    lambda: self._indexed >= self._tree.size or self._failure is not None
                )
            finally:
                self._waiters -= 1

    # -- the syncer thread ------------------------------------------------
    def _sync_loop(self) -> None:
        self._own.writer = True
        written = self._written
        while True:
            batch = [written.get()]
            while not written.empty() and batch[-1] is not None:
                batch.append(written.get_nowait())
            closing = batch[-1] is None
            groups = [g for g in batch if g is not None]
            if groups:
                self._sync(groups)
            if closing:
                self._to_index.put(None)
                return

    def _sync(self, groups: list[_Group]) -> None:
        members = [p for g in groups for p in g.group]
        if self._failure is not None:
            self._release(members, self._unavailable())
            return
        try:
            started = perf_counter()
            self.segments.sync()
            synced = perf_counter() - started
        except BaseException as exc:
            self._fail(exc, members)
            return
        for g in groups:
            g.sync_s = synced
            self._committed(g)
            self._to_index.put(g)
        size = self._size
        if size - self._synced_tiles >= _SYNC_EVERY:
            self._sync_tiles(size)

    def _sync_tiles(self, size: int) -> None:
        try:
            self.nodes.mark_synced(size)
            self._synced_tiles = size
        except OSError as exc:  # they are rebuilt from the segments on opening
            _LOG.warning("the audit tree's files were not synced", exc_info=exc)

    def _committed(self, g: _Group) -> None:
        seq = g.first
        for p in g.group:
            p.seq = seq
            seq += len(p.rows)
        if g.rows:
            self._size = seq
        self._release(g.group)
        if g.leaves:
            self.latency.record(len(g.leaves), g.group[0].queued, g.sync_s)
        g.group = []  # the callers are answered: keep nothing of theirs while indexing

    # -- the indexer thread ------------------------------------------------
    def _index_loop(self) -> None:
        self._own.writer = True
        cur = self.store.cursor()
        while True:
            batch = self._gather()
            groups = [g for g in batch if isinstance(g, _Group) and g.rows]
            if groups and self._failure is None:
                try:
                    self._index(cur, groups)
                except BaseException as exc:
                    with suppress(duckdb.Error):
                        cur.rollback()
                    self._fail(exc, [])
            if batch[-1] is None:
                return

    def _gather(self) -> list[_Group | object | None]:
        """Durable groups for one index transaction: while they keep arriving (a gap of
        :data:`_INDEX_DELAY_S` ends the gathering) up to :data:`_INDEX_BATCH` entries, so
        that under load the index takes little from the appends; at once when a reader
        waits (a poke) or the log closes."""
        source = self._to_index
        batch: list[_Group | object | None] = [source.get()]
        entries = _entries(batch[-1])
        while batch[-1] is not None and batch[-1] is not _POKE and entries < _INDEX_BATCH:
            if self._waiters:
                break
            try:
                item = source.get(timeout=_INDEX_DELAY_S)
            except queue.Empty:
                break
            batch.append(item)
            entries += _entries(item)
        return batch

    def _index(self, cur: duckdb.DuckDBPyConnection, groups: list[_Group]) -> None:
        tables = [entries_table(g.first, g.rows, g.leaves, g.now) for g in groups]
        entries = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        further = [t for g in groups if (t := subjects_table(g.first, g.rows)) is not None]
        cur.begin()
        cur.from_arrow(entries).insert_into("audit_entries")
        for table in further:
            cur.from_arrow(table).insert_into("audit_subjects")
        cur.commit()
        last = groups[-1]
        self._set_indexed(last.first + len(last.rows))

    @staticmethod
    def _release(group: list[Pending], error: BaseException | None = None) -> None:
        for p in group:
            if p.done.locked():
                if error is not None and p.error is None:
                    p.error = error
                p.release()

    # -- groups with work ------------------------------------------------
    def _commit_alone(self, group: list[Pending]) -> None:
        """A group with transactional work: one transaction, in this thread."""
        try:
            g = self._write_with_work(group)
        except _WorkFailed as wf:
            # one caller's work failed: fail it alone, retry the rest of the group
            wf.pending.error = wf.cause
            wf.pending.release()
            rest = [p for p in group if p is not wf.pending]
            if rest:
                self._dispatch(rest)
            return
        except Exception as exc:  # the store itself failed: close the log (fail closed)
            self._fail(exc, group)
            return
        self._committed(g)
        if g.rows:
            self._set_indexed(g.first + len(g.rows))

    def _write_with_work(self, group: list[Pending]) -> _Group:
        self._commit_salts()
        cur = self.store.cursor()
        started = perf_counter()
        cur.execute("BEGIN TRANSACTION")
        written = False
        try:
            for p in group:
                if p.work is not None:
                    self._run_work(cur, p)
            written = True
            g = self._write(group, WORK)
            if g.rows:
                cur.from_arrow(entries_table(g.first, g.rows, g.leaves, g.now)).insert_into(
                    "audit_entries"
                )
                further = subjects_table(g.first, g.rows)
                if further is not None:
                    cur.from_arrow(further).insert_into("audit_subjects")
            if self._on_commit is not None:
                self._on_commit(cur, g.first, g.leaves)
            self.segments.sync()  # the entry is durable before its work commits
            crash_point("publish")
            cur.execute("COMMIT")
            crash_point("records")
            g.sync_s = perf_counter() - started
        except BaseException as exc:
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            if written:
                # the entry may be in the segment without its work: close the log;
                # reopening compensates (exchange.audit.recovery)
                self._failure = self._failure or exc
            raise
        return g

    @staticmethod
    def _run_work(cur: duckdb.DuckDBPyConnection, p: Pending) -> None:
        assert p.work is not None
        try:
            p.result = p.work(cur)
        except Exception as exc:
            raise _WorkFailed(p, exc) from exc
        if isinstance(p.result, dict) and "audit_detail" in p.result:
            (e,) = p.events  # work comes with append(): one event
            e.detail = {**(e.detail or {}), **p.result["audit_detail"]}
            p.rows = [encode_event(e)]


class _WorkFailed(Exception):
    def __init__(self, pending: Pending, cause: Exception) -> None:
        super().__init__(str(cause))
        self.pending = pending
        self.cause = cause
