"""``GET /v1/keys`` on an SM2 exchange: every key in its govex-scoped JWK form (EC/SM2), and
an access token the exchange issues verifies under the published key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange
from signing.jose import SM2_JWS_ALG, jws_key
from signing.keys import kid_of, load_jwk
from tests.support.tokens import access_token


@pytest.fixture
def sm2(tmp_path: Path) -> Iterator[Exchange]:
    ex = create_demo(Settings(data=tmp_path / "data"), crypto="sm2")
    yield ex
    ex.close()


def test_the_keys_of_an_sm2_exchange_are_published_as_ec_sm2_jwks(sm2: Exchange) -> None:
    with TestClient(create_app(sm2), raise_server_exceptions=False) as api:
        r = api.get("/v1/keys")
        assert r.status_code == 200, r.text
        body = r.json()
        published = {"token": body["keys"][0], "log": body["log_key"], "seal": body["seal_key"]}
        for name, jwk in published.items():
            assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "SM2", SM2_JWS_ALG)
            assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg"}
            key = load_jwk(jwk)
            assert key == sm2.keyring.public(name)
            assert jwk["kid"] == sm2.keyring.kids[name] == kid_of(key)
        token = access_token(sm2, api, "dashuju")
        assert jwt.get_unverified_header(token)["kid"] == published["token"]["kid"]
        claims = jwt.decode(
            token,
            jws_key(load_jwk(published["token"])),
            algorithms=[SM2_JWS_ALG],
            options={"verify_aud": False},
        )
        assert claims["sub"]
