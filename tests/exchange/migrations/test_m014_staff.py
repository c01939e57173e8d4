"""Migration 14 on a store as version 13 left it: staff, sessions and ``person`` are added,
the entries already in the log keep their leaves, and the log goes on verifying."""

from __future__ import annotations

from pathlib import Path

import duckdb
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.audit.export import export_log
from exchange.audit.verify import verify_export
from exchange.client import ASSERTION_TYPE
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.departments.staff import StaffRole
from exchange.service import Exchange
from exchange.store import DB_FILE, MIGRATIONS
from tests.support.tokens import access_token

# the tables of versions 14 and later (department_oidc: 16, quarantine_decisions: 17)
_ADDED_TABLES = (
    "staff",
    "department_settings",
    "console_sessions",
    "department_oidc",
    "quarantine_decisions",
)


def _schema(db: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    rows = db.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    return [(str(t), str(c), str(d)) for t, c, d in rows]


def _version_13_schema(tmp_path: Path) -> list[tuple[str, str, str]]:
    """The tables and columns migrations 1–13 make, on an empty database."""
    with duckdb.connect(str(tmp_path / "v13.duckdb")) as db:
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for version, _description, sql in MIGRATIONS:
            if version <= 13:
                db.execute(sql)
        return _schema(db)


def _back_to_version_13(data: Path) -> None:
    """Take a store back to what version 13 held: no staff tables, no ``person`` column.

    The entries were written without a person, so their rows and leaves are what the
    code of version 13 wrote."""
    with duckdb.connect(str(data / DB_FILE)) as db:
        named = db.execute("SELECT count(*) FROM audit_entries WHERE person IS NOT NULL")
        assert named.fetchone() == (0,)
        for table in _ADDED_TABLES:
            db.execute(f"DROP TABLE {table}")
        indexes = db.execute(
            "SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = 'audit_entries'"
        ).fetchall()
        for name, _sql in indexes:  # DuckDB alters no column of an indexed table
            db.execute(f"DROP INDEX {name}")
        db.execute("ALTER TABLE audit_entries DROP COLUMN person")
        for _name, sql in indexes:
            db.execute(sql)
        db.execute(
            "CREATE TABLE IF NOT EXISTS audit_nodes (id BIGINT NOT NULL, hash BLOB NOT NULL)"
        )
        db.execute("DELETE FROM schema_migrations WHERE version > 13")


def _leaves(data: Path) -> list[tuple[int, str]]:
    with duckdb.connect(str(data / DB_FILE), read_only=True) as db:
        rows = db.execute("SELECT seq, leaf_hash FROM audit_entries ORDER BY seq").fetchall()
    return [(int(s), bytes(h).hex()) for s, h in rows]


def test_a_version_13_store_upgrades_and_its_log_keeps_verifying(tmp_path: Path) -> None:
    data = tmp_path / "data"
    exchange = create_demo(Settings(data=data))
    with TestClient(create_app(exchange)) as client:  # a few entries of ordinary work
        token = access_token(exchange, client, "budongchan")
        read = client.get(
            "/v1/resources/shichang.business_licence/records/91411500MA0000000X",
            params={"purpose": "m14.read", "case": "M14-1"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert read.status_code == 404, read.text
    exchange.close()
    _back_to_version_13(data)
    with duckdb.connect(str(data / DB_FILE), read_only=True) as db:
        assert _schema(db) == _version_13_schema(tmp_path)
        assert db.execute("SELECT max(version) FROM schema_migrations").fetchone() == (13,)
    before = _leaves(data)
    assert len(before) >= 2

    with Exchange.open(Settings(data=data)) as upgraded:
        version = upgraded.store.fetchone("SELECT max(version) FROM schema_migrations")
        assert version == (MIGRATIONS[-1][0],)  # 14 and every later one
        uscc = upgraded.registry.by_code("budongchan").uscc
        enrolment = upgraded.staff.add(
            uscc, "bdc-m14", "王芳", frozenset({StaffRole.CLERK}), actor=upgraded.identity.uscc
        )
        upgraded.staff.enrol("bdc-m14", enrolment.code, "correct horse battery staple")
        with TestClient(create_app(upgraded)) as client:
            dept = DemoDepartment.load(upgraded, "budongchan")
            r = client.post(
                "/v1/token",
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": dept.assertion(
                        upgraded.tokens.token_endpoint, act="bdc-m14"
                    ),
                },
            )
            assert r.status_code == 200, r.text
        upgraded.checkpoints.sign_now()
        out = tmp_path / "audit.jsonl"
        export_log(upgraded.audit, upgraded.checkpoints, out)
        persons = upgraded.store.fetchall(
            "SELECT person FROM audit_entries WHERE seq < ? ORDER BY seq", [len(before)]
        )
    assert _leaves(data)[: len(before)] == before  # older leaves untouched
    assert {p for (p,) in persons} == {None}
    verified = verify_export(out)
    assert verified.first == 0
    assert verified.end > len(before)
    with duckdb.connect(str(data / DB_FILE), read_only=True) as db:
        named = db.execute(
            "SELECT action FROM audit_entries WHERE person = 'bdc-m14' AND outcome = 'ok'"
        ).fetchall()
    assert ("token.issue",) in named
