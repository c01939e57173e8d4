"""The two signature algorithms govex uses, over raw bytes.

Ed25519 (default) and ECDSA P-256 with SHA-256; ECDSA signatures travel as raw
``r‖s`` (IEEE P1363, 64 bytes), the encoding Data Integrity and JOSE use.
"""

from __future__ import annotations

from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .errors import KeyLoadError, VerificationError

__all__ = [
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "algorithm_of",
    "sign",
    "verify",
]

Algorithm = Literal["Ed25519", "ES256"]
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

_P256_ORDER_BYTES = 32


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    """Name the algorithm of a key; refuse anything but Ed25519 and P-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return "ES256"
    raise KeyLoadError(f"unsupported key type {type(key).__name__}; use Ed25519 or ECDSA P-256")


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``; ECDSA signatures are returned as 64-byte ``r‖s``."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    algorithm_of(key)
    der = key.sign(data, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_P256_ORDER_BYTES, "big") + s.to_bytes(_P256_ORDER_BYTES, "big")


def verify(key: PublicKey, signature: bytes, data: bytes) -> None:
    """Verify or raise :class:`VerificationError`."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return
        algorithm_of(key)
        if len(signature) != 2 * _P256_ORDER_BYTES:
            raise VerificationError("ECDSA P-256 signature must be 64 bytes (r‖s)")
        r = int.from_bytes(signature[:_P256_ORDER_BYTES], "big")
        s = int.from_bytes(signature[_P256_ORDER_BYTES:], "big")
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise VerificationError("signature does not verify") from exc
