"""JWS algorithms for govex's keys, and the govex-scoped ``GOVEX-SM2-SM3``.

Access tokens and RFC 7523 client assertions are JWTs made and checked by PyJWT.
Ed25519 keys sign ``EdDSA`` (RFC 8037) and P-256 keys ``ES256`` (RFC 7518). No JWS
``alg`` is registered for SM2 (IANA "JSON Web Signature and Encryption Algorithms"), so
govex names its own: ``GOVEX-SM2-SM3`` — SM2-with-SM3 (GB/T 32918.2, default
distinguishing identifier ``1234567812345678``) over the JWS signing input
(``BASE64URL(header) ‖ '.' ‖ BASE64URL(payload)``, RFC 7515 §5.1), the signature as raw
``r‖s`` (64 bytes, like ``ES256``); its keys' JWK form is govex-scoped too
(``kty`` ``EC``, ``crv`` ``SM2``, :func:`signing.keys.public_jwk`). It is registered with
PyJWT through its public ``register_algorithm``; a decode names the one algorithm it
accepts, pinned by the key (:func:`jws_alg`), so registering it widens nothing.
"""

from __future__ import annotations

import json
from typing import Any, Final

import jwt
from jwt.algorithms import Algorithm as JwtAlgorithm

from .algorithms import Algorithm, PrivateKey, PublicKey, algorithm_of
from .errors import SigningError, VerificationError
from .gm.sm2 import SM2PrivateKey, SM2PublicKey
from .keys import load_jwk, public_jwk

__all__ = ["JWS_ALGORITHMS", "SM2_JWS_ALG", "jws_alg", "jws_key"]

SM2_JWS_ALG: Final = "GOVEX-SM2-SM3"
# the JWS algorithm of each key algorithm
JWS_ALGORITHMS: Final[dict[Algorithm, str]] = {
    "Ed25519": "EdDSA",
    "ES256": "ES256",
    "SM2": SM2_JWS_ALG,
}


class _SM2WithSM3(JwtAlgorithm):
    """PyJWT's view of ``GOVEX-SM2-SM3``: SM2 keys of :mod:`signing.gm.sm2` only."""

    def prepare_key(self, key: Any) -> SM2PrivateKey | SM2PublicKey:
        if not isinstance(key, SM2PrivateKey | SM2PublicKey):
            raise jwt.InvalidKeyError(f"{SM2_JWS_ALG} needs an SM2 key")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        if not isinstance(key, SM2PrivateKey):
            raise jwt.InvalidKeyError(f"{SM2_JWS_ALG} signs with an SM2 private key")
        return key.sign(msg)

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        public = key.public_key() if isinstance(key, SM2PrivateKey) else key
        if not isinstance(public, SM2PublicKey):
            return False
        try:
            public.verify(sig, msg)
        except VerificationError:
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        if isinstance(key_obj, SM2PrivateKey):
            raise jwt.InvalidKeyError(f"{SM2_JWS_ALG}: govex gives no private key a JWK form")
        if not isinstance(key_obj, SM2PublicKey):
            raise jwt.InvalidKeyError(f"{SM2_JWS_ALG} needs an SM2 key")
        jwk = public_jwk(key_obj)
        return jwk if as_dict else json.dumps(jwk)

    @staticmethod
    def from_jwk(jwk: Any) -> SM2PublicKey:
        try:
            data = json.loads(jwk) if isinstance(jwk, str) else jwk
            key = load_jwk(data)
        except (ValueError, SigningError) as exc:
            raise jwt.InvalidKeyError(f"not an SM2 JWK: {exc}") from exc
        if not isinstance(key, SM2PublicKey):
            raise jwt.InvalidKeyError(f"{SM2_JWS_ALG} needs an EC/SM2 JWK")
        return key


def _register() -> None:
    try:
        jwt.get_algorithm_by_name(SM2_JWS_ALG)
    except NotImplementedError:
        jwt.register_algorithm(SM2_JWS_ALG, _SM2WithSM3())


_register()


def jws_alg(key: PrivateKey | PublicKey) -> str:
    """The JWS ``alg`` a key signs with (and the only one a check of it accepts)."""
    return JWS_ALGORITHMS[algorithm_of(key)]


def jws_key(key: PrivateKey | PublicKey) -> Any:
    """The key in the form PyJWT takes for :func:`jws_alg` (SM2 keys as they are)."""
    algorithm_of(key)
    return key
