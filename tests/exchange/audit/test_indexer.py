"""The indexer thread: DuckDB filled from the durable groups, the tree's files made
durable where no caller waits for them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from exchange.audit.indexer import INDEX_BATCH, INDEX_LAG_MAX
from exchange.audit.log import AuditEvent, AuditLog
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
