"""The audit log: every exchange is one entry, durable before anything is answered.

Entries are appended with *group commit* (:mod:`exchange.audit.writer`): callers queue
an event (or, with ``append_many``, a batch that commits whole) and wait; a writer
thread appends everything queued (up to ``group_commit_max`` entries) as one group to
the log's segment files (:mod:`exchange.audit.segments`, the system of record) and a
syncer thread makes the groups written meanwhile durable with one ``fdatasync`` and
wakes their callers. Callers encode their entries' leaf data themselves, so the writer
only splices in ``seq`` and ``ts`` and hashes; :attr:`AuditLog.latency` keeps the latest
groups' sync and wait times.

Each entry is leaf ``seq`` of an RFC 6962 Merkle tree; the leaf data is the
canonical JSON of the entry (:mod:`exchange.audit.leaf`). The writer extends the
tree as it writes a group; its nodes are kept in files beside the segments, the C2SP
hash tiles among them (:mod:`exchange.audit.tilestore`), so roots and proofs for any
size read one hash per level and never touch a table.

DuckDB holds the searchable index (``audit_entries``, ``audit_subjects``), filled from
the durable groups by an indexer thread and rebuilt from the segments when the log
opens (:mod:`exchange.audit.recovery`); it trails the log by at most
:data:`~exchange.audit.writer.INDEX_LAG_MAX` entries (:attr:`AuditLog.index_lag`,
reported on ``/healthz``), and whoever reads the audit tables through the store first
waits until they hold every committed entry (:meth:`AuditLog.wait_indexed`). Work that
must be atomic with its entry (ingest writing records) commits with the entry's index
row; the entry is durable before that transaction commits, and recovery voids an entry
whose work never committed.

Below a floor of free disk space (:mod:`exchange.audit.space`) the log refuses new
entries with :class:`exchange.errors.AuditDiskFull` but stays open, so it never meets
a full disk mid-commit. If the writer fails, the log is *closed*: every later append raises
:class:`AuditUnavailable` and the exchange serves no data (fail closed). It also
opens closed when the segments, the tree's files and the index disagree, or the tree
does not match the latest signed checkpoint.

The subject's identifier is never stored: only its keyed hash with a per-subject
salt (:mod:`exchange.audit.subjects`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.audit.context import current_request
from exchange.audit.event import AuditEvent, Row, encode_event, valid_text
from exchange.audit.leaf import AuditEntry
from exchange.audit.query import SUBJECT_SQL
from exchange.audit.recovery import Recovered, recover
from exchange.audit.segments import SegmentWriter
from exchange.audit.space import DiskFloor
from exchange.audit.subjects import SubjectKeys
from exchange.audit.writer import GroupCommitWriter, OnCommit, Pending, TxWork
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable, Conflict, InvalidRequest
from exchange.store import Store
from schemas.errors import ErrorCode
from signing.merkle import MerkleTree

__all__ = ["AuditEntry", "AuditEvent", "AuditLog", "TxWork"]

_VIEWS = 32  # read-only tree views kept (each holds its frontier: ≤ 64 hashes)


class AuditLog(GroupCommitWriter):
    """Appends entries durably (group commit) into a Merkle log and proves things about it."""

    def __init__(
        self,
        store: Store,
        subject_key: bytes,
        settings: AuditSettings,
        on_commit: OnCommit | None = None,
    ) -> None:
        super().__init__(store, settings, SubjectKeys(store, subject_key), on_commit)
        self.space = DiskFloor(store.data_dir, settings.min_free_bytes)
        self._views: dict[int, MerkleTree] = {}  # read-only trees by size (see tree())
        self._views_lock = threading.Lock()
        segments = SegmentWriter(store.data_dir)
        self.recovered: Recovered = recover(store, segments, self.nodes)
        if self.recovered.failure is not None:
            self._failure = RuntimeError(self.recovered.failure)
        size = segments.size
        self._size = size
        self._check_latest_checkpoint()
        self._start_writer(segments, size, self.recovered.indexed or size)
        store.audit_barrier = self.wait_indexed
        if self.recovered.voided and self._failure is None:
            self._void(self.recovered.voided)

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
        if work is not None and self.store.in_transaction():
            # the caller's open transaction (a control event's apply) takes the work: it
            # commits after this entry is durable, with the caller's other writes
            result = work(self.store.cursor())
            if isinstance(result, dict) and "audit_detail" in result:
                event.detail = {**(event.detail or {}), **result["audit_detail"]}
            seq, _ = self.append(event)
            return seq, result
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

    def _prepare(self, events: list[AuditEvent], work: TxWork | None) -> Pending:
        """Encode the events into rows; only then count them as the request's entries.

        Counting first would leave a request whose event fails to encode with neither
        its own entry nor the audit middleware's.
        """
        self.ensure_open()
        if self._closing:
            raise AuditUnavailable("the audit log is closed")
        self.space.check()
        request = current_request()
        rows: list[Row] = []
        append, known = rows.append, self.subjects.known
        for event in events:
            if request is not None:
                if event.request_hash is None:
                    event.request_hash = request.request_hash
                if event.person is None:
                    event.person = request.person
            raw = event.subject
            if raw is not None and event.subject_hash is None:
                # the usual entry: one (non-blank) subject met before, no lists
                found = known(raw)
                if (
                    found is not None
                    and not event.subjects
                    and not event.subject_hashes
                    and raw.strip()
                ):
                    event.subject_hash, event.subject = found, None
                else:
                    self._hash_subjects(event)
            elif raw is not None or event.subjects or event.subject_hashes:
                self._hash_subjects(event)
            append(encode_event(event))
        if request is not None:
            request.entries += len(events)
        return Pending(events, rows, work)

    def _hash_subjects(self, event: AuditEvent) -> None:
        """Replace the event's raw identifiers by keyed hashes: the first in
        ``subject_hash``, the further ones (each once) in ``subject_hashes``."""
        subject_hash = self.subjects.hash
        raw = event.subject
        if event.subject_hash is None and not event.subjects and not event.subject_hashes:
            if raw is not None and raw.strip():  # the usual entry: one subject, no lists
                try:
                    event.subject_hash = subject_hash(raw)
                except UnicodeError:
                    event.subject_hash = subject_hash(valid_text(raw))
            event.subject = None
            return
        found = [] if event.subject_hash is None else [event.subject_hash]
        if len(event.subjects) > 1:
            self.subjects.prefetch([s for s in event.subjects if s is not None])
        for raw in (event.subject, *event.subjects):
            if raw is None or not raw.strip():
                continue
            try:
                found.append(subject_hash(raw))
            except UnicodeError:  # a lone surrogate: hash the text made encodable
                found.append(subject_hash(valid_text(raw)))
        found.extend(event.subject_hashes)
        unique = list(dict.fromkeys(found))
        event.subject_hash = unique[0] if unique else None
        event.subject_hashes = unique[1:]
        event.subject, event.subjects = None, []

    def write_nodes(self) -> int:
        """Wait until the index holds every committed entry; return the committed size.

        The tree's nodes are in their files as soon as a group is written; whoever
        reads the entries' table itself (export, archive) calls this first.
        """
        pending = self._prepare([], None)
        pending.sync = True
        self._queue(pending)
        self._wait(pending)
        self.wait_indexed()
        return self._size

    def _void(self, seqs: list[int]) -> None:
        """Entries whose transactional work never committed (a crash): say so in the log."""
        self.append_many(
            [
                AuditEvent(
                    actor="govex",
                    action="audit.void",
                    outcome="ok",
                    target=None,
                    detail={"seq": seq, "reason": "its work was not committed before a crash"},
                )
                for seq in seqs
            ]
        )

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        self._closing = True
        self._wakeup.set()
        self._thread.join(timeout=30)
        self._syncer.join(timeout=30)
        self._indexer.join(timeout=30)
        if self.store.audit_barrier == self.wait_indexed:
            self.store.audit_barrier = None
        if self._failure is None and not self._thread.is_alive():
            self._sync_tiles(self._size)
        self.segments.close()
        self.nodes.close()

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
            f"SELECT max(ts) FROM audit_entries WHERE {SUBJECT_SQL}",  # noqa: S608 - constant
            [found, found],
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
    def _check_latest_checkpoint(self) -> None:
        row = self.store.fetchone("SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1")
        if row is None or self._failure is not None:
            return
        size, root = int(row[0]), bytes(row[1])
        if size > self._size or self.root(size) != root:
            self._failure = RuntimeError(
                f"the stored tree does not match the signed checkpoint of size {size}"
            )
