"""The signature algorithms govex uses, over raw bytes: the one place that picks by key.

Ed25519 (default), ECDSA P-256 with SHA-256 and SM2-with-SM3 (国密, through
:mod:`signing.gm.sm2`); ECDSA and SM2 signatures travel as raw ``r‖s`` (IEEE P1363,
64 bytes), the encoding Data Integrity and JOSE use. :func:`spki_der` gives any public
key's SubjectPublicKeyInfo.
"""

from __future__ import annotations

from typing import Literal, TypeGuard, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .errors import KeyLoadError, VerificationError
from .gm.sm2 import SM2PrivateKey, SM2PublicKey

__all__ = [
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "algorithm_of",
    "pyca_private",
    "pyca_public",
    "secret_bytes",
    "sign",
    "spki_der",
    "verify",
]

Algorithm = Literal["Ed25519", "ES256", "SM2"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | SM2PrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | SM2PublicKey

_P256_ORDER_BYTES = 32


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    """Name the algorithm of a key; refuse anything but Ed25519, P-256 and SM2."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, SM2PrivateKey | SM2PublicKey):
        return "SM2"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return "ES256"
    raise KeyLoadError(f"unsupported key type {type(key).__name__}; use Ed25519, P-256 or SM2")


_SIGNS_ITSELF: dict[type, bool] = {}
_VERIFIES_ITSELF: dict[type, bool] = {}


def _signs_itself(key: PrivateKey) -> TypeGuard[ed25519.Ed25519PrivateKey | SM2PrivateKey]:
    """Does ``key.sign(data)`` make a govex signature as it is (Ed25519, SM2)? Asked once per
    key class: ``isinstance`` against the ``cryptography`` classes goes through ``ABCMeta``."""
    kind = type(key)
    found = _SIGNS_ITSELF.get(kind)
    if found is None:
        found = _SIGNS_ITSELF[kind] = isinstance(key, ed25519.Ed25519PrivateKey | SM2PrivateKey)
    return found


def _verifies_itself(key: PublicKey) -> TypeGuard[ed25519.Ed25519PublicKey | SM2PublicKey]:
    """Does ``key.verify(signature, data)`` check a govex signature as it is (Ed25519, SM2)?"""
    kind = type(key)
    found = _VERIFIES_ITSELF.get(kind)
    if found is None:
        found = _VERIFIES_ITSELF[kind] = isinstance(key, ed25519.Ed25519PublicKey | SM2PublicKey)
    return found


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``; ECDSA signatures are returned as 64-byte ``r‖s``."""
    if _signs_itself(key):
        return key.sign(data)
    algorithm_of(key)
    der = cast(ec.EllipticCurvePrivateKey, key).sign(data, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_P256_ORDER_BYTES, "big") + s.to_bytes(_P256_ORDER_BYTES, "big")


def verify(key: PublicKey, signature: bytes, data: bytes) -> None:
    """Verify or raise :class:`VerificationError`."""
    try:
        if _verifies_itself(key):
            key.verify(signature, data)
            return
        algorithm_of(key)
        if len(signature) != 2 * _P256_ORDER_BYTES:
            raise VerificationError("ECDSA P-256 signature must be 64 bytes (r‖s)")
        r = int.from_bytes(signature[:_P256_ORDER_BYTES], "big")
        s = int.from_bytes(signature[_P256_ORDER_BYTES:], "big")
        cast(ec.EllipticCurvePublicKey, key).verify(
            encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as exc:
        raise VerificationError("signature does not verify") from exc


def spki_der(key: PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of a public key of any supported algorithm."""
    if isinstance(key, SM2PublicKey):
        return key.spki_der()
    algorithm_of(key)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def secret_bytes(key: PrivateKey) -> bytes:
    """The key's private value as bytes (Ed25519 seed, P-256 or SM2 scalar), to derive
    other secrets from with HMAC; never stored or sent."""
    if isinstance(key, SM2PrivateKey):
        return key.secret_scalar()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    algorithm_of(key)
    return key.private_numbers().private_value.to_bytes(_P256_ORDER_BYTES, "big")


def pyca_private(key: PrivateKey) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
    """The key as a ``cryptography`` object, for JOSE and raw exports; SM2 has none yet."""
    if isinstance(key, SM2PrivateKey):
        raise KeyLoadError("this operation does not support SM2 keys yet")
    return key


def pyca_public(key: PublicKey) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
    """The key as a ``cryptography`` object, for JOSE; SM2 has none yet."""
    if isinstance(key, SM2PublicKey):
        raise KeyLoadError("this operation does not support SM2 keys yet")
    return key
