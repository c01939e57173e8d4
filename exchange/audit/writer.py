"""The group-commit writer behind :class:`exchange.audit.log.AuditLog`: two threads.

Callers queue a :class:`Pending` call (one event, or with ``append_many`` a batch that
commits whole) and wait on its latch. The *writer* thread takes everything queued (up
to ``group_commit_max`` entries) as one group and prepares it: leaf hashes, the Arrow
table of entries, the new tree nodes. The *committer* thread inserts a prepared group
and commits it in one DuckDB transaction (DuckDB releases the GIL while it writes and
syncs), then wakes the group's callers. With a backlog, group k+1 is prepared while
group k is being made durable; with only a few callers waiting, the writer lets the
commit in flight finish first, so that everyone who arrives meanwhile joins the next
group. The writer extends the in-memory tree ahead of the commits; if a commit fails
the log closes, so nothing prepared after it is ever committed. A group where a caller
brought transactional work (ingest) runs alone, start to end, in the writer thread,
once the committer is idle.

When the log is idle a group's tree nodes are stored in the same transaction as its
entries; under load (a commit already in flight) they wait in memory, at most
8,192 nodes plus one group's, and ride with a later group, so a commit touches one
table instead of two.
"""

from __future__ import annotations

import hashlib
import logging
import queue
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
from exchange.audit.nodes import DuckNodeStore, Staged, TreeAppender
from exchange.audit.subjects import SubjectKeys
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable
from exchange.store import Store

__all__ = ["GroupCommitWriter", "OnCommit", "Pending", "TxWork"]

TxWork = Callable[[duckdb.DuckDBPyConnection], Any]
OnCommit = Callable[[duckdb.DuckDBPyConnection, int, list[bytes]], None]

_LOG = logging.getLogger("govex.audit")
_TS = pa.timestamp("us", tz="UTC")
_HASH = pa.binary(32)
_sha256 = hashlib.sha256
_PERSON = ROW_COLUMNS.index("person")  # the one caller column after the leaf hash
_DEFERRED = 8_192  # tree nodes held in memory at most before a group must write them


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
        self.done.acquire()  # released by the writer: cheaper than a Future
        self.notify: Callable[[], None] | None = None  # wakes an async waiter
        self.queued = 0.0  # perf_counter() when queued, for the latency figures
        self.sync = False  # write every committed tree node with this group

    def release(self) -> None:
        self.done.release()
        if self.notify is not None:
            self.notify()


class GroupCommitWriter:
    """Group commit of queued entries into ``audit_entries`` (and the tree's nodes).

    The base of :class:`exchange.audit.log.AuditLog`, which opens the store, recovers
    the tree and then calls :meth:`_start_writer`.
    """

    def __init__(
        self,
        store: Store,
        settings: AuditSettings,
        subjects: SubjectKeys,
        nodes: DuckNodeStore,
        on_commit: OnCommit | None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.subjects = subjects
        self.nodes = nodes
        self.latency = GroupLatency()  # the latest group commits, for the figures
        self._on_commit = on_commit
        self._failure: BaseException | None = None
        self._incoming: deque[Pending] = deque()
        self._wakeup = threading.Event()
        self._closing = False
        self._size = 0  # committed size: what readers may ask about

    def _start_writer(self, size: int) -> None:
        """Start the two threads on a tree of ``size`` committed entries."""
        self._tree = TreeAppender(self.nodes, size)  # the writer's, ahead of the commits
        self._size = size
        self._commits: queue.Queue[_Prepared | None] = queue.Queue(maxsize=1)
        self._committer = threading.Thread(
            target=self._commit_loop, name="govex-audit-committer", daemon=True
        )
        self._thread = threading.Thread(target=self._run, name="govex-audit-writer", daemon=True)
        self._committer.start()
        self._thread.start()

    def _unavailable(self) -> AuditUnavailable:
        return AuditUnavailable(f"audit log is unavailable ({self._failure})")

    def _queue(self, pending: Pending) -> None:
        pending.queued = perf_counter()
        self._incoming.append(pending)
        self._wakeup.set()

    @staticmethod
    def _wait(pending: Pending) -> int:
        pending.done.acquire()
        if pending.error is not None:
            raise pending.error
        request = current_request()
        if request is not None:
            request.last_seq = pending.seq
        return pending.seq

    def _run(self) -> None:
        incoming, wakeup = self._incoming, self._wakeup
        limit = max(1, self.settings.group_commit_max)
        backlog = max(1, limit // 4)
        pause = self.settings.group_commit_wait_ms / 1000
        try:
            while True:
                wakeup.wait()
                wakeup.clear()
                if pause > 0 and 1 < len(incoming) < limit:
                    # more callers are arriving: give them a moment to join this group
                    wakeup.wait(pause)
                    wakeup.clear()
                while incoming:
                    group = [incoming.popleft()]  # never split: a call commits in one group
                    entries = self._take(group, len(group[0].rows), limit)
                    # no commit in flight: the log is not under load, so this group also
                    # writes the tree nodes (under load they wait, see _commit_prepared)
                    idle = self._commits.unfinished_tasks == 0
                    if entries < backlog:
                        # a small group: wait for the commit in flight, gathering meanwhile
                        self._commits.join()
                        self._take(group, entries, limit)
                    try:
                        self._dispatch(group, idle)
                    except BaseException as exc:  # never leave a caller waiting
                        _LOG.error("audit writer failed; the audit log is closed", exc_info=exc)
                        self._failure = self._failure or exc
                        self._release(group, AuditUnavailable(f"audit write failed: {exc}"))
                if self._closing and not incoming:
                    return
        finally:
            self._commits.put(None)
            self._release(list(incoming), AuditUnavailable("the audit log is closed"))

    def _take(self, group: list[Pending], entries: int, limit: int) -> int:
        """Move queued calls into ``group`` while it holds at most ``limit`` entries."""
        incoming = self._incoming
        while incoming and entries + len(incoming[0].rows) <= limit:
            entries += len(incoming[0].rows)
            group.append(incoming.popleft())
        return entries

    def _dispatch(self, group: list[Pending], idle: bool = True) -> None:
        if self._failure is not None:
            self._release(group, self._unavailable())
            return
        if self._on_commit is None and all(p.work is None for p in group):
            prepared = self._prepare_group(group, self._tree.size)
            prepared.write_nodes = idle or self._closing or any(p.sync for p in group)
            self._commits.put(prepared)
            return
        self._commits.join()  # the committer is idle: this group runs alone
        self._commit_alone(group)

    def _commit_loop(self) -> None:
        cur = self.store.cursor()
        while True:
            prepared = self._commits.get()
            try:
                if prepared is None:
                    self._write_backlog(cur)
                    return
                self._commit_prepared(cur, prepared)
            except BaseException as exc:  # never leave a caller waiting, never die silently
                _LOG.error("audit writer failed; the audit log is closed", exc_info=exc)
                self._failure = self._failure or exc
                if prepared is not None:
                    self._release(prepared.group, AuditUnavailable(f"audit write failed: {exc}"))
            finally:
                self._commits.task_done()

    def _commit_prepared(self, cur: duckdb.DuckDBPyConnection, prepared: _Prepared) -> None:
        if self._failure is not None:
            self._release(prepared.group, self._unavailable())
            return
        # The tree nodes are derived from the entries' leaf hashes: under load they stay
        # in memory (readers see them through the node store) and ride with a later
        # group, so a commit touches one table instead of two. A crash loses nothing:
        # the log rebuilds missing nodes from the entries when it opens.
        nodes = None
        if prepared.write_nodes or self.nodes.backlog + len(prepared.nodes[0]) >= _DEFERRED:
            nodes = self.nodes.unwritten(prepared.nodes)
        try:
            started = perf_counter()
            cur.begin()
            self._insert(cur, prepared, nodes)
            cur.commit()
            prepared.commit_s = perf_counter() - started
        except Exception as exc:  # the store failed: close the log (fail closed)
            _LOG.error("audit write failed; the audit log is closed (fail closed)", exc_info=exc)
            with suppress(duckdb.Error):
                cur.rollback()
            self._failure = exc
            self._release(prepared.group, AuditUnavailable(f"audit write failed: {exc}"))
            return
        self._committed(prepared, nodes)

    def _write_backlog(self, cur: duckdb.DuckDBPyConnection) -> None:
        """On close: write the tree nodes still held in memory."""
        if self._failure is not None or not self.nodes.backlog:
            return
        nodes = self.nodes.unwritten(([], []))
        try:
            cur.begin()
            cur.from_arrow(self.nodes.table(nodes)).insert_into("audit_nodes")
            cur.commit()
        except Exception as exc:  # reopening rebuilds them from the entries
            _LOG.warning(
                "audit tree nodes not written on close (rebuilt on reopening)", exc_info=exc
            )
            with suppress(duckdb.Error):
                cur.rollback()
            self._failure = exc
            return
        self.nodes.written(nodes)

    @staticmethod
    def _release(group: list[Pending], error: BaseException | None = None) -> None:
        for p in group:
            if p.done.locked():
                if error is not None and p.error is None:
                    p.error = error
                p.release()

    def _prepare_group(self, group: list[Pending], first: int) -> _Prepared:
        """Leaves, entries table and tree nodes of a group whose first entry is ``first``."""
        now = datetime.now(UTC)
        ts = _iso(now).encode()
        rows = group[0].rows if len(group) == 1 else [r for p in group for r in p.rows]
        n = len(rows)
        if n == 0:  # only write_nodes() calls
            return _Prepared(group, first, [], None, ([], []), self.subjects.take_staged())
        # one transpose of the rows, then one Arrow column per field (converted in C)
        columns = list(zip(*rows, strict=True))
        sha = _sha256
        leaves = [
            sha(b'%s%d%s%s"}' % (head, seq, middle, ts)).digest()
            for head, seq, middle in zip(
                columns[HEAD], range(first, first + n), columns[MIDDLE], strict=True
            )
        ]
        micros = int(now.timestamp()) * 1_000_000 + now.microsecond
        text = pa.string()
        entries = pa.Table.from_arrays(
            [
                pa.array(range(first, first + n), pa.int64()),
                pa.array([micros] * n, pa.int64()).cast(_TS),
                *(pa.array(columns[i], text) for i in range(_PERSON)),
                pa.array(leaves, _HASH),
                pa.array([ts.decode()] * n, text),
                pa.array(columns[_PERSON], text),
            ],
            names=list(TABLE_COLUMNS),
        )
        self._tree.extend(leaves)
        salts = self.subjects.take_staged()
        prepared = _Prepared(group, first, leaves, entries, self.nodes.take(), salts)
        further = columns[SUBJECTS]
        if any(further):
            prepared.subjects = _subjects_table(first, further)
        return prepared

    def _insert(
        self, cur: duckdb.DuckDBPyConnection, prepared: _Prepared, nodes: Staged | None
    ) -> None:
        """The group's rows (and ``nodes``), inside the caller's open transaction."""
        if prepared.salts is not None:
            cur.from_arrow(prepared.salts[1]).insert_into("audit_subject_salts")
        if prepared.entries is not None:
            cur.from_arrow(prepared.entries).insert_into("audit_entries")
        if prepared.subjects is not None:
            cur.from_arrow(prepared.subjects).insert_into("audit_subjects")
        if nodes is not None and nodes[0]:
            cur.from_arrow(self.nodes.table(nodes)).insert_into("audit_nodes")

    def _committed(self, prepared: _Prepared, nodes: Staged | None) -> None:
        if prepared.salts is not None:
            self.subjects.committed(prepared.salts[0])
        self.nodes.promote(prepared.nodes)
        if nodes is None:
            self.nodes.defer(prepared.nodes)
        else:
            self.nodes.written(nodes)
        seq = prepared.first
        for p in prepared.group:
            p.seq = seq
            seq += len(p.rows)
        self._size = seq
        self._release(prepared.group)
        if prepared.leaves:
            self.latency.record(len(prepared.leaves), prepared.group[0].queued, prepared.commit_s)

    def _commit_alone(self, group: list[Pending]) -> None:
        """A group with transactional work: one transaction, in this thread."""
        try:
            prepared = self._write_with_work(group)
        except _WorkFailed as wf:
            # one caller's work failed: fail it alone, retry the rest of the group
            wf.pending.error = wf.cause
            wf.pending.release()
            rest = [p for p in group if p is not wf.pending]
            if rest:
                self._dispatch(rest)
            return
        except Exception as exc:  # the store itself failed: close the log (fail closed)
            _LOG.error("audit write failed; the audit log is closed (fail closed)", exc_info=exc)
            self._failure = exc
            self._release(group, AuditUnavailable(f"audit write failed: {exc}"))
            return
        self._committed(prepared, prepared.written)

    def _write_with_work(self, group: list[Pending]) -> _Prepared:
        cur = self.store.cursor()
        started = perf_counter()
        cur.execute("BEGIN TRANSACTION")
        try:
            for p in group:
                if p.work is not None:
                    self._run_work(cur, p)
            prepared = self._prepare_group(group, self._tree.size)
            nodes = self.nodes.unwritten(prepared.nodes)
            self._insert(cur, prepared, nodes)
            if self._on_commit is not None:
                self._on_commit(cur, prepared.first, prepared.leaves)
            cur.execute("COMMIT")
            prepared.commit_s = perf_counter() - started
            prepared.written = nodes
        except BaseException:
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            self.nodes.discard()
            raise
        return prepared

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


@dataclass
class _Prepared:
    group: list[Pending]
    first: int
    leaves: list[bytes]
    entries: pa.Table | None
    nodes: Staged
    salts: tuple[list[str], pa.Table] | None
    commit_s: float = 0.0  # how long its transaction took
    write_nodes: bool = True  # write the tree nodes held in memory with this group
    written: Staged | None = None  # the nodes a work group wrote
    subjects: pa.Table | None = None  # audit_subjects rows: the entries' further subjects


def _subjects_table(first: int, further: tuple[tuple[str, ...], ...]) -> pa.Table:
    """``audit_subjects`` rows (seq, subject_hash) of a group's further subjects."""
    seqs: list[int] = []
    hashes: list[str] = []
    for seq, found in enumerate(further, start=first):
        seqs.extend([seq] * len(found))
        hashes.extend(found)
    return pa.table(
        {"seq": pa.array(seqs, pa.int64()), "subject_hash": pa.array(hashes, pa.string())}
    )


class _WorkFailed(Exception):
    def __init__(self, pending: Pending, cause: Exception) -> None:
        super().__init__(str(cause))
        self.pending = pending
        self.cause = cause
