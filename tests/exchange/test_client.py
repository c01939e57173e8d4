"""The one RFC 7523 client: assertions the exchange accepts, refusals with their code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.client import CredentialsRefused, TokenClient, make_client_assertion
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.service import Exchange


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    data: Path = tmp_path_factory.mktemp("client") / "data"
    with create_demo(Settings(data=data)) as ex:
        yield ex


@pytest.fixture(scope="module")
def client(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(create_app(exchange), raise_server_exceptions=False) as c:
        yield c


def test_a_department_gets_an_access_token_with_the_one_client(
    exchange: Exchange, client: TestClient
) -> None:
    dept = DemoDepartment.load(exchange, "gongan")
    tokens = TokenClient(client, uscc=dept.uscc, auth_key=dept.auth_key, auth_kid=dept.auth_kid)
    assert tokens.audience() == exchange.tokens.token_endpoint
    first, second = tokens.request(), tokens.request()  # a fresh jti each time
    assert first.expires_in == exchange.settings.api.access_token_ttl_s
    assert exchange.tokens.authenticate(first.access_token).uscc == dept.uscc
    assert exchange.tokens.authenticate(second.access_token).uscc == dept.uscc


def test_a_refused_assertion_is_credentials_refused_with_the_stable_code(
    exchange: Exchange, client: TestClient
) -> None:
    dept = DemoDepartment.load(exchange, "gongan")
    sealing = TokenClient(client, uscc=dept.uscc, auth_key=dept.seal_key, auth_kid=dept.seal_kid)
    with pytest.raises(CredentialsRefused) as refused:
        sealing.request()
    print(f"seal key used for auth: {refused.value.message}")
    assert refused.value.message.endswith("[exchange.invalid_token]")


def test_an_assertion_names_the_department_and_lives_two_minutes(exchange: Exchange) -> None:
    dept = DemoDepartment.load(exchange, "minzheng")
    audience = exchange.tokens.token_endpoint
    one = make_client_assertion(dept.auth_key, dept.auth_kid, dept.uscc, audience, now=1_000)
    two = make_client_assertion(dept.auth_key, dept.auth_kid, dept.uscc, audience, now=1_000)
    claims = jwt.decode(one, options={"verify_signature": False})
    assert jwt.get_unverified_header(one) == {"alg": "EdDSA", "kid": dept.auth_kid, "typ": "JWT"}
    assert (claims["iss"], claims["sub"], claims["aud"]) == (dept.uscc, dept.uscc, audience)
    assert (claims["iat"], claims["exp"]) == (1_000, 1_120)
    assert claims["jti"] != jwt.decode(two, options={"verify_signature": False})["jti"]
