"""RELIABILITY B1: forged tokens and client assertions are refused, never a server error."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient

from exchange.client import ASSERTION_TYPE
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)]
    )


def _flip(token: str) -> str:
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[5] ^= 0x01
    return f"{head}.{body}.{_b64(bytes(raw))}"


def forged_access_tokens(exchange: Exchange) -> dict[str, str]:
    key = exchange.keyring.key("token")
    kid = exchange.keyring.kids["token"]
    now = int(time.time())
    good = {
        "iss": exchange.identity.issuer,
        "aud": "govex-api",
        "sub": exchange.registry.by_code("budongchan").uscc,
        "iat": now,
        "exp": now + 300,
        "jti": "j1",
    }
    pub_pem = exchange.keyring.public("token").public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_raw = exchange.keyring.public("token").public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )

    def signed(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, **(headers or {})})

    def without(name: str) -> dict[str, Any]:
        return {k: v for k, v in good.items() if k != name}

    other = ed25519.Ed25519PrivateKey.generate()
    valid = signed(good)
    head, body, _ = valid.split(".")
    import hashlib
    import hmac

    hs_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{body}".encode()
    return {
        "alg none": _raw({"alg": "none", "kid": kid}, good),
        "alg none, empty kid": _raw({"alg": "none"}, good),
        "HS256 with the public key as secret (PEM)": hs_input.decode()
        + "."
        + _b64(hmac.new(pub_pem, hs_input, hashlib.sha256).digest()),
        "HS256 with the public key as secret (raw)": hs_input.decode()
        + "."
        + _b64(hmac.new(pub_raw, hs_input, hashlib.sha256).digest()),
        "expired": signed({**good, "iat": now - 4000, "exp": now - 3000}),
        "future nbf": signed({**good, "nbf": now + 3600}),
        "future iat": signed({**good, "iat": now + 3600}),
        "missing exp": signed(without("exp")),
        "missing aud": signed(without("aud")),
        "missing iss": signed(without("iss")),
        "missing sub": signed(without("sub")),
        "missing jti": signed(without("jti")),
        "missing iat": signed(without("iat")),
        "wrong aud": signed({**good, "aud": "someone-else"}),
        "wrong iss": signed({**good, "iss": "https://evil.example"}),
        "unknown sub": signed({**good, "sub": "91110000000000000X"}),
        "unknown kid": jwt.encode(good, key, algorithm="EdDSA", headers={"kid": "nope"}),
        "path-like kid": jwt.encode(
            good, key, algorithm="EdDSA", headers={"kid": "../../keys/token.pem"}
        ),
        "jku header": signed(good, {"jku": "https://evil.example/jwks"}),
        "x5u header": signed(good, {"x5u": "https://evil.example/cert"}),
        "embedded jwk header": signed(
            good, {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": _b64(pub_raw)}}
        ),
        "signed by another key": jwt.encode(good, other, algorithm="EdDSA", headers={"kid": kid}),
        "stripped signature": f"{head}.{body}.",
        "flipped signature bit": _flip(valid),
        "garbage": "a.b.c",
    }


def test_forged_access_tokens_are_refused(exchange: Exchange, client: TestClient) -> None:
    forged = forged_access_tokens(exchange)
    refused = server_errors = 0
    for name, token in forged.items():
        r = client.get("/v1/resources", headers={"Authorization": f"Bearer {token}"})
        server_errors += r.status_code >= 500
        if r.status_code == 401:
            refused += 1
        else:
            print("accepted:", name, r.status_code)
    print(
        f"B1 forged access tokens: {refused}/{len(forged)} refused, {server_errors} server errors"
    )
    assert refused == len(forged)
    assert server_errors == 0


def test_a_genuine_token_is_accepted(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    assert client.get("/v1/resources", headers=auth("budongchan")).status_code == 200


def _post_assertion(client: TestClient, assertion: str) -> int:
    return client.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    ).status_code


def test_forged_client_assertions_are_refused(exchange: Exchange, client: TestClient) -> None:
    dept = DemoDepartment.load(exchange, "gongan")
    aud = exchange.tokens.token_endpoint
    now = int(time.time())
    good = {"iss": dept.uscc, "sub": dept.uscc, "aud": aud, "iat": now, "exp": now + 60}

    def signed(claims: dict[str, Any], key: Any = dept.auth_key, **headers: Any) -> str:
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": dept.auth_kid, **headers})

    replayed = signed({**good, "jti": "replay-1"})
    assert _post_assertion(client, replayed) == 200
    other = DemoDepartment.load(exchange, "minzheng")
    forged = {
        "replayed jti": replayed,
        "alg none": _raw({"alg": "none", "kid": dept.auth_kid}, {**good, "jti": "n1"}),
        "signed by another department's key": signed({**good, "jti": "o1"}, other.auth_key),
        "iss is another department": signed({**good, "iss": other.uscc, "jti": "o2"}),
        "sub differs from iss": signed({**good, "sub": other.uscc, "jti": "o3"}),
        "wrong audience": signed({**good, "aud": "https://elsewhere/v1/token", "jti": "a1"}),
        "expired": signed({**good, "iat": now - 600, "exp": now - 300, "jti": "e1"}),
        "lives too long": signed({**good, "exp": now + 86400, "jti": "l1"}),
        "missing jti": signed(good),
        "seal key used as auth key": jwt.encode(
            {**good, "jti": "s1"}, dept.seal_key, algorithm="EdDSA", headers={"kid": dept.seal_kid}
        ),
        "x5u header": signed({**good, "jti": "x1"}, x5u="https://evil.example"),
    }
    refused = 0
    for name, assertion in forged.items():
        status = _post_assertion(client, assertion)
        assert status < 500, name
        if status == 401:
            refused += 1
        else:
            print("accepted:", name, status)
    print(f"B1 forged client assertions: {refused}/{len(forged)} refused, 0 server errors")
    assert refused == len(forged)


def test_token_endpoint_refuses_wrong_grant_type_with_an_oauth_error(client: TestClient) -> None:
    r = client.post(
        "/v1/token",
        data={"grant_type": "password", "client_assertion_type": "x", "client_assertion": "y"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == "unsupported_grant_type"
    assert r.json()["code"] == "exchange.unsupported_grant_type"
