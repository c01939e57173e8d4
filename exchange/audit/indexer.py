"""The searchable index of the audit log: durable groups copied into DuckDB by one thread.

:class:`Indexer` is the part of :class:`exchange.audit.writer.GroupCommitWriter` that
fills ``audit_entries`` and ``audit_subjects`` from the groups the syncer made durable.
It trails the log by a bounded amount (:data:`INDEX_LAG_MAX`; the writer waits when the
lag passes it) and never holds up a caller: a caller is answered once its group is
durable in the segments. :meth:`Indexer.wait_indexed` is the read barrier: whoever
reads the audit tables first waits until they hold every committed entry.

The indexer gathers durable groups while they keep arriving, up to :data:`INDEX_BATCH`
entries (a pause of :data:`INDEX_DELAY_S` in the groups, :data:`INDEX_GATHER_S` gone by,
a waiting reader or the log closing ends the gathering), and inserts them as Arrow
tables in one transaction. Under load the batch is at least one DuckDB row group (122,880
rows), which DuckDB writes straight into its file: an index transaction of that size
costs about half the CPU per entry of one of 32,768 (measured), and the index keeps up
with the appends instead of holding them back. While it gathers, every
:data:`TABULATE_EVERY` entries it turns the groups so far into Arrow columns
(:func:`tabulate`: one table for many small groups, the rows let go while fresh in
memory), so a transaction's table is mostly made by the time it ends.

A run of :data:`WORKER_MIN` entries or more is tabulated by the *index worker*
(:class:`IndexWorker`), a process of its own, from the groups' bytes as the segments hold
them (:func:`exchange.audit.tables.tables_of`); the indexer thread then only inserts
what it sends back (DuckDB's insert and commit run without holding the interpreter lock,
measured: another thread kept running through them). While the worker holds
:data:`WORKER_QUEUE` runs, the groups gathered meanwhile wait as bytes (their rows let go)
and go to it as one larger run when it has room, or when the transaction is due (then
beyond the queue): under heavy load the index's Python work stays off this process's
interpreter lock, and the index trails by what the worker holds, within
:data:`INDEX_LAG_MAX`. Runs the worker cannot make (dead, hung, not started, resting
after a failure) are made in the thread, from the same bytes or the rows in memory.
``AuditSettings.index_worker`` false keeps every run in the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from time import monotonic
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from exchange.audit.event import Row
from exchange.audit.tables import Part, entries_table, iso, subjects_table, tables_of
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable
from exchange.store import Store
from signing.pool import OwnedExecutor

if TYPE_CHECKING:
    from exchange.audit.writer import Pending

__all__ = [
    "INDEX_BATCH",
    "INDEX_DELAY_S",
    "INDEX_GATHER_S",
    "INDEX_LAG_MAX",
    "TABULATE_EVERY",
    "WORKER",
    "WORKER_MIN",
    "WORKER_QUEUE",
    "IndexWorker",
    "Indexer",
    "Tables",
    "Tabulating",
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

WORKER_MIN = 1024  # entries of a run tabulated by the worker process (fewer: in the thread)
WORKER_QUEUE = 4  # runs the worker holds before later groups wait for a larger run
WORKER_WAIT_S = 20.0  # a tabulation the worker has not answered by then is made here
WORKER_RETRY_S = 30.0  # after the worker failed, runs are tabulated here for this long

_LOG = logging.getLogger("govex.audit")


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
    body: bytes = b""  # the group's body as the segment holds it (for the index worker)
    count: int = field(init=False)  # entries (``rows`` is let go once tabulated)
    tabulated: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.count = len(self.rows)

    def entries(self) -> pa.Table:
        """The group's ``audit_entries`` rows, each with its leaf's time."""
        return entries_table(self.first, self.rows, self.leaves, self.now, self.runs)


@dataclass
class Tables:
    """What one index transaction inserts, in the order of its entries: ``audit_entries``
    tables and ``audit_subjects`` tables, or the worker's tabulations under way (each
    gives both, and stands in both lists)."""

    entries: list[pa.Table | Tabulating] = field(default_factory=list)
    further: list[pa.Table | Tabulating] = field(default_factory=list)
    # groups after those, as bytes, waiting for the worker to have room (rows let go)
    waiting: list[Part] = field(default_factory=list)

    def add(self, made: Tabulating | tuple[pa.Table | None, pa.Table | None]) -> None:
        """A run's tables (or the worker's tabulation under way), after those before."""
        if isinstance(made, Tabulating):
            self.entries.append(made)
            self.further.append(made)
            return
        if made[0] is not None:
            self.entries.append(made[0])
        if made[1] is not None:
            self.further.append(made[1])

    def resolved(self) -> tuple[list[pa.Table], list[pa.Table]]:
        """Every table, in order, the worker's tabulations waited for."""
        return _made(self.entries, 0), _made(self.further, 1)


def _made(items: list[pa.Table | Tabulating], which: int) -> list[pa.Table]:
    tables = []
    for item in items:
        table = item.result()[which] if isinstance(item, Tabulating) else item
        if table is not None:
            tables.append(table)
    return tables


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
    _let_go(groups)


def _let_go(groups: list[Written]) -> None:
    for g in groups:
        g.rows, g.leaves, g.body, g.tabulated = [], [], b"", True


class IndexWorker:
    """The worker process that makes the index's tables from the log's bytes
    (:func:`exchange.audit.tables.tables_of`): the Python work of the index (reading each
    entry's JSON, building Arrow columns) off this process's interpreter lock, so neither
    the callers nor the event loop wait behind it. One for every log of this process,
    started on its first run (the fork server's, as :class:`signing.pool.OwnedExecutor`:
    it leaves when this process is gone, even killed).

    While it holds :data:`WORKER_QUEUE` runs, :meth:`submit` declines a run unless told
    that the run is due (the indexer then keeps the groups as bytes for a larger run
    later). If it cannot be started, dies or gives no answer within
    :data:`WORKER_WAIT_S` (it is then killed), the run it held is tabulated in the
    indexer thread from the same bytes, and the runs of the next :data:`WORKER_RETRY_S`
    from the rows in memory; the first run after that starts a new worker. ``made`` and
    ``fallbacks`` count the runs it tabulated and the runs the indexer thread made for
    it, ``declined`` the runs it declined while busy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: OwnedExecutor | None = None
        self._resting_until = 0.0
        self._given: list[Future[Any]] = []  # the runs it was given and has not answered
        self.made = 0
        self.fallbacks = 0
        self.declined = 0  # runs declined while busy (their groups waited for a larger run)

    def submit(self, parts: list[Part], *, due: bool = False) -> Tabulating | None:
        """The tables of ``parts`` under way in the worker; ``None`` while it rests, or
        holds :data:`WORKER_QUEUE` runs not answered yet and the run is not ``due``."""
        with self._lock:
            if monotonic() < self._resting_until:
                return None
            self._given = [f for f in self._given if not f.done()]
            if len(self._given) >= WORKER_QUEUE and not due:
                self.declined += 1
                return None
            executor = self._executor
            try:
                if executor is None:
                    executor = OwnedExecutor(1)
                    self._executor = executor
                future = executor.submit(tables_of, parts)
                self._given.append(future)
                return Tabulating(self, executor, future, parts)
            except Exception as exc:  # a broken pool, or no process to be had
                self._failed(executor, exc)
                return None

    def start(self) -> None:
        """Start the worker now and wait until it answers (not on the first large run)."""
        later = self.submit([])
        if later is not None:
            later.result()

    @property
    def resting(self) -> bool:
        """Whether runs are made in the thread for now (the worker failed lately)."""
        return monotonic() < self._resting_until

    def failed(self, executor: OwnedExecutor, exc: BaseException) -> None:
        """``executor`` gave no tables (``exc``): let it go and rest."""
        with self._lock:
            self._failed(executor, exc)

    def _failed(self, executor: OwnedExecutor | None, exc: BaseException) -> None:
        if executor is not self._executor:
            return  # let go already
        _LOG.warning(
            "the audit index worker failed (%s: %s); the indexer tabulates in its own "
            "thread for %.0f s",
            type(exc).__name__,
            exc,
            WORKER_RETRY_S,
        )
        self._executor = None
        self._resting_until = monotonic() + WORKER_RETRY_S
        if executor is not None:
            _stop(executor)

    def close(self) -> None:
        """Stop the worker (the next run starts one again)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    @property
    def pid(self) -> int | None:
        """The worker's process id, while it runs."""
        processes = getattr(self._executor, "_processes", None) or {}
        return next(iter(processes), None)


def _stop(executor: OwnedExecutor) -> None:
    """Kill the executor's worker (it may hang) and let the executor go."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        with suppress(Exception):
            process.kill()
    with suppress(Exception):
        executor.shutdown(wait=False, cancel_futures=True)


class Tabulating:
    """A run of groups being tabulated by the worker; :meth:`result` waits for its tables
    (or makes them here if the worker fails)."""

    __slots__ = ("_tables", "executor", "future", "parts", "worker")

    def __init__(
        self,
        worker: IndexWorker,
        executor: OwnedExecutor,
        future: Future[tuple[pa.Table | None, pa.Table | None]],
        parts: list[Part],
    ) -> None:
        self.worker, self.executor, self.future, self.parts = worker, executor, future, parts
        self._tables: tuple[pa.Table | None, pa.Table | None] | None = None

    def result(self) -> tuple[pa.Table | None, pa.Table | None]:
        """The run's ``audit_entries`` and ``audit_subjects`` tables (``None``: no rows)."""
        if self._tables is None:
            self._tables = self._result()
            self.parts = []
        return self._tables

    def _result(self) -> tuple[pa.Table | None, pa.Table | None]:
        worker = self.worker
        if self.executor is worker._executor or self.future.done():
            try:
                tables = self.future.result(timeout=WORKER_WAIT_S)
            except (BrokenProcessPool, TimeoutError, CancelledError) as exc:
                worker.failed(self.executor, exc)
            except Exception as exc:  # the tabulation's own: made here, where it raises
                # again if the entries are at fault (the log closes)
                _LOG.warning("the audit index worker could not tabulate a run (%s)", exc)
            else:
                worker.made += 1
                return tables
        worker.fallbacks += 1
        return tables_of(self.parts)


WORKER = IndexWorker()


POKE = object()  # put on the indexer's queue by a reader waiting for the index


def _entries(item: object) -> int:
    return item.count if isinstance(item, Written) else 0


class Indexer:
    """The index half of the group-commit writer (its base class): the indexer thread,
    the lag and the read barrier."""

    store: Store
    settings: AuditSettings
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
                self._tabulate(
                    [g for g in batch[untabulated:] if isinstance(g, Written)], tables, due=False
                )
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
        self._tabulate(groups, tables, due=True)
        found, further = tables.resolved()
        entries = found[0] if len(found) == 1 else pa.concat_tables(found)
        cur.begin()
        cur.from_arrow(entries).insert_into("audit_entries")
        for table in further:
            cur.from_arrow(table).insert_into("audit_subjects")
        cur.commit()
        last = groups[-1]
        self._set_indexed(last.first + last.count)

    def _tabulate(self, groups: list[Written], into: Tables, *, due: bool) -> None:
        """:func:`tabulate`, by the worker process for a run of :data:`WORKER_MIN` entries
        or more (from the groups' bytes, as the segments hold them). While the worker is
        busy the groups wait in ``into`` as bytes for a larger run, unless the run is
        ``due`` (the transaction is to be made: it then goes to the worker all the same)."""
        groups = [g for g in groups if g.count and not g.tabulated]
        if (
            self.settings.index_worker
            and all(g.body for g in groups)
            and (into.waiting or sum(g.count for g in groups) >= WORKER_MIN)
            and not WORKER.resting
        ):
            parts = [
                *into.waiting,
                *((g.first, g.count, g.body, b"".join(g.leaves)) for g in groups),
            ]
            later = WORKER.submit(parts, due=due)
            if later is not None or not (due or WORKER.resting):
                _let_go(groups)
                if later is None:
                    into.waiting = parts  # the worker is busy: a larger run later
                else:
                    into.waiting = []
                    into.add(later)
                return
        if into.waiting:  # groups before these (the worker failed meanwhile): theirs first
            parts, into.waiting = into.waiting, []
            into.add(WORKER.submit(parts, due=True) or tables_of(parts))
        tabulate(groups, into)  # from the rows in memory

    def _unavailable(self) -> AuditUnavailable:
        return AuditUnavailable(f"audit log is unavailable ({self._failure})")
