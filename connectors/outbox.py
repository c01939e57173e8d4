"""The durable local outbox: every mapped record is stored here before it is published.

A connector writes each mapped record to a local SQLite file first (WAL,
``synchronous=FULL``); from then on it cannot be lost. Records move through three
states, each change one transaction::

    pending ──seal──▶ sealed (in a batch whose message bytes are kept) ──ack──▶ sent

* the watermark of incremental sync is written in the same transaction as the records
  it covers, so a run killed at any moment resumes exactly where the outbox stands;
* a sealed batch keeps its exact message bytes until it is acknowledged, so a resend
  after a crash is byte-identical — the exchange recognises the batch id and drops it;
* ``(key, version)`` is unique: reading the same rows twice adds nothing;
* the rows the last run refused are kept (``refused``) so the next run retries them
  even when they are older than the watermark, and reports them until they publish or
  leave the source.

Records are kept per chunk, not per record: each :meth:`Outbox.add` writes one ``chunks`` row
holding its new records (their JSON bodies in one blob), and ``(key, version)`` goes into the
narrow ``seen`` index that dedupes; sealing a batch writes the batch (its message bytes and the
source line of each record) and rewrites or drops the chunks it took records from. An outbox
written before chunks (records one row each, in ``records``) is read as it is: its pending
records move into one chunk when it is opened, its batches keep their lines in ``records``.

One run at a time: the outbox takes an exclusive lock on ``<file>.lock``.
"""

from __future__ import annotations

import bisect
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from .base import RowProblem
from .errors import OutboxError
from .mapping import MappedRecord

__all__ = ["Outbox", "OutboxBatch", "PendingRecord", "refused_ident", "watermark_key"]

_FORMAT = "2"  # chunks (meta 'format'); an outbox without it keeps records one row each

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  version INTEGER NOT NULL,
  body BLOB NOT NULL,
  line INTEGER NOT NULL,
  batch_id TEXT,
  batch_index INTEGER,
  UNIQUE (key, version));
CREATE INDEX IF NOT EXISTS records_pending ON records (seq) WHERE batch_id IS NULL;
CREATE INDEX IF NOT EXISTS records_batch ON records (batch_id, batch_index);
CREATE TABLE IF NOT EXISTS batches (
  batch_id TEXT PRIMARY KEY,
  created_at REAL NOT NULL,
  size INTEGER NOT NULL,
  first_key TEXT NOT NULL,
  payload BLOB,
  state TEXT NOT NULL,
  sent_at REAL,
  result TEXT);
CREATE INDEX IF NOT EXISTS batches_state ON batches (state, created_at);
CREATE TABLE IF NOT EXISTS seen (
  key TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (key, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  heads BLOB NOT NULL,
  bodies BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS refused (
  ident TEXT PRIMARY KEY,
  line INTEGER NOT NULL,
  key TEXT,
  reason TEXT NOT NULL,
  code TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A record in the outbox not yet in a batch; ``body`` is ``{key, version, data}`` JSON.

    ``record``: the object ``body`` was written from, when this run stored it (the sealer then
    need not parse ``body`` again); None for a record read back from the file.
    """

    seq: int
    key: str
    version: int
    body: bytes
    line: int
    record: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """A sealed batch waiting for its acknowledgement: the exact message bytes to (re)send."""

    batch_id: str
    size: int
    first_key: str
    payload: bytes


def _encode_watermark(value: Any) -> str:
    if isinstance(value, bool):
        raise OutboxError(f"a watermark cannot be a boolean ({value!r})")
    if isinstance(value, int):
        return orjson.dumps({"int": value}).decode()
    if isinstance(value, datetime):
        return orjson.dumps({"datetime": value.isoformat()}).decode()
    if isinstance(value, date):
        return orjson.dumps({"date": value.isoformat()}).decode()
    return orjson.dumps({"text": str(value)}).decode()


def _decode_watermark(text: str) -> Any:
    tagged = orjson.loads(text)
    if "int" in tagged:
        return int(tagged["int"])
    if "datetime" in tagged:
        return datetime.fromisoformat(tagged["datetime"])
    if "date" in tagged:
        return date.fromisoformat(tagged["date"])
    return str(tagged["text"])


def refused_ident(problem: RowProblem) -> str:
    """How a refused row is found again on the next run: its key, else its line."""
    return f"key:{problem.key}" if problem.key else f"line:{problem.line}"


def watermark_key(value: Any) -> Any:
    """A value comparable across the types a watermark column may hold (for max/compare).

    Date-times compare with one separator (``2026-01-05 09:30`` and ``2026-01-05T09:30``
    alike), so a ``--since`` given either way orders as the column's text does."""
    if isinstance(value, datetime):
        return (1, value.isoformat(sep=" "))
    if isinstance(value, date):
        return (1, value.isoformat())
    if isinstance(value, int | float):
        return (0, value)
    text = str(value)
    if len(text) > 10 and text[10] == "T" and text[:4].isdigit():
        text = f"{text[:10]} {text[11:]}"
    return (1, text)


class Outbox:
    """One connector's outbox file (SQLite), bound to one resource."""

    def __init__(self, path: Path, resource: str) -> None:
        self.path = Path(path)
        self.resource = resource
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutboxError(f"cannot create the outbox folder {self.path.parent}: {exc}") from exc
        self._lock_fd = self._lock()
        # The pending records in seq order, exactly as the file holds them, while that is
        # known (None: read them from the file). Saves reading back what was just written.
        self._pending: list[PendingRecord] | None = None
        self._chunks: list[int] = []  # the first seq of each chunk row, ascending (with _pending)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._bind_resource()
            self._upgrade()
            self._load()
        except sqlite3.Error as exc:
            self._unlock()
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc
        except BaseException:
            self._unlock()
            raise

    # -- locking -------------------------------------------------
    def _lock(self) -> int:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutboxError(
                f"outbox {self.path} is in use by another connector run (pid {owner}); "
                "wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _unlock(self) -> None:
        with suppress(OSError):
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)

    def _bind_resource(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'resource'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('resource', ?)", [self.resource])
        elif row[0] != self.resource:
            raise OutboxError(
                f"outbox {self.path} belongs to resource {row[0]}, not {self.resource}; "
                "give each connector its own outbox"
            )

    def _upgrade(self) -> None:
        """Bring an outbox of records one row each to chunks, once (one transaction): its
        ``(key, version)`` pairs into ``seen``, its pending records into one chunk; its sealed
        and sent records stay where they are (their batches' lines are read from them)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(batches)")}
        if "lines" not in columns:
            self._db.execute("ALTER TABLE batches ADD COLUMN lines BLOB")
        row = self._db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        if row is not None:
            return
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO seen SELECT key, version FROM records")
            top = db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
            rows = db.execute(
                "SELECT seq, key, version, body, line FROM records WHERE batch_id IS NULL "
                "ORDER BY seq"
            ).fetchall()
            if rows:
                self._write_chunk(db, [PendingRecord(*r) for r in rows])
                db.execute("DELETE FROM records WHERE batch_id IS NULL")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", [str(top)])
            db.execute("INSERT INTO meta VALUES ('format', ?)", [_FORMAT])
        self._pending = None

    @staticmethod
    def _write_chunk(db: sqlite3.Connection, records: Sequence[PendingRecord]) -> None:
        """One chunk row holding ``records`` (ascending seq), under the seq of the first."""
        heads = orjson.dumps([[r.seq, r.key, r.version, r.line] for r in records])
        bodies = b"\n".join(r.body for r in records)  # JSON bodies never hold a raw newline
        db.execute(
            "INSERT OR REPLACE INTO chunks (id, size, heads, bodies) VALUES (?, ?, ?, ?)",
            [records[0].seq, len(records), heads, bodies],
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: {exc}") from exc
        try:
            yield self._db
        except BaseException:
            self._pending = None
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._pending = None
            raise OutboxError(f"outbox {self.path}: commit failed: {exc}") from exc

    # -- writing -------------------------------------------------
    def add(self, records: Sequence[MappedRecord], watermark: Any = None) -> int:
        """Store mapped records (and the new watermark) in one transaction, as one chunk;
        return how many were new — a ``(key, version)`` already in the outbox is not stored
        twice."""
        firsts: dict[tuple[str, int], MappedRecord] = {}
        for r in records:
            firsts.setdefault((r.key, r.version), r)
        try:
            with self._transaction() as db:
                new = self._remember(db, list(firsts))
                if new is not None:
                    fresh = [firsts[kv] for kv in firsts if kv in new]
                else:
                    fresh = list(firsts.values())
                added: list[PendingRecord] = []
                if fresh:
                    seq = int(db.execute("SELECT value FROM meta WHERE name = 'seq'").fetchone()[0])
                    dumps = orjson.dumps
                    objects = [{"key": r.key, "version": r.version, "data": r.data} for r in fresh]
                    added = [
                        PendingRecord(seq + 1 + i, r.key, r.version, dumps(o), r.line, o)
                        for i, (r, o) in enumerate(zip(fresh, objects, strict=True))
                    ]
                    self._write_chunk(db, added)
                    db.execute(
                        "UPDATE meta SET value = ? WHERE name = 'seq'", [str(seq + len(added))]
                    )
                if watermark is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('watermark', ?)",
                        [_encode_watermark(watermark)],
                    )
                if self._pending is not None and added:
                    self._pending.extend(added)
                    self._chunks.append(added[0].seq)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot store records: {exc}") from exc
        return len(added)

    @staticmethod
    def _remember(db: sqlite3.Connection, pairs: list[tuple[str, int]]) -> set[Any] | None:
        """Add ``pairs`` (distinct) to ``seen``; the new ones, or None when every one was."""
        db.execute("SAVEPOINT remember")
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", pairs)
        if db.total_changes - before == len(pairs):  # the usual case: one statement
            db.execute("RELEASE remember")
            return None
        db.execute("ROLLBACK TO remember")  # some were there: ask row by row which
        new: set[Any] = set()
        for pair in pairs:
            if db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", pair).rowcount:
                new.add(pair)
        db.execute("RELEASE remember")
        return new

    def save_batch(
        self, batch_id: str, records: Sequence[PendingRecord], payload: bytes
    ) -> OutboxBatch:
        """Record that ``records`` (pending ones) form the sealed batch ``batch_id`` with these
        message bytes: the batch row, and the chunks they came from rewritten without them."""
        batch = OutboxBatch(batch_id, len(records), records[0].key, payload)
        pending = self._load()
        sealed = {r.seq for r in records}
        n = len(records)
        if [r.seq for r in pending[:n]] == [r.seq for r in records]:
            left = pending[n:]  # the usual case: the oldest pending records
        else:
            left = [r for r in pending if r.seq not in sealed]
        chunks = self._chunks
        touched = sorted({chunks[bisect.bisect_right(chunks, q) - 1] for q in sealed})
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO batches (batch_id, created_at, size, first_key, payload, state, "
                    "lines) VALUES (?, ?, ?, ?, ?, 'sealed', ?)",
                    [
                        batch_id,
                        time.time(),
                        batch.size,
                        batch.first_key,
                        payload,
                        orjson.dumps([r.line for r in records]),
                    ],
                )
                kept: list[int] = []
                for first in touched:
                    position = chunks.index(first)
                    end = chunks[position + 1] if position + 1 < len(chunks) else None
                    rest = [r for r in left if r.seq >= first and (end is None or r.seq < end)]
                    db.execute("DELETE FROM chunks WHERE id = ?", [first])
                    if rest:
                        self._write_chunk(db, rest)
                        kept.append(rest[0].seq)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot store batch: {exc}") from exc
        gone = set(touched)
        self._chunks = sorted([c for c in chunks if c not in gone] + kept)
        self._pending = left
        return batch

    def mark_sent(self, batch_id: str, result: dict[str, Any] | None = None) -> None:
        """The batch is acknowledged: drop its message bytes (``seen`` keeps its keys)."""
        self._finish(batch_id, "sent", result)

    def mark_refused(self, batch_id: str, reason: str) -> None:
        """The exchange refused the batch for good (it holds it in its quarantine)."""
        self._finish(batch_id, "refused", {"reason": reason})

    def _finish(self, batch_id: str, state: str, result: dict[str, Any] | None) -> None:
        try:
            with self._transaction() as db:
                db.execute(
                    "UPDATE batches SET state = ?, payload = NULL, sent_at = ?, result = ? "
                    "WHERE batch_id = ?",
                    [
                        state,
                        time.time(),
                        orjson.dumps(result).decode() if result else None,
                        batch_id,
                    ],
                )
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot mark batch {state}: {exc}") from exc

    def remember_refused(self, problems: Sequence[RowProblem]) -> None:
        """Keep ``problems`` (this run's refused rows) as the rows to retry next run."""
        rows = [(refused_ident(p), p.line, p.key, p.reason, p.code) for p in problems]
        try:
            with self._transaction() as db:
                db.execute("DELETE FROM refused")
                db.executemany("INSERT OR REPLACE INTO refused VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot keep the refused rows: {exc}") from exc

    def reset_watermark(self) -> None:
        """Forget the watermark: the next read starts at the beginning of the source."""
        try:
            with self._transaction() as db:
                db.execute("DELETE FROM meta WHERE name = 'watermark'")
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path}: cannot reset the watermark: {exc}") from exc

    # -- reading -------------------------------------------------
    def refused(self) -> dict[str, RowProblem]:
        """The rows refused by the last run, by identity (:func:`refused_ident`)."""
        rows = self._db.execute("SELECT ident, line, key, reason, code FROM refused").fetchall()
        return {str(i): RowProblem(int(line), str(r), k, str(c)) for i, line, k, r, c in rows}

    def watermark(self) -> Any:
        """The highest watermark value already stored, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'watermark'").fetchone()
        return None if row is None else _decode_watermark(row[0])

    def pending(self, limit: int) -> list[PendingRecord]:
        """Up to ``limit`` records not yet in a batch, oldest first."""
        return self._load()[:limit]

    def _load(self) -> list[PendingRecord]:
        """Every pending record (read from the chunks once, then kept up to date)."""
        if self._pending is not None:
            return self._pending
        records: list[PendingRecord] = []
        chunks: list[int] = []
        for first, heads, bodies in self._db.execute(
            "SELECT id, heads, bodies FROM chunks ORDER BY id"
        ).fetchall():
            chunks.append(int(first))
            records.extend(
                PendingRecord(seq, key, version, body, line)
                for (seq, key, version, line), body in zip(
                    orjson.loads(heads), bytes(bodies).split(b"\n"), strict=True
                )
            )
        self._pending, self._chunks = records, chunks
        return records

    def unsent(self) -> list[OutboxBatch]:
        """Sealed batches not yet acknowledged, oldest first (resent after a crash)."""
        rows = self._db.execute(
            "SELECT batch_id, size, first_key, payload FROM batches WHERE state = 'sealed' "
            "ORDER BY created_at"
        ).fetchall()
        return [OutboxBatch(*row) for row in rows]

    def lines(self, batch_id: str) -> dict[int, int]:
        """Leaf index → source line of the records of a batch (to report quarantined rows)."""
        row = self._db.execute(
            "SELECT lines FROM batches WHERE batch_id = ?", [batch_id]
        ).fetchone()
        if row is not None and row[0] is not None:
            return dict(enumerate(orjson.loads(row[0])))
        rows = self._db.execute(  # a batch sealed before chunks: its records hold the lines
            "SELECT batch_index, line FROM records WHERE batch_id = ?", [batch_id]
        ).fetchall()
        return {int(i): int(line) for i, line in rows}

    def counts(self) -> dict[str, int]:
        """Records by state: pending, sealed (awaiting acknowledgement), sent, refused."""
        out = {"pending": 0, "sealed": 0, "sent": 0, "refused": 0}
        row = self._db.execute("SELECT coalesce(sum(size), 0) FROM chunks").fetchone()
        out["pending"] = int(row[0]) if row else 0
        for state, total in self._db.execute(
            "SELECT state, coalesce(sum(size), 0) FROM batches GROUP BY state"
        ):
            out[str(state)] = int(total)
        return out

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self._db.close()
        self._unlock()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
