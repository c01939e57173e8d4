"""Fixtures: a real demo exchange (real DuckDB file, real keys) and a connector's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchange.config import DEMO_PASSPHRASE, Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange

from .postgres import PostgresServer, PostgresUnavailable


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    ex = create_demo(Settings(data=tmp_path / "data"))
    yield ex
    ex.close()


@pytest.fixture
def connector_env(exchange: Exchange) -> dict[str, str]:
    """What a demo department's connector needs in its environment."""
    return {
        "GOVEX_DATA": str(exchange.settings.data),
        "GOVEX_CONNECTOR_KEY_PASSPHRASE": DEMO_PASSPHRASE,
    }


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server from Debian's packages; skipped only outside CI."""
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (postgres tests must run in CI)")
        pytest.skip(str(exc))
    with server:
        yield server
