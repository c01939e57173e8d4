"""A fresh demo exchange per test (these tests suspend, revoke and rotate), and its API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.client import ASSERTION_TYPE
from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Exchange]:
    ex = create_demo(Settings(data=tmp_path / "data"))
    yield ex
    ex.close()


@pytest.fixture
def api(fresh: Exchange) -> Iterator[TestClient]:
    with TestClient(create_app(fresh), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def ask_token(api: TestClient) -> Callable[[str], object]:
    """POST /v1/token with a client assertion; returns the response."""

    def post(assertion: str) -> object:
        return api.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )

    return post
