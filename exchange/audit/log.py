"""The audit log: every exchange is one entry, durable before anything is answered.

Entries are appended with *group commit*: callers queue an event (or, with
``append_many``, a batch that commits whole) and wait; a writer thread takes
everything queued (up to ``group_commit_max`` entries) as one group, a committer
thread writes the group in one DuckDB transaction (one fsync) and wakes the callers.
Work that must be atomic with its entry (ingest writing records) rides in the same
transaction. Callers encode their entries' leaf data themselves, so the writer only
splices in ``seq`` and ``ts`` and hashes; :attr:`AuditLog.latency` keeps the latest
groups' commit and wait times.

Each entry is leaf ``seq`` of an RFC 6962 Merkle tree; the leaf data is the
canonical JSON of the entry (:mod:`exchange.audit.leaf`). The writer extends the
tree as it prepares a group; its new nodes (:mod:`exchange.audit.nodes`) are
visible to readers from the commit on, so roots and proofs for any size read
O(log n) nodes. When the log is idle they are stored in the same transaction as the
entries; under load (a commit already in flight) they wait in memory, at most
8,192 nodes plus one group's, and ride with a later group, so a commit
touches one table instead of two. The nodes are derived from the entries' leaf
hashes: after a crash the log rebuilds the missing ones when it opens, and
:meth:`AuditLog.write_nodes` writes them on demand (export, archive) and on close.

If the writer fails, the log is *closed*: every later append raises
:class:`AuditUnavailable` and the exchange serves no data (fail closed). It also
opens closed when the stored tree and entries disagree, or the tree does not match
the latest signed checkpoint.

The subject's identifier is never stored: only its keyed hash with a per-subject
salt (:mod:`exchange.audit.subjects`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from exchange.audit.context import current_request
from exchange.audit.latency import GroupLatency
from exchange.audit.leaf import AuditEntry, canonical_detail, encode_parts
from exchange.audit.nodes import DuckNodeStore, Staged, TreeAppender
from exchange.audit.subjects import SubjectKeys
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable, Conflict, InvalidRequest
from exchange.store import Store
from schemas.errors import ErrorCode
from signing.merkle import MerkleTree

__all__ = ["AuditEntry", "AuditEvent", "AuditLog", "TxWork"]

_LOG = logging.getLogger("govex.audit")

TxWork = Callable[[duckdb.DuckDBPyConnection], Any]
OnCommit = Callable[[duckdb.DuckDBPyConnection, int, list[bytes]], None]

_ENTRY_COLUMNS = [
    "seq",
    "ts",
    "actor",
    "action",
    "target",
    "subject_hash",
    "purpose",
    "case_no",
    "outcome",
    "code",
    "request_hash",
    "detail",
    "leaf_hash",
    "ts_text",
]
_TS = pa.timestamp("us", tz="UTC")
_HASH = pa.binary(32)
_sha256 = hashlib.sha256
_VIEWS = 32  # read-only tree views kept (each holds its frontier: ≤ 64 hashes)
_DEFERRED = 8_192  # tree nodes held in memory at most before a group must write them


@dataclass
class AuditEvent:
    """What happened, before it gets a sequence number and time."""

    actor: str
    action: str  # publish | query | grant.request | grant.decide | cert.issue | ...
    outcome: str  # allowed | refused | ok | error | not_found
    target: str | None = None  # resource code, certificate id, grant id, case number …
    subject: str | None = None  # raw ID number or USCC: hashed, never stored
    subject_hash: str | None = None
    purpose: str | None = None
    case_no: str | None = None
    code: str | None = None  # stable error code when refused
    request_hash: str | None = None
    detail: dict[str, Any] | None = None


# One entry as the caller prepares it: the columns of its row (see _ROW_COLUMNS),
# then the leaf data around ``seq`` and ``ts`` (see leaf.encode_parts).
_Row = tuple[Any, ...]
_ROW_COLUMNS = _ENTRY_COLUMNS[2:12]  # actor … detail, in the table's order
_HEAD, _MIDDLE = 10, 11


class _Pending:
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

    def __init__(self, events: list[AuditEvent], rows: list[_Row], work: TxWork | None) -> None:
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


def _row(event: AuditEvent, detail: str | None) -> _Row:
    """The entry's columns and its leaf parts; InvalidRequest for text JSON cannot hold."""
    try:
        head, middle = encode_parts(
            actor=event.actor,
            action=event.action,
            outcome=event.outcome,
            target=event.target,
            subject_hash=event.subject_hash,
            purpose=event.purpose,
            case_no=event.case_no,
            code=event.code,
            request_hash=event.request_hash,
            detail=None if detail is None else detail.encode(),
        )
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(
            f"audit event holds text that is not valid Unicode: {exc}", code=ErrorCode.INVALID_TEXT
        ) from exc
    return (
        event.actor,
        event.action,
        event.target,
        event.subject_hash,
        event.purpose,
        event.case_no,
        event.outcome,
        event.code,
        event.request_hash,
        detail,
        b"\x00" + head,  # the RFC 6962 leaf prefix, once
        middle,
    )


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends entries durably (group commit) into a Merkle log and proves things about it."""

    def __init__(
        self,
        store: Store,
        subject_key: bytes,
        settings: AuditSettings,
        on_commit: OnCommit | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.subjects = SubjectKeys(store, subject_key)
        self.nodes = DuckNodeStore(store)
        self.latency = GroupLatency()  # the latest group commits, for the figures
        self._views: dict[int, MerkleTree] = {}  # read-only trees by size (see tree())
        self._views_lock = threading.Lock()
        self._on_commit = on_commit
        self._failure: BaseException | None = None
        self._incoming: deque[_Pending] = deque()
        self._wakeup = threading.Event()
        self._closing = False
        size = self._recover()
        self._tree = TreeAppender(self.nodes, size)  # the writer's, ahead of the commits
        self._size = size  # committed size: what readers may ask about
        self._check_latest_checkpoint()
        self._commits: queue.Queue[_Prepared | None] = queue.Queue(maxsize=1)
        self._committer = threading.Thread(
            target=self._commit_loop, name="govex-audit-committer", daemon=True
        )
        self._thread = threading.Thread(target=self._run, name="govex-audit-writer", daemon=True)
        self._committer.start()
        self._thread.start()

    # -- public ------------------------------------------------
    @property
    def size(self) -> int:
        """Number of committed entries (the tree size)."""
        return self._size

    @property
    def healthy(self) -> bool:
        return self._failure is None

    def subject_hash(self, subject: str) -> str:
        """Keyed hash of an ID number or USCC with the subject's salt (drawn if new)."""
        return self.subjects.hash(subject)

    def knows_subject(self, subject: str) -> bool:
        """Whether the subject's keyed hash is at hand without a database lookup."""
        return self.subjects.cached(subject)

    def find_subject_hash(self, subject: str) -> str | None:
        """The subject's keyed hash, or ``None`` if no entry can be about this subject."""
        return self.subjects.find(subject)

    def ensure_open(self) -> None:
        """Raise :class:`AuditUnavailable` when the log is closed."""
        if self._failure is not None:
            raise AuditUnavailable(
                f"audit log is unavailable ({self._failure}); the exchange "
                "serves no data until it is restored"
            )

    def append(self, event: AuditEvent, work: TxWork | None = None) -> tuple[int, Any]:
        """Write one entry (and ``work`` in the same transaction); return (seq, work result).

        Returns only when the entry is committed. Raises AuditUnavailable when the log is
        closed; re-raises ``work``'s own exception (the entry is then not written).
        """
        pending = self._prepare([event], work)
        self._queue(pending)
        return self._wait(pending), pending.result

    async def append_async(self, event: AuditEvent) -> int:
        """:meth:`append` for the event loop: waits for the durable commit without holding a
        worker thread, so many more requests can share one group commit."""
        pending = self._prepare([event], None)
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not committed.done():
                committed.set_result(None)

        def wake() -> None:
            loop.call_soon_threadsafe(settle)

        pending.notify = wake
        self._queue(pending)
        await committed
        return self._wait(pending)

    def append_many(self, events: Sequence[AuditEvent]) -> list[int]:
        """Write several entries; return their sequence numbers once all are committed.

        The entries are committed together, in one group and one transaction, with
        consecutive sequence numbers. Much cheaper per entry than :meth:`append` from
        many threads: one latch and one wake-up for the whole batch.
        """
        if not events:
            return []
        pending = self._prepare(list(events), None)
        self._queue(pending)
        first = self._wait(pending)
        return list(range(first, first + len(pending.rows)))

    def _prepare(self, events: list[AuditEvent], work: TxWork | None) -> _Pending:
        self.ensure_open()
        if self._closing:
            raise AuditUnavailable("the audit log is closed")
        request = current_request()
        subject_hash = self.subjects.hash
        rows = []
        for event in events:
            if request is not None:
                if event.request_hash is None:
                    event.request_hash = request.request_hash
                request.entries += 1
            if event.subject is not None:
                event.subject_hash = subject_hash(event.subject)
                event.subject = None
            detail = None if event.detail is None else canonical_detail(event.detail).decode()
            rows.append(_row(event, detail))
        return _Pending(events, rows, work)

    def _queue(self, pending: _Pending) -> None:
        pending.queued = perf_counter()
        self._incoming.append(pending)
        self._wakeup.set()

    @staticmethod
    def _wait(pending: _Pending) -> int:
        pending.done.acquire()
        if pending.error is not None:
            raise pending.error
        request = current_request()
        if request is not None:
            request.last_seq = pending.seq
        return pending.seq

    def write_nodes(self) -> int:
        """Write every committed tree node to ``audit_nodes``; return the committed size.

        Under load the writer keeps a group's tree nodes in memory and writes them with
        a later group (see :meth:`_commit_prepared`): readers of this log see them at
        once, but whoever reads the table itself (export, archive) calls this first.
        """
        pending = self._prepare([], None)
        pending.sync = True
        self._queue(pending)
        self._wait(pending)
        return self._size

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._closing = True
        self._wakeup.set()
        self._thread.join(timeout=30)
        self._committer.join(timeout=30)

    def fail_for_test(self, reason: str) -> None:
        """Close the log as if the writer had failed (used by the fail-closed test)."""
        self._failure = RuntimeError(reason)

    def forget_subject(self, subject: str, *, now: datetime | None = None) -> str | None:
        """Erase a subject's salt (unlinking its entries); refused within retention.

        Returns the subject hash that is now unlinked, or ``None`` if the subject was
        never seen. Raises :class:`Conflict` while any of its entries is younger than
        ``retention_days``.
        """
        found = self.subjects.find(subject)
        if found is None:
            return None
        now = now or datetime.now(UTC)
        row = self.store.fetchone(
            "SELECT max(ts) FROM audit_entries WHERE subject_hash = ?", [found]
        )
        newest = row[0] if row else None
        keep_until = None if newest is None else newest + timedelta(self.settings.retention_days)
        if keep_until is not None and keep_until > now:
            raise Conflict(
                f"the subject has audit entries until {newest:%Y-%m-%d}; they are kept "
                f"{self.settings.retention_days} days (网络安全法 第21条), so the subject "
                f"can be forgotten from {keep_until:%Y-%m-%d}"
            )
        return self.subjects.forget(subject)

    # -- the tree ------------------------------------------------
    def tree(self, size: int | None = None) -> MerkleTree:
        """A read-only view of the committed tree at ``size`` (default: all of it)."""
        committed = self._size
        size = committed if size is None else size
        if not 0 <= size <= committed:
            raise InvalidRequest(
                f"tree size {size} is not within 0..{committed}", code=ErrorCode.INVALID_TREE_SIZE
            )
        view = self._views.get(size)
        if view is None:
            # committed nodes never change, so a view stays valid; keep the latest few
            view = MerkleTree(self.nodes, size)
            with self._views_lock:
                self._views[size] = view
                while len(self._views) > _VIEWS:
                    del self._views[next(iter(self._views))]
        return view

    def root(self, size: int | None = None) -> bytes:
        return self.tree(size).root()

    def leaf_hash(self, index: int) -> bytes:
        return self.tree().leaf(self._check_index(index, self._size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        tree = self.tree(size)
        return tree.inclusion_proof(self._check_index(index, tree.size))

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """Proof that the tree of ``second`` entries extends the tree of ``first``."""
        tree = self.tree(second)
        if not 0 < first <= tree.size:
            raise InvalidRequest(
                f"a consistency proof needs 0 < first ≤ second; got {first} and {tree.size}",
                code=ErrorCode.INVALID_TREE_SIZE,
            )
        return tree.consistency_proof(first)

    @staticmethod
    def _check_index(index: int, size: int) -> int:
        if not 0 <= index < size:
            raise InvalidRequest(
                f"entry index {index} is not below tree size {size}",
                code=ErrorCode.INVALID_ENTRY_INDEX,
            )
        return index

    # -- opening ------------------------------------------------
    def _recover(self) -> int:
        """The tree size, after bringing the stored nodes level with the entries.

        Entries written before the Merkle nodes existed (migration 3) get their nodes
        now, from their stored leaf hashes. Nodes beyond the last entry mean entries
        were removed behind the exchange's back: the log opens closed.
        """
        row = self.store.fetchone(
            "SELECT greatest(coalesce((SELECT max(seq) + 1 FROM audit_entries), 0), "
            "coalesce((SELECT max(end_seq) FROM audit_archives), 0))"
        )
        entries = int(row[0]) if row else 0
        leaves = self.nodes.leaf_count()
        if leaves > entries:
            self._failure = RuntimeError(
                f"the Merkle tree holds {leaves} leaves but the entries end at {entries}: "
                "entries were removed outside the exchange"
            )
            return leaves
        if leaves < entries:
            missing = self.store.fetchall(
                "SELECT seq, leaf_hash FROM audit_entries WHERE seq >= ? ORDER BY seq", [leaves]
            )
            if [int(s) for s, _ in missing] != list(range(leaves, entries)):
                self._failure = RuntimeError(f"audit entries from {leaves} are not contiguous")
                return leaves
            tree = MerkleTree(self.nodes, leaves)
            tree.extend(bytes(h) for _, h in missing)
            with self.store.transaction() as cur:
                items = self.nodes.flush(cur)
            self.nodes.promote(items)
        return entries

    def _check_latest_checkpoint(self) -> None:
        row = self.store.fetchone("SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1")
        if row is None or self._failure is not None:
            return
        size, root = int(row[0]), bytes(row[1])
        if size > self._size or self.root(size) != root:
            self._failure = RuntimeError(
                f"the stored tree does not match the signed checkpoint of size {size}"
            )

    # -- the writer: two threads ------------------------------------------------
    #
    # The *writer* takes queued appends in groups and prepares each group: leaf hashes,
    # the Arrow table of entries, the new tree nodes. The *committer* inserts a prepared
    # group and commits it (DuckDB releases the GIL while it writes and syncs), then
    # wakes the group's callers. With a backlog, group k+1 is prepared while group k is
    # being made durable; with only a few callers waiting, the writer lets the commit in
    # flight finish first, so that everyone who arrives meanwhile joins the next group.
    # The writer extends the in-memory tree ahead of the commits; if a commit fails the
    # log closes, so nothing prepared after it is ever committed.
    # A group where a caller brought transactional work (ingest) runs alone, start to
    # end, in the writer thread, once the committer is idle.

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

    def _take(self, group: list[_Pending], entries: int, limit: int) -> int:
        """Move queued calls into ``group`` while it holds at most ``limit`` entries."""
        incoming = self._incoming
        while incoming and entries + len(incoming[0].rows) <= limit:
            entries += len(incoming[0].rows)
            group.append(incoming.popleft())
        return entries

    def _dispatch(self, group: list[_Pending], idle: bool = True) -> None:
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

    def _unavailable(self) -> AuditUnavailable:
        return AuditUnavailable(f"audit log is unavailable ({self._failure})")

    @staticmethod
    def _release(group: list[_Pending], error: BaseException | None = None) -> None:
        for p in group:
            if p.done.locked():
                if error is not None and p.error is None:
                    p.error = error
                p.release()

    def _prepare_group(self, group: list[_Pending], first: int) -> _Prepared:
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
                columns[_HEAD], range(first, first + n), columns[_MIDDLE], strict=True
            )
        ]
        micros = int(now.timestamp()) * 1_000_000 + now.microsecond
        text = pa.string()
        entries = pa.Table.from_arrays(
            [
                pa.array(range(first, first + n), pa.int64()),
                pa.array([micros] * n, pa.int64()).cast(_TS),
                *(pa.array(columns[i], text) for i in range(len(_ROW_COLUMNS))),
                pa.array(leaves, _HASH),
                pa.array([ts.decode()] * n, text),
            ],
            names=_ENTRY_COLUMNS,
        )
        self._tree.extend(leaves)
        salts = self.subjects.take_staged()
        return _Prepared(group, first, leaves, entries, self.nodes.take(), salts)

    def _insert(
        self, cur: duckdb.DuckDBPyConnection, prepared: _Prepared, nodes: Staged | None
    ) -> None:
        """The group's rows (and ``nodes``), inside the caller's open transaction."""
        if prepared.salts is not None:
            cur.from_arrow(prepared.salts[1]).insert_into("audit_subject_salts")
        if prepared.entries is not None:
            cur.from_arrow(prepared.entries).insert_into("audit_entries")
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

    def _commit_alone(self, group: list[_Pending]) -> None:
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

    def _write_with_work(self, group: list[_Pending]) -> _Prepared:
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
    def _run_work(cur: duckdb.DuckDBPyConnection, p: _Pending) -> None:
        assert p.work is not None
        try:
            p.result = p.work(cur)
        except Exception as exc:
            raise _WorkFailed(p, exc) from exc
        if isinstance(p.result, dict) and "audit_detail" in p.result:
            (e,) = p.events  # work comes with append(): one event
            e.detail = {**(e.detail or {}), **p.result["audit_detail"]}
            p.rows = [_row(e, canonical_detail(e.detail).decode())]


@dataclass
class _Prepared:
    group: list[_Pending]
    first: int
    leaves: list[bytes]
    entries: pa.Table | None
    nodes: Staged
    salts: tuple[list[str], pa.Table] | None
    commit_s: float = 0.0  # how long its transaction took
    write_nodes: bool = True  # write the tree nodes held in memory with this group
    written: Staged | None = None  # the nodes a work group wrote


class _WorkFailed(Exception):
    def __init__(self, pending: _Pending, cause: Exception) -> None:
        super().__init__(str(cause))
        self.pending = pending
        self.cause = cause
