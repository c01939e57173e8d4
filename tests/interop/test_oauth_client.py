"""RFC 6749 / RFC 7523 interop: an OAuth client library (Authlib) against a live exchange.

Authlib's ``OAuth2Client`` (httpx) with ``private_key_jwt`` client authentication (its
``PrivateKeyJWT``) gets an access token from ``govex serve`` over real HTTP, and reads the
exchange's refusal of a wrong ``grant_type`` as ``unsupported_grant_type``. The same
client reading an error without ``error`` (a deliberately broken artefact) cannot name it.
Authlib's RFC 8414 model validates the authorization-server metadata.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import OKPKey

from exchange.client import ASSERTION_LIFETIME_S
from exchange.demo.setup import DemoDepartment
from tests.interop.conftest import LiveExchange

# joserfc (under Authlib) warns that RFC 9864 deprecates the JWS name "EdDSA" in favour of
# the fully specified "Ed25519"; the exchange's auth keys sign as "EdDSA" (RFC 8037)
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")


def _client(live: LiveExchange, code: str = "gongan", **kwargs: Any) -> OAuth2Client:
    dept = DemoDepartment.load(live.data, code)
    pem = dept.auth_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    auth = PrivateKeyJWT(
        token_endpoint=live.token_endpoint,  # the audience the exchange expects
        # Authlib's assertions live an hour; the exchange takes at most 300 s (one client,
        # one token request: Authlib draws the jti once per PrivateKeyJWT)
        claims={"exp": int(time.time()) + ASSERTION_LIFETIME_S},
        headers={"kid": dept.auth_kid},
        alg="EdDSA",
    )
    return OAuth2Client(
        client_id=dept.uscc,
        client_secret=OKPKey.import_key(pem),  # Authlib's key type for Ed25519
        token_endpoint_auth_method=auth,
        timeout=10.0,
        **kwargs,
    )


def test_an_oauth_library_gets_a_token_with_private_key_jwt(live_exchange: LiveExchange) -> None:
    with _client(live_exchange) as client:
        token = client.fetch_token(f"{live_exchange.url}/v1/token", grant_type="client_credentials")
        print(f"OAuth client: token_type {token['token_type']}, expires_in {token['expires_in']}")
        assert token["token_type"] == "Bearer"
        assert int(token["expires_in"]) > 0
        # the token it got opens a protected route
        r = client.get(f"{live_exchange.url}/v1/resources")
        assert r.status_code == 200


def test_an_oauth_library_reads_a_refused_grant_type(live_exchange: LiveExchange) -> None:
    with _client(live_exchange) as client, pytest.raises(OAuthError) as refused:
        client.fetch_token(f"{live_exchange.url}/v1/token", grant_type="password",
                           username="u", password="p")  # fmt: skip
    print(f"OAuth client reads: error={refused.value.error!r} ({refused.value.description})")
    assert refused.value.error == "unsupported_grant_type"
    assert refused.value.description == "grant_type must be client_credentials"


def _read_replayed(live: LiveExchange, status: int, body: dict[str, Any]) -> str:
    """What Authlib's token-response parser makes of ``body`` as the endpoint's answer."""
    with _client(live) as client:
        try:
            token = client.parse_response_token(httpx.Response(status, json=body))
        except OAuthError as exc:
            return f"OAuthError {exc.error}"
        except Exception as exc:
            return f"not an OAuth error: {type(exc).__name__}"
        return f"taken as a token: {dict(token)}"


def test_an_oauth_error_without_error_is_not_read_as_one(live_exchange: LiveExchange) -> None:
    """The broken artefact: the exchange's refusal with its ``error`` member removed."""
    answer = httpx.post(f"{live_exchange.url}/v1/token", data={"grant_type": "password"})
    body = answer.json()
    broken = {k: v for k, v in body.items() if k != "error"}
    intact = _read_replayed(live_exchange, answer.status_code, body)
    without = _read_replayed(live_exchange, answer.status_code, broken)
    print(f"OAuth client on the refusal: {intact}; without 'error': {without}")
    assert intact == "OAuthError unsupported_grant_type"
    assert not without.startswith("OAuthError")


NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def test_the_metadata_passes_an_rfc_8414_validator(live_exchange: LiveExchange) -> None:
    body = httpx.get(f"{live_exchange.url}/.well-known/oauth-authorization-server").json()
    metadata = AuthorizationServerMetadata(body)
    metadata.validate_issuer()
    metadata.validate_token_endpoint()
    metadata.validate_jwks_uri()
    metadata.validate_grant_types_supported()
    metadata.validate_token_endpoint_auth_methods_supported()
    metadata.validate_token_endpoint_auth_signing_alg_values_supported()
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "EdDSA" in body["token_endpoint_auth_signing_alg_values_supported"]
