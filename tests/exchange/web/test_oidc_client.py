"""The citizen sign-in's ID-token checks (exchange/web/oidc_client.py) against ID tokens
of the real OpenID Connect provider: the signature (its JWKS), issuer, audience, nonce."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from exchange.config import CitizenSettings
from exchange.errors import AuthError
from exchange.web.oidc_client import OidcClient
from tests.support.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    TESTCLIENT_CALLBACK,
    USER,
    OidcProvider,
)

pytestmark = pytest.mark.oidc


def _client(provider: OidcProvider, **changes: str) -> OidcClient:
    values = {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return OidcClient(CitizenSettings.model_validate({**values, **changes}))


def _id_token(client: OidcClient) -> tuple[str, str]:
    """An ID token the provider issued through the whole flow, and the nonce it carries."""
    url, pending = client.begin(TESTCLIENT_CALLBACK)
    with httpx.Client(timeout=10.0) as idp:
        answer = idp.get(url)
        while answer.status_code in (302, 303) and "/interaction/" in answer.headers["location"]:
            answer = idp.get(str(answer.url.join(answer.headers["location"])))
        action = re.search(r'action="([^"]+)"', answer.text)
        assert action is not None
        answer = idp.post(
            str(answer.url.join(action.group(1))), data={"login": USER, "password": PASSWORD}
        )
        while "testserver" not in answer.headers["location"]:
            answer = idp.get(str(answer.url.join(answer.headers["location"])))
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        tokens = idp.post(
            client.metadata()["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": TESTCLIENT_CALLBACK,
                "code_verifier": pending.verifier,
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
        ).json()
    return tokens["id_token"], pending.nonce


def test_an_id_token_is_accepted_only_with_its_signature_issuer_audience_and_nonce(
    oidc_provider: OidcProvider,
) -> None:
    client = _client(oidc_provider)
    token, nonce = _id_token(client)
    claims = client.validate(token, nonce)
    assert claims["iss"] == oidc_provider.issuer
    assert claims["id_number"] == "413023198012147596"
    head, body, signature = token.split(".")
    flipped = base64.urlsafe_b64decode(signature + "==")
    flipped = bytes([flipped[0] ^ 1]) + flipped[1:]
    forged_sig = base64.urlsafe_b64encode(flipped).rstrip(b"=").decode()
    refused = {
        "another nonce": lambda: client.validate(token, "another-nonce"),
        "another client": lambda: _client(oidc_provider, client_id="other").validate(token, nonce),
        "a flipped signature": lambda: client.validate(f"{head}.{body}.{forged_sig}", nonce),
        "no signature": lambda: client.validate(f"{head}.{body}.", nonce),
    }
    for name, attempt in refused.items():
        with pytest.raises(AuthError) as caught:
            attempt()
        assert caught.value.code.value == "exchange.citizen_sign_in_failed", name


def test_a_provider_naming_another_issuer_is_refused(oidc_provider: OidcProvider) -> None:
    elsewhere = _client(
        oidc_provider, issuer=oidc_provider.issuer.replace("127.0.0.1", "localhost")
    )
    with pytest.raises(AuthError, match="another issuer"):
        elsewhere.metadata()
