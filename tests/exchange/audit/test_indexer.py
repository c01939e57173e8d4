"""The indexer thread: DuckDB filled from the durable groups, the tree's files made
durable where no caller waits for them."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

import exchange.audit.indexer as indexer_module
from exchange.audit.indexer import INDEX_BATCH, INDEX_LAG_MAX
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.query import COLUMNS, entry_from_row
from exchange.audit.segments import scan
from exchange.audit.writer import SYNC_TILES_EVERY
from exchange.config import AuditSettings
from exchange.store import Store


def _events(start: int, n: int) -> list[AuditEvent]:
    return [
        AuditEvent(
            actor="11411500000001054R",
            action="query",
            outcome="allowed",
            target="gongan.resident_id_card",
            subject=f"41150219900101{i % 1000:04d}",
            detail={"n": i},
        )
        for i in range(start, start + n)
    ]


def test_the_tree_files_are_synced_by_the_indexer_never_by_the_syncer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The syncer's one job is the segment's fdatasync and the wake-ups: the next
    callers' group waits for it. Syncing the tree's files (one fdatasync per level file)
    is the indexer's, off every caller's path."""
    store = Store(tmp_path / "data", create=True)
    log = AuditLog(store, b"k" * 32, AuditSettings(group_commit_max=8192))
    syncing: list[str] = []
    mark_synced = log.nodes.mark_synced

    def recording(size: int) -> None:  # the real thing, noting which thread asks
        syncing.append(threading.current_thread().name)
        mark_synced(size)

    monkeypatch.setattr(log.nodes, "mark_synced", recording)
    total = SYNC_TILES_EVERY + 1000
    try:
        for start in range(0, total, 4096):
            log.append_many(_events(start, min(4096, total - start)))
        log.wait_indexed()
    finally:
        log.close()  # joins the threads: whatever they synced is recorded
    assert "govex-audit-indexer" in syncing
    assert "govex-audit-syncer" not in syncing
    assert log.nodes.synced() == total
    store.close()

    # and the log opens again on exactly these files: tree, index and segments agree
    store = Store(tmp_path / "data")
    log = AuditLog(store, b"k" * 32, AuditSettings())
    try:
        assert log.healthy
        assert log.size == total
        assert log.indexed == total
        assert store.fetchone("SELECT count(*), max(seq) FROM audit_entries") == (
            total,
            total - 1,
        )
    finally:
        log.close()
        store.close()


def test_an_index_batch_is_a_duckdb_row_group_and_fits_the_lag_bound() -> None:
    # DuckDB writes a row group (122,880 rows) of one insert straight into its file
    assert 122_880 <= INDEX_BATCH <= INDEX_LAG_MAX // 2


def test_a_batch_of_small_groups_is_indexed_entry_by_entry_with_each_groups_time(
    tmp_path: Path,
) -> None:
    """At a modest rate the indexer gathers thousands of groups of one or two entries and
    builds one table of them all: every entry keeps its own ``seq``, its group's time
    (as its leaf says) and its further subjects."""
    store = Store(tmp_path / "data", create=True)
    log = AuditLog(store, b"k" * 32, AuditSettings())
    events = _events(0, 240)
    for i, event in enumerate(events):
        event.subjects = [f"9111{i:014d}", f"9122{i:014d}"] if i % 3 == 0 else []
    try:
        for event in events:  # one group each: each call waits for its own sync
            log.append(event)
        log.wait_indexed()
        leaves = [
            orjson.loads(data[1:]) for group in scan(tmp_path / "data") for data in group.leaves
        ]
        rows = store.fetchall(
            "SELECT seq, strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') FROM audit_entries ORDER BY seq"
        )
        assert [(seq, ts) for seq, ts in rows] == [(e["seq"], e["ts"]) for e in leaves]
        assert len({ts for _, ts in rows}) > 1  # the groups' times differ
        further = store.fetchall("SELECT seq, subject_hash FROM audit_subjects ORDER BY seq")
        assert [seq for seq, _ in further] == [i for i in range(240) if i % 3 == 0 for _ in (0, 1)]
        assert [h for _, h in further] == [
            h for e in leaves for h in (e["detail"] or {}).get("subjects", [])
        ]
    finally:
        log.close()
        store.close()


def test_small_groups_from_many_threads_are_indexed_each_entry_with_its_own_time(
    tmp_path: Path,
) -> None:
    """Single appends from many threads commit in small groups, each at its own time; the
    indexer inserts many of them in one transaction. Every row of the index is its
    entry's leaf: its ``seq``, its group's time and its leaf hash, recomputed from the
    stored columns."""
    store = Store(tmp_path / "data", create=True)
    log = AuditLog(store, b"k" * 32, AuditSettings(group_commit_max=64))
    threads, each = 8, 700

    def work(t: int) -> None:
        for event in _events(t * each, each):
            log.append(event)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        log.wait_indexed()
        rows = store.fetchall(f"SELECT {COLUMNS} FROM audit_entries ORDER BY seq")
    finally:
        log.close()
        store.close()
    assert [r[0] for r in rows] == list(range(threads * each))
    stored = [entry_from_row(r) for r in rows]
    assert len({s.entry.ts for s in stored}) > 1  # groups of different times
    for s in stored:
        assert s.entry.leaf_hash() == s.leaf_hash


def test_a_failed_index_transaction_closes_the_log_instead_of_ending_the_indexer_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the index transaction fails (memory), the log closes; the indexer thread must
    not just end, which left readers waiting for an index that never came and the log
    reporting itself healthy."""
    store = Store(tmp_path / "data", create=True)
    log = AuditLog(store, b"k" * 32, AuditSettings())

    def out_of_memory(cur: object, table: object) -> None:
        raise MemoryError("no memory for the index tables")

    monkeypatch.setattr(indexer_module, "insert_index", out_of_memory)
    try:
        log.append(_events(0, 1)[0])  # durable: answered before the index
        log.wait_indexed(timeout=30)
        assert not log.healthy
    finally:
        log.close()
        store.close()
