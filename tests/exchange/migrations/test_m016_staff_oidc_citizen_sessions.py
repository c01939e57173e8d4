"""Migration 16 on a store as version 15 left it: console sessions signed in before the
upgrade stay signed in (they become the ``console`` kind), citizen sessions and
departments' own identity providers can be kept."""

from __future__ import annotations

from pathlib import Path

import duckdb

from exchange.config import CitizenSettings, Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange
from exchange.store import DB_FILE
from exchange.web.citizen import CitizenSessions
from exchange.web.oidc_client import Citizen
from exchange.web.sessions_store import SessionStore


def _back_to_version_15(data: Path) -> None:
    with duckdb.connect(str(data / DB_FILE)) as db:
        db.execute("DROP TABLE department_oidc")
        db.execute("DROP TABLE quarantine_decisions")  # version 17
        db.execute("DROP INDEX console_sessions_owner_idx")  # DuckDB alters no indexed table
        db.execute("ALTER TABLE console_sessions DROP COLUMN kind")
        db.execute("ALTER TABLE console_sessions DROP COLUMN sealed")
        db.execute("CREATE INDEX console_sessions_owner_idx ON console_sessions (owner)")
        db.execute("DELETE FROM schema_migrations WHERE version > 15")


def test_a_version_15_store_upgrades_and_keeps_its_console_sessions(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data")
    with create_demo(settings) as exchange:
        uscc = exchange.registry.by_code("gongan").uscc
        store = SessionStore(exchange.store, exchange.tokens, exchange.settings.console)
        session, _ = store.create(uscc, staff_id=None, method="demo")
    _back_to_version_15(settings.data)
    with Exchange.open(settings) as exchange:
        store = SessionStore(exchange.store, exchange.tokens, exchange.settings.console)
        kept = store.get(session.id)
        assert kept is not None
        assert (kept.uscc, kept.method) == (uscc, "demo")
        citizens = CitizenSessions(exchange.store, CitizenSettings())
        me = Citizen("https://idp.example", "sub-1", "赵浩然", "413023198012147596")
        mine = citizens.create(me)
        found = citizens.get(mine.id)
        assert found is not None
        assert found.citizen == me
        assert store.get(mine.id) is None  # a citizen session is no console session
        exchange.staff.oidc.set(
            uscc,
            issuer="https://idp.example.gov.cn",
            client_id="govex",
            client_secret=None,
            actor=exchange.identity.uscc,
        )
    with Exchange.open(settings) as exchange:
        held = exchange.staff.oidc.get(uscc)
        assert held is not None
        assert held.issuer == "https://idp.example.gov.cn"
