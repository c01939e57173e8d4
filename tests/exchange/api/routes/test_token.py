"""``POST /v1/token`` as an OAuth 2.0 token endpoint (RFC 6749 §5.1/§5.2, RFC 7523 §3.2)
and its RFC 8414 metadata; every other route keeps problem+json."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from exchange.client import ASSERTION_TYPE, problem_detail
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange


def _form(exchange: Exchange, code: str = "gongan") -> dict[str, str]:
    dept = DemoDepartment.load(exchange, code)
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": dept.assertion(exchange.tokens.token_endpoint),
    }


def _is_oauth_error(r: httpx.Response, status: int, error: str, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["error"] == error
    assert body["error_description"]
    assert body["code"] == code


def test_a_token_answer_is_rfc_6749_and_never_cached(
    exchange: Exchange, client: TestClient
) -> None:
    r = client.post("/v1/token", data=_form(exchange))
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int)


def test_a_wrong_grant_type_is_unsupported_grant_type_400(client: TestClient) -> None:
    r = client.post("/v1/token", data={"grant_type": "password", "username": "u"})
    _is_oauth_error(r, 400, "unsupported_grant_type", "exchange.unsupported_grant_type")


def test_a_request_without_grant_type_is_invalid_request(client: TestClient) -> None:
    _is_oauth_error(
        client.post("/v1/token", data={}), 400, "invalid_request", "schema.invalid_request"
    )
    long = client.post("/v1/token", data={"grant_type": "x" * 100})
    _is_oauth_error(long, 400, "invalid_request", "schema.too_long")


def test_a_json_body_is_refused_as_invalid_request(exchange: Exchange, client: TestClient) -> None:
    r = client.post("/v1/token", json=_form(exchange))
    _is_oauth_error(r, 400, "invalid_request", "schema.invalid_request")
    assert "x-www-form-urlencoded" in r.json()["error_description"]


def test_a_refused_assertion_is_invalid_client_401_with_a_challenge(
    exchange: Exchange, client: TestClient
) -> None:
    form = _form(exchange)
    assert client.post("/v1/token", data=form).status_code == 200
    replayed = client.post("/v1/token", data=form)
    _is_oauth_error(replayed, 401, "invalid_client", "exchange.replay")
    assert replayed.headers["www-authenticate"] == 'Bearer realm="govex"'
    forged = client.post("/v1/token", data={**form, "client_assertion": "a.b.c"})
    _is_oauth_error(forged, 401, "invalid_client", "exchange.invalid_token")


def test_another_client_authentication_method_is_invalid_client(client: TestClient) -> None:
    """client_secret_basic is not offered: 401 with a challenge for the scheme used."""
    r = client.post(
        "/v1/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic Z29uZ2FuOnNlY3JldA=="},
    )
    _is_oauth_error(r, 401, "invalid_client", "exchange.unauthenticated")
    assert r.headers["www-authenticate"] == 'Basic realm="govex"'


def test_the_client_reads_the_oauth_error_with_its_code(client: TestClient) -> None:
    r = client.post("/v1/token", data={"grant_type": "password"})
    detail = problem_detail(httpx.Response(r.status_code, content=r.content))
    assert detail == "grant_type must be client_credentials [exchange.unsupported_grant_type]"


def test_other_routes_still_answer_problem_json(client: TestClient) -> None:
    r = client.get("/v1/resources")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "error" not in r.json()


def test_the_authorization_server_metadata_is_rfc_8414(
    exchange: Exchange, client: TestClient
) -> None:
    r = client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    meta = r.json()
    assert meta["issuer"] == exchange.identity.issuer
    assert meta["token_endpoint"] == exchange.tokens.token_endpoint
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(meta["token_endpoint_auth_signing_alg_values_supported"]) == {
        "EdDSA",
        "ES256",
        "GOVEX-SM2-SM3",
    }
    assert meta["jwks_uri"] == f"{exchange.identity.issuer}/v1/keys"
    # the discovery documents agree
    assert client.get("/.well-known/govex").json()["token_endpoint"] == meta["token_endpoint"]
