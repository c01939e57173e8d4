"""Migration 15: a store migrated to the latest version has no ``audit_nodes`` table, and
its audit log still opens and proves entries (the tree lives in its level files)."""

from __future__ import annotations

from pathlib import Path

from exchange.audit.log import AuditEvent, AuditLog
from exchange.config import AuditSettings
from exchange.store import Store


def test_audit_nodes_is_gone_and_the_log_still_proves(tmp_path: Path) -> None:
    store = Store(tmp_path / "data", create=True)
    tables = {str(r[0]) for r in store.fetchall("SELECT table_name FROM information_schema.tables")}
    assert "audit_nodes" not in tables
    assert "audit_entries" in tables
    log = AuditLog(store, b"k" * 32, AuditSettings())
    try:
        log.append_many(
            [AuditEvent(actor="a", action="query", outcome="allowed") for _ in range(5)]
        )
        assert len(log.inclusion_proof(3)) == 3
    finally:
        log.close()
        store.close()
