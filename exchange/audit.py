"""The audit log: every exchange is one entry, durable before anything is answered.

Entries are appended by one writer thread with *group commit*: callers enqueue an
event and wait; the writer takes everything queued (up to ``group_commit_max``),
writes it in one DuckDB transaction and wakes the callers. Work that must be atomic
with its entry (ingest writing records) rides in the same transaction.

If the writer fails, the log is *closed*: every later append raises
:class:`AuditUnavailable` and the exchange serves no data (fail closed).

Each entry is a leaf of an RFC 6962 Merkle tree (leaf = canonical JSON of the entry);
the tree's nodes are stored beside the entries, so proofs need no rebuild.
The subject's identifier is never stored: only its keyed hash (HMAC-SHA-256).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from signing.canonical import canonicalize
from signing.merkle import leaf_hash

from .config import AuditSettings
from .errors import AuditUnavailable
from .store import Store

__all__ = ["AuditEntry", "AuditEvent", "AuditLog"]

TxWork = Callable[[duckdb.DuckDBPyConnection], Any]


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


@dataclass
class AuditEntry:
    seq: int
    ts: str
    actor: str
    action: str
    outcome: str
    target: str | None
    subject_hash: str | None
    purpose: str | None
    case_no: str | None
    code: str | None
    request_hash: str | None
    detail: dict[str, Any] | None

    def leaf_bytes(self) -> bytes:
        return canonicalize(self.__dict__)

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf_bytes())


@dataclass
class _Pending:
    event: AuditEvent
    work: TxWork | None
    future: Future[tuple[int, Any]] = field(default_factory=Future)


class AuditLog:
    """Appends entries durably (group commit) and answers queries over them."""

    def __init__(
        self,
        store: Store,
        hmac_key: bytes,
        settings: AuditSettings,
        on_commit: Callable[[duckdb.DuckDBPyConnection, int, list[bytes]], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._hmac_key = hmac_key
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._failure: BaseException | None = None
        self._on_commit = on_commit
        row = store.fetchone("SELECT coalesce(max(seq), -1) FROM audit_entries")
        self._next_seq = int(row[0]) + 1 if row else 0
        self._thread = threading.Thread(target=self._run, name="govex-audit-writer", daemon=True)
        self._thread.start()

    # -- public ------------------------------------------------
    @property
    def size(self) -> int:
        return self._next_seq

    @property
    def healthy(self) -> bool:
        return self._failure is None

    def subject_hash(self, subject: str) -> str:
        """Keyed hash of an ID number or USCC: linkable by the exchange, not reversible."""
        return hmac.new(
            self._hmac_key, subject.strip().upper().encode(), hashlib.sha256
        ).hexdigest()

    def append(self, event: AuditEvent, work: TxWork | None = None) -> tuple[int, Any]:
        """Write one entry (and ``work`` in the same transaction); return (seq, work result).

        Returns only when the entry is committed. Raises AuditUnavailable when the log is
        closed; re-raises ``work``'s own exception (the entry is then not written).
        """
        if self._failure is not None:
            raise AuditUnavailable(
                f"audit log is unavailable ({self._failure}); the exchange "
                "serves no data until it is restored"
            )
        if event.subject is not None:
            event.subject_hash = self.subject_hash(event.subject)
            event.subject = None
        pending = _Pending(event, work)
        self._queue.put(pending)
        return pending.future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def fail_for_test(self, reason: str) -> None:
        """Close the log as if the writer had failed (used by the fail-closed test)."""
        self._failure = RuntimeError(reason)

    # -- writer thread ------------------------------------------------
    def _run(self) -> None:
        wait_s = self.settings.group_commit_wait_ms / 1000
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < self.settings.group_commit_max:
                try:
                    item = (
                        self._queue.get(timeout=wait_s) if wait_s > 0 else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._commit_group(group)
            if stop:
                return

    def _commit_group(self, group: list[_Pending]) -> None:
        if self._failure is not None:
            for p in group:
                p.future.set_exception(
                    AuditUnavailable(f"audit log is unavailable ({self._failure})")
                )
            return
        try:
            results = self._write(group)
        except _WorkFailed as wf:
            # one caller's work failed: fail it alone, retry the rest of the group
            wf.pending.future.set_exception(wf.cause)
            rest = [p for p in group if p is not wf.pending]
            if rest:
                self._commit_group(rest)
            return
        except Exception as exc:  # the store itself failed: close the log (fail closed)
            self._failure = exc
            for p in group:
                p.future.set_exception(AuditUnavailable(f"audit write failed: {exc}"))
            return
        for p, result in zip(group, results, strict=True):
            p.future.set_result(result)

    def _write(self, group: list[_Pending]) -> list[tuple[int, Any]]:
        cur = self.store.cursor()
        seq = self._next_seq
        now = datetime.now(UTC)
        entries: list[AuditEntry] = []
        out: list[tuple[int, Any]] = []
        cur.execute("BEGIN TRANSACTION")
        try:
            for p in group:
                result = None
                if p.work is not None:
                    try:
                        result = p.work(cur)
                    except Exception as exc:
                        raise _WorkFailed(p, exc) from exc
                e = p.event
                if isinstance(result, dict) and "audit_detail" in result:
                    e.detail = {**(e.detail or {}), **result["audit_detail"]}
                entries.append(
                    AuditEntry(
                        seq=seq,
                        ts=now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                        actor=e.actor,
                        action=e.action,
                        outcome=e.outcome,
                        target=e.target,
                        subject_hash=e.subject_hash,
                        purpose=e.purpose,
                        case_no=e.case_no,
                        code=e.code,
                        request_hash=e.request_hash,
                        detail=e.detail,
                    )
                )
                out.append((seq, result))
                seq += 1
            leaves = [entry.leaf_hash() for entry in entries]
            table = pa.table(
                {
                    "seq": [x.seq for x in entries],
                    "ts": [now] * len(entries),
                    "actor": [x.actor for x in entries],
                    "action": [x.action for x in entries],
                    "target": [x.target for x in entries],
                    "subject_hash": [x.subject_hash for x in entries],
                    "purpose": [x.purpose for x in entries],
                    "case_no": [x.case_no for x in entries],
                    "outcome": [x.outcome for x in entries],
                    "code": [x.code for x in entries],
                    "request_hash": [x.request_hash for x in entries],
                    "detail": [
                        None
                        if x.detail is None
                        else json.dumps(x.detail, ensure_ascii=False, sort_keys=True)
                        for x in entries
                    ],
                    "leaf_hash": leaves,
                    "ts_text": [x.ts for x in entries],
                }
            )
            cur.register("audit_batch", table)
            cur.execute(
                "INSERT INTO audit_entries SELECT seq, ts, actor, action, target, subject_hash, "
                "purpose, case_no, outcome, code, request_hash, detail, leaf_hash, ts_text "
                "FROM audit_batch"
            )
            cur.unregister("audit_batch")
            if self._on_commit is not None:
                self._on_commit(cur, self._next_seq, leaves)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self._next_seq = seq
        return out


class _WorkFailed(Exception):
    def __init__(self, pending: _Pending, cause: Exception) -> None:
        super().__init__(str(cause))
        self.pending = pending
        self.cause = cause
