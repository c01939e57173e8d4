"""The exchange's one DuckDB file, its migrations, and the data-directory lock.

One exchange process owns one data directory: ``open`` takes an exclusive
``flock`` on ``govex.lock`` first, so a second process gets :class:`StoreLocked`
with the owner's pid instead of a crash inside DuckDB (RELIABILITY F1).

Each thread uses its own DuckDB cursor (``Store.cursor()``); writers that touch
the same tables serialise on ``Store.write_lock``. A transaction opened within another on
the same thread joins it (:meth:`Store.transaction`): a control event's apply wraps the
service's writes and its applied-mark in one commit (:mod:`exchange.cluster.plane`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from exchange.boundary import translated
from exchange.errors import NotInitialised, StoreLocked

__all__ = ["DB_FILE", "LOCK_FILE", "MIGRATIONS", "Store"]

_LOG = logging.getLogger("govex.store")

DB_FILE = "govex.duckdb"
LOCK_FILE = "govex.lock"


def _load_migrations() -> list[tuple[int, str, str]]:
    """Every ``exchange/migrations/mNNN_*.py`` module, in version order."""
    import importlib
    import pkgutil

    from exchange import migrations

    found: list[tuple[int, str, str]] = []
    for info in pkgutil.iter_modules(migrations.__path__):
        if not info.name.startswith("m"):
            continue
        module = importlib.import_module(f"{migrations.__name__}.{info.name}")
        found.append((int(module.VERSION), str(module.DESCRIPTION), str(module.SQL)))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return found


MIGRATIONS: list[tuple[int, str, str]] = _load_migrations()


class Store:
    """An open data directory: the lock, the DuckDB connection, per-thread cursors."""

    def __init__(self, data_dir: Path, *, create: bool = False, read_only: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_FILE
        if not create and not self.path.exists():
            raise NotInitialised(
                f"no exchange in {self.data_dir}: run `govex init --data {self.data_dir}` first"
            )
        with translated():  # an unusable directory or database file: one clear error
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = self._acquire_lock()
        try:
            with translated():
                self._conn = duckdb.connect(str(self.path), read_only=read_only)
        except BaseException:
            self._release_lock()
            raise
        self._local = threading.local()
        self.write_lock = threading.RLock()
        # set by the audit log: whoever reads its tables waits until they hold every
        # committed entry (its index is filled behind the durable log)
        self.audit_barrier: Callable[[], None] | None = None
        if not read_only:
            try:
                with translated():
                    self.migrate()
            except BaseException:
                self._conn.close()
                self._release_lock()
                raise

    # -- locking ------------------------------------------------
    def _acquire_lock(self) -> int:
        lock_path = self.data_dir / LOCK_FILE
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"data directory {self.data_dir} is in use by another govex process "
                f"(pid {owner}); stop it first, or use another --data directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _release_lock(self) -> None:
        with suppress(OSError):
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)

    # -- connections ------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the database."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.cursor = cur
        return cur

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One DuckDB transaction on this thread's cursor; rolled back on error.

        Within a transaction already open on this thread it joins that one: its writes
        commit (or roll back) with the outer transaction's, and an error propagates to it.
        """
        cur = self.cursor()
        if self.in_transaction():
            yield cur
            return
        cur.execute("BEGIN TRANSACTION")
        self._local.depth = 1
        self._local.ended = []
        try:
            try:
                yield cur
            except BaseException:
                self._local.depth = 0
                cur.execute("ROLLBACK")
                raise
            self._local.depth = 0
            cur.execute("COMMIT")
        finally:
            ended, self._local.ended = self._local.ended, []
            for call in ended:
                try:
                    call()
                except Exception:  # the transaction's own outcome stands; the next call runs
                    _LOG.exception("a call at the end of a transaction failed")

    def when_ended(self, call: Callable[[], None]) -> None:
        """``call()`` once this thread's open transaction has committed or rolled back (at
        once when none is open). A cache of what the transaction changes drops its copy
        here too: a reader on another thread that missed the cache while the change was
        not yet committed read the old rows and may have put them back. (A transaction
        begun with a bare ``BEGIN`` on a cursor, not :meth:`transaction`, is not seen: the
        call runs at once.)"""
        if self.in_transaction():
            self._local.ended.append(call)
        else:
            call()

    def in_transaction(self) -> bool:
        """Whether this thread has a transaction open (:meth:`transaction`)."""
        return bool(getattr(self._local, "depth", 0))

    def committed_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of this thread outside its open transaction: it reads what other
        threads committed since that transaction began (read-only use)."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "outside", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.outside = cur
        return cur

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        if self.audit_barrier is not None and "audit_" in sql:
            self.audit_barrier()
        return self.cursor().execute(sql, params)

    def fetchone(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        return self.execute(sql, params).fetchone()

    def fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.execute(sql, params).fetchall()

    # -- schema ------------------------------------------------
    def migrate(self) -> int:
        """Apply pending migrations in order; return the schema version."""
        cur = self.cursor()
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        current = int(row[0]) if row else 0
        for version, description, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction() as tx:
                tx.execute(sql)
                tx.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                    [version, description],
                )
            current = version
        return current

    def meta(self, key: str) -> str | None:
        row = self.fetchone("SELECT value FROM meta WHERE key = ?", [key])
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception as exc:  # closing goes on: release the lock all the same
            _LOG.warning("closing the database failed: %s", exc)
        self._release_lock()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reloads:
    """Whole-table reloads of an in-memory copy (departments, staff …) after each change.

    They run one at a time, so a reload that read before another change's commit cannot
    install after that change's own reload; one made within a transaction runs again once
    that transaction has ended (what it read was uncommitted, and may be rolled back).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()

    def run(self, load: Callable[[], None]) -> None:
        if self.store.in_transaction():
            self.store.when_ended(partial(self.run, load))
        with self._lock:
            load()
