"""Errors the routes did not expect: 500 exchange.internal; third-party errors translated."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.service import Exchange


def _failing_routes(app: FastAPI) -> None:
    @app.get("/v1/test-failures/defect")
    def defect() -> None:
        raise RuntimeError("a defect")

    @app.get("/v1/test-failures/database")
    def database() -> None:
        raise duckdb.IOException("IO Error: Could not read enough bytes from file")


@pytest.fixture(scope="module")
def failing(exchange: Exchange) -> Iterator[TestClient]:
    app = create_app(exchange, extensions=(_failing_routes,))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_an_unexpected_error_is_a_500_with_the_internal_code(failing: TestClient) -> None:
    r = failing.get("/v1/test-failures/defect")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "exchange.internal"
    assert "a defect" not in r.text  # details stay in the log


def test_a_database_failure_is_translated_to_a_503_with_a_stable_code(
    failing: TestClient,
) -> None:
    r = failing.get("/v1/test-failures/database")
    assert r.status_code == 503
    assert r.json()["code"] == "exchange.store_unavailable"
