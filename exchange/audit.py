"""The audit log: every exchange is one entry, durable before anything is answered.

Entries are appended with *group commit*: callers queue an event and wait; a writer
thread takes everything queued (up to ``group_commit_max``) as one group, a committer
thread writes the group in one DuckDB transaction (one fsync) and wakes the callers.
Work that must be atomic with its entry (ingest writing records) rides in the same
transaction.

Each entry is leaf ``seq`` of an RFC 6962 Merkle tree; the leaf data is the
canonical JSON of the entry (:mod:`exchange.auditlog.leaf`). In the same
transaction as the entries the writer extends the tree and stores its new nodes
(:mod:`exchange.auditlog.nodes`), so the tree never lags the entries, reopening needs
no rebuild, and roots and proofs for any size read O(log n) nodes.

If the writer fails, the log is *closed*: every later append raises
:class:`AuditUnavailable` and the exchange serves no data (fail closed). It also
opens closed when the stored tree and entries disagree, or the tree does not match
the latest signed checkpoint.

The subject's identifier is never stored: only its keyed hash with a per-subject
salt (:mod:`exchange.auditlog.subjects`).
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from signing.merkle import MerkleTree

from .auditlog.context import current_request
from .auditlog.leaf import AuditEntry, assemble, canonical_detail, encode_parts
from .auditlog.nodes import DuckNodeStore
from .auditlog.subjects import SubjectKeys
from .config import AuditSettings
from .errors import AuditUnavailable, Conflict, InvalidRequest
from .store import Store

__all__ = ["AuditEntry", "AuditEvent", "AuditLog", "TxWork"]

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


class _Pending:
    """A queued append: the event, its pre-encoded leaf parts, and a one-shot latch."""

    __slots__ = (
        "detail",
        "done",
        "error",
        "event",
        "head",
        "middle",
        "notify",
        "result",
        "seq",
        "work",
    )

    def __init__(
        self, event: AuditEvent, head: bytes, middle: bytes, detail: str | None, work: TxWork | None
    ) -> None:
        self.event = event
        self.head = head
        self.middle = middle
        self.detail = detail
        self.work = work
        self.seq = -1
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()  # released by the writer: cheaper than a Future
        self.notify: Callable[[], None] | None = None  # wakes an async waiter

    def release(self) -> None:
        self.done.release()
        if self.notify is not None:
            self.notify()


def _encode(event: AuditEvent, detail: str | None) -> tuple[bytes, bytes]:
    try:
        return encode_parts(
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
        raise InvalidRequest(f"audit event holds text that is not valid Unicode: {exc}") from exc


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
        self._on_commit = on_commit
        self._failure: BaseException | None = None
        self._incoming: deque[_Pending] = deque()
        self._wakeup = threading.Event()
        self._closing = False
        size = self._recover()
        self._tree = MerkleTree(self.nodes, size)
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
        pending = self._prepare(event, work)
        self._incoming.append(pending)
        self._wakeup.set()
        return self._wait(pending), pending.result

    async def append_async(self, event: AuditEvent) -> int:
        """:meth:`append` for the event loop: waits for the durable commit without holding a
        worker thread, so many more requests can share one group commit."""
        pending = self._prepare(event, None)
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not committed.done():
                committed.set_result(None)

        def wake() -> None:
            loop.call_soon_threadsafe(settle)

        pending.notify = wake
        self._incoming.append(pending)
        self._wakeup.set()
        await committed
        return self._wait(pending)

    def append_many(self, events: Sequence[AuditEvent]) -> list[int]:
        """Write several entries; return their sequence numbers once all are committed.

        The entries may be committed in more than one group, but each is durable before
        this returns. Cheaper per entry than :meth:`append` from many threads: one
        wake-up for the whole batch.
        """
        pendings = [self._prepare(event, None) for event in events]
        self._incoming.extend(pendings)
        self._wakeup.set()
        return [self._wait(p) for p in pendings]

    def _prepare(self, event: AuditEvent, work: TxWork | None) -> _Pending:
        self.ensure_open()
        if self._closing:
            raise AuditUnavailable("the audit log is closed")
        request = current_request()
        if request is not None:
            if event.request_hash is None:
                event.request_hash = request.request_hash
            request.entries += 1
        if event.subject is not None:
            event.subject_hash = self.subjects.hash(event.subject)
            event.subject = None
        detail = None if event.detail is None else canonical_detail(event.detail).decode()
        head, middle = _encode(event, detail)
        return _Pending(event, head, middle, detail, work)

    @staticmethod
    def _wait(pending: _Pending) -> int:
        pending.done.acquire()
        if pending.error is not None:
            raise pending.error
        request = current_request()
        if request is not None:
            request.last_seq = pending.seq
        return pending.seq

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
            raise InvalidRequest(f"tree size {size} is not within 0..{committed}")
        return MerkleTree(self.nodes, size)

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
                f"a consistency proof needs 0 < first ≤ second; got {first} and {tree.size}"
            )
        return tree.consistency_proof(first)

    @staticmethod
    def _check_index(index: int, size: int) -> int:
        if not 0 <= index < size:
            raise InvalidRequest(f"entry index {index} is not below tree size {size}")
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
        if size > self._size or self._tree.root(size) != root:
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
                    if len(incoming) < backlog:
                        # a small group: wait for the commit in flight, gathering meanwhile
                        self._commits.join()
                    group = [incoming.popleft() for _ in range(min(limit, len(incoming)))]
                    try:
                        self._dispatch(group)
                    except BaseException as exc:  # never leave a caller waiting
                        self._failure = self._failure or exc
                        self._release(group, AuditUnavailable(f"audit write failed: {exc}"))
                if self._closing and not incoming:
                    return
        finally:
            self._commits.put(None)
            self._release(list(incoming), AuditUnavailable("the audit log is closed"))

    def _dispatch(self, group: list[_Pending]) -> None:
        if self._failure is not None:
            self._release(group, self._unavailable())
            return
        if self._on_commit is None and all(p.work is None for p in group):
            self._commits.put(self._prepare_group(group, self._tree.size))
            return
        self._commits.join()  # the committer is idle: this group runs alone
        self._commit_alone(group)

    def _commit_loop(self) -> None:
        cur = self.store.cursor()
        while True:
            prepared = self._commits.get()
            try:
                if prepared is None:
                    return
                self._commit_prepared(cur, prepared)
            except BaseException as exc:  # never leave a caller waiting, never die silently
                self._failure = self._failure or exc
                if prepared is not None:
                    self._release(prepared.group, AuditUnavailable(f"audit write failed: {exc}"))
            finally:
                self._commits.task_done()

    def _commit_prepared(self, cur: duckdb.DuckDBPyConnection, prepared: _Prepared) -> None:
        if self._failure is not None:
            self._release(prepared.group, self._unavailable())
            return
        try:
            cur.begin()
            self._insert(cur, prepared)
            cur.commit()
        except Exception as exc:  # the store failed: close the log (fail closed)
            with suppress(duckdb.Error):
                cur.rollback()
            self._failure = exc
            self._release(prepared.group, AuditUnavailable(f"audit write failed: {exc}"))
            return
        self._committed(prepared)

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
        ts = _iso(now)
        ts_bytes = ts.encode()
        n = len(group)
        leaves = [
            _sha256(b"\x00" + assemble(p.head, s, p.middle, ts_bytes)).digest()
            for p, s in zip(group, range(first, first + n), strict=True)
        ]
        # one pass over the group, then one column per field (Arrow converts in C)
        events = [p.event for p in group]
        (actor, action, target, subject, purpose, case_no, outcome, code, request, detail) = zip(
            *[
                (
                    e.actor,
                    e.action,
                    e.target,
                    e.subject_hash,
                    e.purpose,
                    e.case_no,
                    e.outcome,
                    e.code,
                    e.request_hash,
                    p.detail,
                )
                for e, p in zip(events, group, strict=True)
            ],
            strict=True,
        )
        micros = int(now.timestamp()) * 1_000_000 + now.microsecond
        text = pa.string()
        entries = pa.Table.from_arrays(
            [
                pa.array(range(first, first + n), pa.int64()),
                pa.array([micros] * n, pa.int64()).cast(_TS),
                pa.array(actor, text),
                pa.array(action, text),
                pa.array(target, text),
                pa.array(subject, text),
                pa.array(purpose, text),
                pa.array(case_no, text),
                pa.array(outcome, text),
                pa.array(code, text),
                pa.array(request, text),
                pa.array(detail, text),
                pa.array(leaves, _HASH),
                pa.array([ts] * n, text),
            ],
            names=_ENTRY_COLUMNS,
        )
        self._tree.extend(leaves)
        salts = self.subjects.take_staged()
        return _Prepared(group, first, leaves, entries, self.nodes.take(), salts)

    def _insert(self, cur: duckdb.DuckDBPyConnection, prepared: _Prepared) -> None:
        """The group's rows, inside the caller's open transaction."""
        if prepared.salts is not None:
            cur.from_arrow(prepared.salts[1]).insert_into("audit_subject_salts")
        cur.from_arrow(prepared.entries).insert_into("audit_entries")
        cur.from_arrow(self.nodes.table(prepared.nodes)).insert_into("audit_nodes")

    def _committed(self, prepared: _Prepared) -> None:
        if prepared.salts is not None:
            self.subjects.committed(prepared.salts[0])
        self.nodes.promote(prepared.nodes)
        for offset, p in enumerate(prepared.group):
            p.seq = prepared.first + offset
        self._size = prepared.first + len(prepared.group)
        self._release(prepared.group)

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
            self._failure = exc
            self._release(group, AuditUnavailable(f"audit write failed: {exc}"))
            return
        self._committed(prepared)

    def _write_with_work(self, group: list[_Pending]) -> _Prepared:
        cur = self.store.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            for p in group:
                if p.work is not None:
                    self._run_work(cur, p)
            prepared = self._prepare_group(group, self._tree.size)
            self._insert(cur, prepared)
            if self._on_commit is not None:
                self._on_commit(cur, prepared.first, prepared.leaves)
            cur.execute("COMMIT")
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
            e = p.event
            e.detail = {**(e.detail or {}), **p.result["audit_detail"]}
            p.detail = canonical_detail(e.detail).decode()
            p.head, p.middle = _encode(e, p.detail)


@dataclass
class _Prepared:
    group: list[_Pending]
    first: int
    leaves: list[bytes]
    entries: pa.Table
    nodes: list[tuple[int, int, bytes]]
    salts: tuple[list[str], pa.Table] | None


class _WorkFailed(Exception):
    def __init__(self, pending: _Pending, cause: Exception) -> None:
        super().__init__(str(cause))
        self.pending = pending
        self.cause = cause
