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
* The *indexer* thread (:mod:`exchange.audit.indexer`) copies durable groups into
  DuckDB (``audit_entries``, ``audit_subjects``) in large batches, DuckDB reading each
  entry's JSON from the group's bytes: the searchable index,
  behind the log by a bounded amount (:attr:`GroupCommitWriter.index_lag`; the writer
  waits when the lag passes :data:`INDEX_LAG_MAX`). :meth:`GroupCommitWriter.wait_indexed`
  is the read barrier. It also makes the tree's files durable every
  :data:`SYNC_TILES_EVERY` entries, so that the syncer does nothing but the segment's
  ``fdatasync`` and wake-ups: a caller never waits behind the tree's files.

The hot path is built for batches: the writer frames, hashes and writes a whole group
with ``map`` over C functions (no Python step per entry), the syncer wakes each *call*
once (one latch per ``append_many``, not per entry), and nothing the indexer does holds
a caller.

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
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from time import perf_counter
from typing import Any

import duckdb

from exchange.audit.context import current_request
from exchange.audit.event import HEAD, MIDDLE, AuditEvent, Row, encode_event
from exchange.audit.indexer import INDEX_LAG_MAX, Indexer, Written, iso
from exchange.audit.latency import GroupLatency
from exchange.audit.segments import WORK, SegmentWriter, crash_point
from exchange.audit.subjects import SubjectKeys
from exchange.audit.tables import frame, insert_index
from exchange.audit.tilestore import FileNodeStore, TreeAppender
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable
from exchange.store import Store

__all__ = [
    "INDEX_LAG_MAX",
    "SYNC_TILES_EVERY",
    "GroupCommitWriter",
    "OnCommit",
    "Pending",
    "TxWork",
]

TxWork = Callable[[duckdb.DuckDBPyConnection], Any]
OnCommit = Callable[[duckdb.DuckDBPyConnection, int, list[bytes]], None]

_LOG = logging.getLogger("govex.audit")
_sha256 = hashlib.sha256
_digest = type(_sha256()).digest
_pack_len = struct.Struct(">I").pack  # an entry's length in a segment group
_head, _middle = itemgetter(HEAD), itemgetter(MIDDLE)
SYNC_TILES_EVERY = 65_536  # entries between syncs of the tree's files
_PIPELINE = 8  # groups written but not yet synced


class Pending:
    """A queued call: its entries (rows with pre-encoded leaf parts) and a one-shot latch.

    One latch per *call*, not per entry: ``append_many`` of a thousand events costs
    the writer one wake-up, and its entries are committed in one group.
    """

    __slots__ = (
        "at",
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

    def __init__(
        self,
        events: list[AuditEvent],
        rows: list[Row],
        work: TxWork | None,
        at: datetime | None = None,
    ) -> None:
        self.at = at  # the entries' time; None: the group's, when it is written
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


class GroupCommitWriter(Indexer):
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
        self._own = threading.local()  # set on the writer threads (no read barrier there)
        self._init_index(0)

    def _start_writer(self, segments: SegmentWriter, size: int, indexed: int) -> None:
        """Start the threads on a log of ``size`` durable entries, ``indexed`` of them indexed."""
        self.segments = segments
        self._tree = TreeAppender(self.nodes, size)  # the writer's, ahead of the syncs
        self._synced_tiles = size
        self._size = size
        self._indexed = indexed
        self._written: queue.Queue[Written | None] = queue.Queue(maxsize=_PIPELINE)
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

    def _write(self, group: list[Pending], flags: int) -> Written:
        """Leaves of the group, appended to the segment and the tree (not yet durable).

        The whole group at once, by ``map`` over C functions: ``seq`` and ``ts`` spliced
        into each entry's leaf data with one format, the leaves hashed, the body framed
        (each entry's length, then its data) with one join. A call that brought its own
        time (:attr:`Pending.at`) has its entries stamped with it.
        """
        first = self._tree.size
        now = datetime.now(UTC)
        rows = group[0].rows if len(group) == 1 else [r for p in group for r in p.rows]
        n = len(rows)
        leaves: list[bytes] = []
        body = b""
        lengths: list[int] = []
        if n:
            if all(p.at is None for p in group):
                datas = _spliced(rows, first, now)
            else:
                datas, seq = [], first
                for p in group:
                    datas += _spliced(p.rows, seq, p.at or now)
                    seq += len(p.rows)
            leaves = list(map(_digest, map(_sha256, datas)))
            lengths = list(map(len, datas))
            body = b"".join(chain.from_iterable(zip(map(_pack_len, lengths), datas, strict=True)))
            self.segments.write_body(body, n, flags)
            self._tree.extend(leaves)
        return Written(group, first, rows, leaves, body, lengths)

    def _drain(self) -> None:
        """Wait until every group written is durable and indexed."""
        self._wait_for_index(self._tree.size)

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

    def _sync(self, groups: list[Written]) -> None:
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

    def _after_index(self, indexed: int) -> None:
        """On the indexer thread: the tree's files made durable now and then (they are
        rebuilt from the segments on opening, so no caller waits for them)."""
        if indexed - self._synced_tiles >= SYNC_TILES_EVERY:
            self._sync_tiles(indexed)

    def _sync_tiles(self, size: int) -> None:
        try:
            self.nodes.mark_synced(size)
            self._synced_tiles = size
        except OSError as exc:  # they are rebuilt from the segments on opening
            _LOG.warning("the audit tree's files were not synced", exc_info=exc)

    def _committed(self, g: Written) -> None:
        seq = g.first
        for p in g.group:
            p.seq = seq
            seq += len(p.rows)
        if g.count:
            self._size = seq
        self._release(g.group)
        if g.leaves:
            self.latency.record(len(g.leaves), g.sync_s, [p.queued for p in g.group])
        # the callers are answered: keep nothing of theirs while indexing (the index
        # reads the group's bytes)
        g.group, g.rows = [], []

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
        if g.count:
            self._set_indexed(g.first + g.count)

    def _write_with_work(self, group: list[Pending]) -> Written:
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
                insert_index(cur, frame(g.body, g.lengths, b"".join(g.leaves)))
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


def _spliced(rows: list[Row], first: int, at: datetime) -> list[bytes]:
    """The leaf data of ``rows`` from seq ``first`` on: seq and time spliced in."""
    splice = (b"%s%d%s" + iso(at).encode() + b'"}').__mod__
    return list(
        map(
            splice,
            zip(map(_head, rows), range(first, first + len(rows)), map(_middle, rows), strict=True),
        )
    )


class _WorkFailed(Exception):
    def __init__(self, pending: Pending, cause: Exception) -> None:
        super().__init__(str(cause))
        self.pending = pending
        self.cause = cause
