"""Fixtures: a real demo exchange on a real DuckDB file, driven through its real API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.config import Settings
from exchange.demo.city import City, generate_city
from exchange.demo.setup import create_demo, publish_city
from exchange.server import build_app
from exchange.service import Exchange
from tests.support.tokens import access_token


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city()


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory, city: City) -> Iterator[Exchange]:
    data: Path = tmp_path_factory.mktemp("exchange") / "data"
    ex = create_demo(Settings(data=data))
    publish_city(ex, city)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def client(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(build_app(exchange), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def token_for(exchange: Exchange, client: TestClient) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def get(code: str) -> str:
        if code not in cache:
            cache[code] = access_token(exchange, client, code)
        return cache[code]

    return get


@pytest.fixture(scope="module")
def auth(token_for: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    return lambda code: {"Authorization": f"Bearer {token_for(code)}"}
