"""JWS algorithms by key, and the govex-scoped GOVEX-SM2-SM3 through PyJWT."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from signing.gm.sm2 import SM2PrivateKey
from signing.jose import SM2_JWS_ALG, jws_alg, jws_key
from signing.keys import generate_key


def _segments(token: str) -> tuple[dict[str, object], bytes]:
    header, _, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return decoded, base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))


def test_each_key_names_its_jws_algorithm() -> None:
    assert [jws_alg(generate_key(a)) for a in ("Ed25519", "ES256", "SM2")] == [
        "EdDSA",
        "ES256",
        "GOVEX-SM2-SM3",
    ]


def test_an_sm2_token_round_trips_and_its_signature_is_sm2_over_the_signing_input() -> None:
    key = SM2PrivateKey.generate()
    token = jwt.encode({"sub": "x"}, jws_key(key), algorithm=jws_alg(key), headers={"kid": "k"})
    header, signature = _segments(token)
    assert header["alg"] == SM2_JWS_ALG
    assert len(signature) == 64
    key.public_key().verify(signature, token.rsplit(".", 1)[0].encode("ascii"))
    claims = jwt.decode(token, jws_key(key.public_key()), algorithms=[SM2_JWS_ALG])
    assert claims == {"sub": "x"}


def test_an_sm2_token_under_another_key_altered_or_of_another_alg_is_refused() -> None:
    key = SM2PrivateKey.generate()
    token = jwt.encode({"sub": "x"}, key, algorithm=SM2_JWS_ALG)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SM2PrivateKey.generate().public_key(), algorithms=[SM2_JWS_ALG])
    head, body, sig = token.split(".")
    forged = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    with pytest.raises(jwt.PyJWTError):
        jwt.decode(forged, key.public_key(), algorithms=[SM2_JWS_ALG])
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, key.public_key(), algorithms=["EdDSA"])
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"sub": "x"}, generate_key("Ed25519"), algorithm=SM2_JWS_ALG)
