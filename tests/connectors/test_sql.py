from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import ConfigError, SourceError
from connectors.sql import SqlSource, placeholder

from .postgres import PostgresServer

ROWS = [(f"V{i:03d}", f"name {i}", f"2026-01-05 09:{i:02d}:00") for i in range(1, 8)]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "dept.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (no TEXT, name TEXT, updated TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", ROWS)
    db.commit()
    db.close()
    return path


def test_rows_come_in_chunks_with_their_ordinals(sqlite_db: Path) -> None:
    source = SqlSource.from_driver(
        "sqlite3", str(sqlite_db), "SELECT no, name FROM t;", fetch_size=3
    )
    rows = list(source.read())
    assert [r.line for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0].fields == {"no": "V001", "name": "name 1"}
    assert source.columns() == ["no", "name"]
    assert source.describe() == "SQL via sqlite3"


def test_the_watermark_reads_only_newer_rows_as_a_bound_parameter(sqlite_db: Path) -> None:
    source = SqlSource.from_driver(
        "sqlite3", str(sqlite_db), "SELECT * FROM t", watermark="updated"
    )
    sql, params = source.statement("2026-01-05 09:05:00")
    assert sql.endswith("WHERE updated > ? ORDER BY updated")
    assert params == ["2026-01-05 09:05:00"]
    newer = [r.fields["no"] for r in source.read("2026-01-05 09:05:00")]
    assert newer == ["V006", "V007"]
    assert len(list(source.read(None))) == 7


@pytest.mark.parametrize(
    ("style", "mark"),
    [
        ("qmark", "?"),
        ("numeric", ":1"),
        ("named", ":since"),
        ("format", "%s"),
        ("pyformat", "%(since)s"),
    ],
)
def test_every_db_api_paramstyle_has_its_placeholder(style: str, mark: str) -> None:
    assert placeholder(style) == mark
    source = SqlSource(lambda: None, "SELECT 1", paramstyle=style, watermark="w")
    sql, params = source.statement(5)
    assert sql.endswith(f"w > {mark} ORDER BY w")
    assert params == ({"since": 5} if style in ("named", "pyformat") else [5])


def test_bad_settings_and_failures_say_what_is_wrong(sqlite_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not installed"):
        SqlSource.from_driver("no_such_driver_xyz", "x", "SELECT 1")
    with pytest.raises(ConfigError, match=r"not a DB-API 2\.0 driver"):
        SqlSource.from_driver("json", "x", "SELECT 1")
    with pytest.raises(ConfigError, match="plain column name"):
        SqlSource.from_driver("sqlite3", "x", "SELECT 1", watermark="a; DROP TABLE t")
    with pytest.raises(SourceError, match="the query fails"):
        list(SqlSource.from_driver("sqlite3", str(sqlite_db), "SELECT * FROM nope").read())
    with pytest.raises(SourceError, match="cannot connect"):
        list(SqlSource.from_driver("sqlite3", str(tmp_path / "no" / "x.db"), "SELECT 1").read())


@pytest.mark.postgres
def test_a_real_postgresql_server_is_read_through_psycopg_incrementally(
    postgres: PostgresServer,
) -> None:
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS qs_jsxx")
        conn.execute(
            "CREATE TABLE qs_jsxx (pzxh text PRIMARY KEY, nsrxm text, jsyj numeric(16,2), "
            "jkrq date, gxsj timestamp)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO qs_jsxx VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        f"P{i}",
                        f"纳税人{i}",
                        f"{i}000.5",
                        f"2026-01-{i:02d}",
                        datetime(2026, 1, i, 9),
                    )
                    for i in range(1, 6)
                ],
            )
    source = SqlSource.from_driver(
        "psycopg",
        postgres.dsn,
        "SELECT pzxh, nsrxm, jsyj, jkrq, gxsj FROM qs_jsxx",
        watermark="gxsj",
    )
    rows = list(source.read())
    assert [r.fields["pzxh"] for r in rows] == ["P1", "P2", "P3", "P4", "P5"]
    first: dict[str, Any] = dict(rows[0].fields)
    assert first["nsrxm"] == "纳税人1"
    assert str(first["jsyj"]) == "1000.50"
    assert first["jkrq"].isoformat() == "2026-01-01"
    newer = list(source.read(datetime(2026, 1, 3, 9)))
    assert [r.fields["pzxh"] for r in newer] == ["P4", "P5"]
    assert source.columns() == ["pzxh", "nsrxm", "jsyj", "jkrq", "gxsj"]
