"""The index worker: the audit index's tables made from the log's bytes in another process,
the same as the indexer thread makes them from the callers' rows, and nothing lost when
that process dies."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

import exchange.audit.indexer as indexer_module
from exchange.audit.event import encode_event
from exchange.audit.indexer import IndexWorker, Tables, Tabulating, Written, tabulate
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.query import COLUMNS, entry_from_row
from exchange.audit.segments import encode_body, scan
from exchange.audit.tables import Part, tables_of
from exchange.audit.writer import _spliced
from exchange.config import AuditSettings
from exchange.store import Store


def _events(start: int, n: int) -> list[AuditEvent]:
    """Entries of every shape: the usual one, further subjects, a staff member, text
    beyond its cap, text JSON cannot hold as it is, a detail only JCS writes right."""
    events = []
    for i in range(start, start + n):
        e = AuditEvent(
            actor="11411500000001054R",
            action="query",
            outcome="allowed" if i % 7 else "refused",
            target="gongan.resident_id_card",
            subject_hash=f"{i:064x}",
            purpose="budongchan.transfer",
            case_no=f"BDC-2026-{i:06d}",
            detail={"grant": "gr_1", "masked": ["phone"]},
        )
        match i % 6:
            case 1:
                e.subject_hashes = [f"{i + 1:064x}", f"{i + 2:064x}"]
            case 2:
                e.person, e.detail = "staff-0042", {"名字": "张三", "n": i}
            case 3:
                e.purpose, e.detail = "长" * 300, {"float": 1.5, "nested": {"b": [1, None]}}
            case 4:
                e.target, e.detail = "bad\ud800text", None
        events.append(e)
    return events


@contextmanager
def _opened(tmp_path: Path, settings: AuditSettings) -> Iterator[tuple[Store, AuditLog]]:
    """A new store under ``tmp_path/data`` and its audit log, closed after the block."""
    store = Store(tmp_path / "data", create=True)
    log = AuditLog(store, b"k" * 32, settings)
    try:
        yield store, log
    finally:
        log.close()
        store.close()


def _group(first: int, n: int, at: datetime, runs: list[tuple[int, datetime]] | None) -> Written:
    """A durable group as the writer hands it to the indexer: rows, leaves and body."""
    rows = [encode_event(e) for e in _events(first, n)]
    datas, seq = [], first
    for count, when in runs or [(n, at)]:
        datas += _spliced(rows[seq - first : seq - first + count], seq, when)
        seq += count
    leaves = [hashlib.sha256(d).digest() for d in datas]
    return Written([], first, rows, leaves, at, runs=runs, body=encode_body(datas))


def test_tables_made_from_the_logs_bytes_are_the_tables_made_from_the_callers_rows() -> None:
    """:func:`tables_of` (what the worker runs, from the segment's bytes) and
    :func:`tabulate` (the indexer thread, from the callers' rows) give the same
    ``audit_entries`` and ``audit_subjects`` rows: runs of consecutive groups, a gap,
    groups whose calls brought their own times, every shape of entry."""
    at = datetime(2026, 5, 1, 1, 2, 3, 456789, tzinfo=UTC)
    later = at + timedelta(minutes=1, microseconds=7)

    def groups() -> list[Written]:
        return [
            _group(0, 13, at, None),
            _group(13, 5, at, [(2, at), (3, later)]),
            _group(18, 9, later, None),
            _group(40, 6, at, None),  # after a gap (entries written with work)
        ]

    expected = Tables()
    tabulate(groups(), expected)
    parts = [(g.first, g.count, g.body, b"".join(g.leaves)) for g in groups()]
    entries, further = tables_of(parts)
    assert entries is not None
    assert further is not None
    assert entries.equals(pa.concat_tables(expected.entries))
    assert further.equals(pa.concat_tables(expected.further))
    assert entries.num_rows == 33
    assert further.num_rows == sum(
        2 for g in groups() for seq in range(g.first, g.first + g.count) if seq % 6 == 1
    )


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[IndexWorker]:
    """A worker of this test's own (the process's one may serve other logs)."""
    mine = IndexWorker()
    monkeypatch.setattr(indexer_module, "WORKER", mine)
    try:
        yield mine
    finally:
        mine.close()


def _check_index(log: AuditLog, store: Store, data: Path, size: int) -> None:
    """The log is open and every entry of the segments is in the index once, as its leaf
    says."""
    assert log.healthy
    assert log.indexed == log.size == size
    rows = store.fetchall(f"SELECT {COLUMNS} FROM audit_entries ORDER BY seq")
    assert [r[0] for r in rows] == list(range(size))
    leaves = [orjson.loads(d[1:]) for g in scan(data) for d in g.leaves]
    for row, leaf in zip(rows, leaves, strict=True):
        stored = entry_from_row(row)
        assert stored.entry.leaf_hash() == stored.leaf_hash
        assert stored.entry.ts == leaf["ts"]
    further = store.fetchall("SELECT seq, subject_hash FROM audit_subjects ORDER BY seq, rowid")
    assert further == [
        (leaf["seq"], h) for leaf in leaves for h in (leaf["detail"] or {}).get("subjects", [])
    ]


def test_large_runs_are_tabulated_by_the_worker_process(
    tmp_path: Path, worker: IndexWorker
) -> None:
    with _opened(tmp_path, AuditSettings(group_commit_max=8192)) as (store, log):
        for start in range(0, 6000, 2000):
            log.append_many(_events(start, 2000))
            log.wait_indexed()  # the worker is free for the next run
        assert worker.pid is not None
        assert worker.pid != os.getpid()
        assert worker.made == 3  # the runs were the worker's tables, none made here
        assert worker.fallbacks == 0
        _check_index(log, store, tmp_path / "data", 6000)


def test_a_killed_index_worker_loses_nothing_and_is_started_again(
    tmp_path: Path, worker: IndexWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL the worker while the log is in use: the runs it held are tabulated by the
    indexer thread from the same bytes, the index holds every entry once, the log stays
    open; after its rest a new worker takes the next runs."""
    with _opened(tmp_path, AuditSettings(group_commit_max=8192)) as (store, log):
        log.append_many(_events(0, 2000))
        log.wait_indexed()
        first = worker.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        for start in range(2000, 8000, 2000):
            log.append_many(_events(start, 2000))
        log.wait_indexed()
        assert log.healthy
        assert log.indexed == log.size == 8000
        assert worker.pid is None  # resting: the indexer thread tabulated

        monkeypatch.setattr(worker, "_resting_until", 0.0)  # its rest is over
        log.append_many(_events(8000, 2000))
        log.wait_indexed()
        assert worker.pid not in (None, first)
        _check_index(log, store, tmp_path / "data", 10_000)


def test_with_index_worker_off_no_process_is_started(tmp_path: Path, worker: IndexWorker) -> None:
    with _opened(tmp_path, AuditSettings(group_commit_max=8192, index_worker=False)) as (
        store,
        log,
    ):
        log.append_many(_events(0, 3000))
        log.wait_indexed()
        assert worker.pid is None
        _check_index(log, store, tmp_path / "data", 3000)


@pytest.mark.parametrize("how", ["killed", "no answer", "cancelled"])
def test_a_run_the_worker_did_not_make_is_made_here_from_the_same_bytes(
    how: str, worker: IndexWorker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker died with the run (its future broken), hung past ``WORKER_WAIT_S`` or
    was let go (the run cancelled): the indexer thread makes the same tables from the
    run's bytes, says so, and the worker rests (the next runs are made here)."""
    monkeypatch.setattr(indexer_module, "WORKER_WAIT_S", 0.05)
    at = datetime(2026, 5, 1, 1, 2, 3, 456789, tzinfo=UTC)
    groups = [_group(0, 7, at, None), _group(7, 5, at, [(4, at), (1, at + timedelta(days=1))])]
    expected = Tables()
    tabulate(
        [_group(0, 7, at, None), _group(7, 5, at, [(4, at), (1, at + timedelta(days=1))])], expected
    )
    future: Future[tuple[pa.Table | None, pa.Table | None]] = Future()
    if how == "killed":
        future.set_exception(BrokenProcessPool("the worker was killed"))
    elif how == "cancelled":
        future.cancel()
    parts = [(g.first, g.count, g.body, b"".join(g.leaves)) for g in groups]
    current = worker._executor  # the worker's (none started): the run is its own
    later = Tabulating(worker, current, future, parts)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="govex.audit"):
        entries, further = later.result()
    assert entries is not None
    assert further is not None
    assert entries.equals(pa.concat_tables(expected.entries))
    assert further.equals(pa.concat_tables(expected.further))
    assert worker.fallbacks == 1
    assert "the audit index worker failed" in caplog.text
    assert worker.submit(parts) is None  # resting


def test_a_worker_that_cannot_be_started_leaves_the_runs_to_the_thread(
    tmp_path: Path,
    worker: IndexWorker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No process to be had (no semaphores, no file descriptors): the index is made in the
    indexer thread, the failure is said once and not tried again for every run."""
    tries: list[int] = []

    def no_process(workers: int) -> None:
        tries.append(workers)
        raise OSError("no process can be started")

    monkeypatch.setattr(indexer_module, "OwnedExecutor", no_process)
    with _opened(tmp_path, AuditSettings(group_commit_max=8192)) as (store, log):
        with caplog.at_level(logging.WARNING, logger="govex.audit"):
            for start in range(0, 6000, 2000):
                log.append_many(_events(start, 2000))
                log.wait_indexed()
        assert tries == [1]  # resting after the first: not tried for every run
        assert "no process can be started" in caplog.text
        _check_index(log, store, tmp_path / "data", 6000)


def test_the_worker_holds_a_few_runs_unless_one_is_due(worker: IndexWorker) -> None:
    """A run that comes while the worker holds ``WORKER_QUEUE`` runs not answered yet is
    declined (the indexer keeps its groups for a larger run), unless the run is due (the
    index transaction is to be made): then the worker takes it all the same."""
    at = datetime(2026, 5, 1, 1, 2, 3, tzinfo=UTC)
    g = _group(0, 3, at, None)
    parts = [(g.first, g.count, g.body, b"".join(g.leaves))]
    busy: list[Future[tuple[pa.Table | None, pa.Table | None]]] = [
        Future() for _ in range(indexer_module.WORKER_QUEUE)
    ]
    worker._given = list(busy)  # type: ignore[arg-type]
    assert worker.submit(parts) is None  # busy: the groups wait for a larger run
    due = worker.submit(parts, due=True)  # the transaction is to be made: taken beyond the queue
    assert due is not None
    assert due.result()[0] == tables_of(parts)[0]
    busy[0].set_result((None, None))
    later = worker.submit(parts)  # free again: the worker's
    assert later is not None
    assert later.result()[0] == tables_of(parts)[0]
    assert worker.made == 2


def test_while_the_worker_is_busy_the_groups_wait_for_it_not_the_thread(
    tmp_path: Path, worker: IndexWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the worker holds ``WORKER_QUEUE`` runs: the groups gathered meanwhile are
    not tabulated in the indexer thread (on the appending process's interpreter lock) but
    kept as bytes and handed to the worker as one larger run when the transaction is
    made; the index is complete and as the segments say."""
    made_here: list[int] = []  # entries the indexer thread tabulated from their rows

    def counted_tabulate(groups: list[Written], into: Tables) -> None:
        made_here.extend(g.count for g in groups if g.count and not g.tabulated)
        tabulate(groups, into)

    monkeypatch.setattr(indexer_module, "tabulate", counted_tabulate)
    monkeypatch.setattr(indexer_module, "TABULATE_EVERY", 100)  # every group is a run
    worker.start()
    busy: list[Future[tuple[pa.Table | None, pa.Table | None]]] = [
        Future() for _ in range(indexer_module.WORKER_QUEUE)
    ]
    worker._given = list(busy)  # type: ignore[arg-type]  # answered never: busy throughout
    made = worker.made
    with _opened(tmp_path, AuditSettings(group_commit_max=8192)) as (store, log):
        for start in range(0, 6000, 1500):
            log.append_many(_events(start, 1500))
        log.wait_indexed()
        assert worker.declined >= 1  # the first group at least waited for a larger run
        # nothing was made in the thread: not from the rows, and not from the bytes (read
        # there only for a worker that failed, a fallback, or that rests)
        assert made_here == []
        assert worker.fallbacks == 0
        assert not worker.resting
        assert worker.made > made  # the worker made the runs, beyond its queue when due
        _check_index(log, store, tmp_path / "data", 6000)


def test_a_resting_worker_leaves_the_runs_to_the_rows_in_memory(
    tmp_path: Path, worker: IndexWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the worker rests after a failure, a large run is tabulated in the thread from
    the rows in memory (not read back from its bytes), and the index is complete."""
    from_bytes: list[int] = []

    def counted_tables_of(parts: list[Part]) -> tuple[pa.Table | None, pa.Table | None]:
        from_bytes.extend(count for _, count, _, _ in parts)
        return tables_of(parts)

    monkeypatch.setattr(indexer_module, "tables_of", counted_tables_of)
    worker._resting_until = time.monotonic() + 600
    with _opened(tmp_path, AuditSettings(group_commit_max=8192)) as (store, log):
        log.append_many(_events(0, 3000))
        log.wait_indexed()
        assert from_bytes == []
        assert worker.made == 0
        _check_index(log, store, tmp_path / "data", 3000)
