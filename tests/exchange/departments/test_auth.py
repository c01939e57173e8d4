"""Client-assertion replay (RELIABILITY B1): a ``jti`` is remembered per department, on disk.

Real exchanges on real DuckDB files, driven through ``POST /v1/token``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.client import ASSERTION_TYPE
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.service import Exchange


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    create_demo(Settings(data=folder)).close()
    return folder


def _token(exchange: Exchange, assertion: str) -> tuple[int, dict[str, object]]:
    with TestClient(create_app(exchange), raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
    return response.status_code, response.json()


def _assertion(exchange: Exchange, code: str, jti: str) -> str:
    dept = DemoDepartment.load(exchange, code)
    now = int(time.time())
    claims = {
        "iss": dept.uscc,
        "sub": dept.uscc,
        "aud": exchange.tokens.token_endpoint,
        "iat": now,
        "exp": now + 120,
        "jti": jti,
    }
    return jwt.encode(claims, dept.auth_key, algorithm="EdDSA", headers={"kid": dept.auth_kid})


@pytest.fixture
def opened(data: Path) -> Iterator[Exchange]:
    with Exchange.open(Settings(data=data)) as exchange:
        yield exchange


def test_an_assertion_replayed_after_a_restart_is_refused(data: Path) -> None:
    with Exchange.open(Settings(data=data)) as first:
        assertion = _assertion(first, "gongan", "restart-1")
        status, _ = _token(first, assertion)
        assert status == 200
    with Exchange.open(Settings(data=data)) as again:  # the same data directory, reopened
        status, body = _token(again, assertion)
    print(f"replay after restart: {status} {body.get('code')}")
    assert status == 401
    assert body["code"] == "exchange.replay"


def test_the_same_jti_from_two_departments_is_accepted_for_both(opened: Exchange) -> None:
    codes = ("gongan", "minzheng")
    statuses = [_token(opened, _assertion(opened, code, "shared-jti"))[0] for code in codes]
    print(f"one jti, two departments: {dict(zip(codes, statuses, strict=True))}")
    assert statuses == [200, 200]
    status, body = _token(opened, _assertion(opened, "minzheng", "shared-jti"))
    assert (status, body["code"]) == (401, "exchange.replay")


def test_a_jti_whose_earlier_use_expired_is_taken_again(opened: Exchange) -> None:
    dept = DemoDepartment.load(opened, "gongan")
    opened.store.execute(
        "INSERT INTO assertion_jti VALUES (?, ?, TIMESTAMPTZ '2020-01-01 00:00:00+00')",
        [dept.uscc, "old-jti"],
    )
    status, _ = _token(opened, _assertion(opened, "gongan", "old-jti"))
    assert status == 200
    status, body = _token(opened, _assertion(opened, "gongan", "old-jti"))
    assert (status, body["code"]) == (401, "exchange.replay")
