"""The store: migrations, and one process per data directory (RELIABILITY F1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exchange.errors import NotInitialised, StoreLocked
from exchange.store import MIGRATIONS, Store


def test_migrations_apply_once_and_record_their_version(tmp_path: Path) -> None:
    with Store(tmp_path, create=True) as store:
        assert store.migrate() == MIGRATIONS[-1][0]
        rows = store.fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    with Store(tmp_path) as store:  # reopening applies nothing twice
        assert store.fetchone("SELECT count(*) FROM schema_migrations")[0] == len(MIGRATIONS)


def test_opening_a_missing_exchange_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised, match="govex init"):
        Store(tmp_path / "nothing")


def test_second_process_on_the_same_data_directory_gets_a_clear_refusal(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from exchange.store import Store\n"
        "from exchange.errors import StoreLocked\n"
        "try:\n"
        f"    Store(__import__('pathlib').Path({str(tmp_path)!r}))\n"
        "except StoreLocked as exc:\n"
        "    print('REFUSED', exc); sys.exit(3)\n"
        "print('OPENED')\n"
    )
    with Store(tmp_path, create=True):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    print(f"F1 second process: exit {result.returncode}, {result.stdout.strip()[:120]}")
    assert result.returncode == 3
    assert "in use by another govex process" in result.stdout
    assert "Traceback" not in result.stderr


def test_same_process_second_open_is_refused_too(tmp_path: Path) -> None:
    with Store(tmp_path, create=True), pytest.raises(StoreLocked):
        Store(tmp_path)


def test_a_transaction_within_another_joins_it(tmp_path: Path) -> None:
    """A service's transaction opened inside a control event's apply commits or rolls
    back with the apply's: one commit for both."""
    with Store(tmp_path / "d", create=True) as store:
        store.execute("CREATE TABLE t (v INTEGER)")

        def apply() -> None:
            with store.transaction() as outer:
                with store.transaction() as inner:
                    inner.execute("INSERT INTO t VALUES (1)")
                assert store.in_transaction()
                outer.execute("INSERT INTO t VALUES (2)")
                raise RuntimeError("the apply failed after the service committed")

        with pytest.raises(RuntimeError):
            apply()
        assert not store.in_transaction()
        assert store.fetchall("SELECT v FROM t") == []
        with store.transaction():
            with store.transaction() as inner:
                inner.execute("INSERT INTO t VALUES (3)")
            # what another thread sees: only what is committed
            assert store.committed_cursor().execute("SELECT count(*) FROM t").fetchone() == (0,)
        assert store.fetchall("SELECT v FROM t") == [(3,)]


def test_when_ended_calls_after_the_commit_or_the_rollback_and_at_once_outside(
    tmp_path: Path,
) -> None:
    calls: list[str] = []
    with Store(tmp_path, create=True) as store:
        store.when_ended(lambda: calls.append("outside"))
        assert calls == ["outside"]
        store.execute("CREATE TABLE t (x INTEGER)")
        with store.transaction():
            store.execute("INSERT INTO t VALUES (1)")
            with store.transaction():  # a joined transaction's call waits for the outer end
                store.when_ended(lambda: calls.append(f"committed {_count(store)}"))
            assert calls == ["outside"]

        def undone() -> None:
            with store.transaction():
                store.execute("INSERT INTO t VALUES (2)")
                store.when_ended(lambda: calls.append(f"rolled back {_count(store)}"))
                raise RuntimeError("undone")

        with pytest.raises(RuntimeError, match="undone"):
            undone()
        store.when_ended(lambda: calls.append("outside again"))
    assert calls == ["outside", "committed 1", "rolled back 1", "outside again"]


def _count(store: Store) -> int:
    row = store.fetchone("SELECT count(*) FROM t")
    assert row is not None
    return int(row[0])
