"""Migration 18: a subject search finds an entry's further subjects by index, and a
version-17 store upgrades to it with its rows kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from exchange.audit.query import SUBJECT_SQL
from exchange.store import DB_FILE, Store

_ROWS = 5_000


def _scans(node: dict[str, Any]) -> list[tuple[str, str]]:
    info = node.get("extra_info", {})
    here = [(info["Table"], info["Type"])] if "Table" in info and "Type" in info else []
    return here + [scan for child in node.get("children", []) for scan in _scans(child)]


def _subjects_scan(db: duckdb.DuckDBPyConnection, subject_hash: str) -> str:
    """How the search of :data:`SUBJECT_SQL` read ``audit_subjects``: its scan type."""
    plan = db.execute(
        f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT seq FROM audit_entries WHERE {SUBJECT_SQL}",
        [subject_hash, subject_hash],
    ).fetchall()[0][1]
    scans = [
        kind
        for op in json.loads(plan)["operator"]
        for table, kind in _scans(op)
        if table.endswith(".audit_subjects")
    ]
    assert len(scans) == 1, plan
    return scans[0]


def _fill(store: Store) -> str:
    store.execute(
        "INSERT INTO audit_subjects SELECT i, sha256(i::VARCHAR) FROM range(?) t(i)", [_ROWS]
    )
    return str(store.fetchall("SELECT sha256('7')")[0][0])


def test_a_new_store_finds_further_subjects_by_index(tmp_path: Path) -> None:
    with Store(tmp_path, create=True) as store:
        store.migrate()
        wanted = _fill(store)
        assert _subjects_scan(store.cursor(), wanted) == "Index Scan"
        found = store.fetchall("SELECT seq FROM audit_subjects WHERE subject_hash = ?", [wanted])
        assert found == [(7,)]


def test_a_version_17_store_upgrades_with_its_rows(tmp_path: Path) -> None:
    with Store(tmp_path, create=True) as store:
        store.migrate()
        wanted = _fill(store)
    with duckdb.connect(str(tmp_path / DB_FILE)) as db:  # what version 17 held
        db.execute("DROP INDEX audit_subjects_hash_idx")
        db.execute("DELETE FROM schema_migrations WHERE version > 17")
        assert _subjects_scan(db, wanted) == "Sequential Scan"  # the old store scans
    with Store(tmp_path) as store:  # opening migrates
        assert store.fetchall("SELECT max(version) FROM schema_migrations") == [(18,)]
        assert _subjects_scan(store.cursor(), wanted) == "Index Scan"
        assert store.fetchall("SELECT count(*) FROM audit_subjects") == [(_ROWS,)]
