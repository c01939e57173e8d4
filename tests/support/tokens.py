"""A demo department's access token from the exchange's own token endpoint."""

from __future__ import annotations

from fastapi.testclient import TestClient

from exchange.client import ASSERTION_TYPE
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange

__all__ = ["access_token"]


def access_token(exchange: Exchange, client: TestClient, code: str) -> str:
    """Department ``code``'s access token: its client assertion to ``POST /v1/token``."""
    dept = DemoDepartment.load(exchange, code)
    r = client.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": dept.assertion(exchange.tokens.token_endpoint),
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])
