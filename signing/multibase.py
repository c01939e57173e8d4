"""Multibase strings and Multikey public/secret keys.

Multibase prefixes one character naming the base: ``z`` is base58btc (Bitcoin
alphabet, leading zero bytes as ``1``), ``u`` is base64url without padding. Data
Integrity ``proofValue`` uses ``z``; Bitstring Status Lists use ``u``.

A Multikey is the multibase (``z``) of a multicodec varint header followed by the
raw key bytes:

============  =========  ==============================  ============
key           multicodec  body                            looks like
============  =========  ==============================  ============
Ed25519 pub   0xed 0x01  32-byte public key              ``z6Mk…``
P-256 pub     0x80 0x24  33-byte compressed point        ``zDn…``
Ed25519 sec   0x80 0x26  32-byte seed                    ``z3u2…``
P-256 sec     0x86 0x26  32-byte big-endian scalar       ``z42t…``
SM2 pub       0x86 0x24  33-byte compressed point        ``zEP…``
============  =========  ==============================  ============

``sm2-pub`` (0x1206) is a draft entry of the multicodec table.

The secret forms exist for published test vectors (the W3C ``secretKeyMultibase``);
govex keeps its own keys in encrypted PKCS#8 files (see :mod:`signing.keys`).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .algorithms import PrivateKey, PublicKey, algorithm_of
from .errors import KeyLoadError, SigningError
from .gm.sm2 import SM2PrivateKey, SM2PublicKey

__all__ = [
    "MultibaseError",
    "b58decode",
    "b58encode",
    "decode_base58btc",
    "decode_multibase",
    "decode_multikey",
    "decode_secret_multikey",
    "encode_base58btc",
    "encode_base64url",
    "encode_multikey",
    "encode_secret_multikey",
]

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: i for i, char in enumerate(_B58_ALPHABET)}
_B58_DIGITS = bytes.maketrans(_B58_ALPHABET.encode(), bytes(range(58)))
_B58_FOREIGN = bytes(b for b in range(256) if b not in _B58_ALPHABET.encode())
_B58_PAIRS = [a + b for a in _B58_ALPHABET for b in _B58_ALPHABET]  # value → its two digits

_ED25519_PUB = b"\xed\x01"
_P256_PUB = b"\x80\x24"
_ED25519_SECRET = b"\x80\x26"
_P256_SECRET = b"\x86\x26"
_SM2_PUB = b"\x86\x24"
_KEY_BYTES = 32


class MultibaseError(SigningError):
    """A string that is not valid multibase (unknown prefix, bad character, bad padding)."""


def b58encode(data: bytes) -> str:
    """Encode bytes in base58 with the Bitcoin alphabet (no multibase prefix)."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    pairs: list[str] = []
    while number:  # two digits per division: half the big-number divisions
        number, rest = divmod(number, 58 * 58)
        pairs.append(_B58_PAIRS[rest])
    # the leading pair may start with a zero digit ("1") that is not part of the number
    return "1" * zeros + "".join(reversed(pairs)).lstrip("1")


def b58decode(text: str) -> bytes:
    """Decode Bitcoin-alphabet base58 (no multibase prefix); refuse foreign characters."""
    raw = text.encode("ascii") if text.isascii() else b""
    if len(raw) != len(text) or len(raw.translate(None, _B58_FOREIGN)) != len(raw):
        for position, char in enumerate(text):
            if char not in _B58_INDEX:
                raise MultibaseError(f"character {char!r} at position {position} is not base58btc")
    number = 0
    for digit in raw.translate(_B58_DIGITS):  # the digit values as bytes, at C speed
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def encode_base58btc(data: bytes) -> str:
    """Multibase base58btc: ``z`` + base58."""
    return "z" + b58encode(data)


def encode_base64url(data: bytes) -> str:
    """Multibase base64url without padding: ``u`` + base64url."""
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_base58btc(text: str) -> bytes:
    """Decode a multibase string that must be base58btc (``z…``)."""
    if not text.startswith("z"):
        raise MultibaseError("expected multibase base58btc (a string starting with 'z')")
    return b58decode(text[1:])


def _b64url_decode(body: str) -> bytes:
    if "=" in body or not body.isascii():
        raise MultibaseError("multibase base64url must be ASCII without padding")
    if len(body) % 4 == 1:
        raise MultibaseError("multibase base64url has an impossible length")
    try:
        data = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise MultibaseError(f"invalid base64url: {exc}") from exc
    # Refuse non-canonical encodings (unused trailing bits set).
    if encode_base64url(data)[1:] != body:
        raise MultibaseError("multibase base64url is not canonically encoded")
    return data


def decode_multibase(text: str) -> bytes:
    """Decode a ``z`` (base58btc) or ``u`` (base64url, no padding) multibase string."""
    if text.startswith("z"):
        return b58decode(text[1:])
    if text.startswith("u"):
        return _b64url_decode(text[1:])
    prefix = text[:1] or "(empty)"
    raise MultibaseError(f"unsupported multibase prefix {prefix!r}; expected 'z' or 'u'")


def encode_multikey(public_key: PublicKey) -> str:
    """Encode an Ed25519 (``z6Mk…``) or P-256 (``zDn…``) public key as a Multikey."""
    if isinstance(public_key, SM2PublicKey):
        return encode_base58btc(_SM2_PUB + public_key.compressed())
    if algorithm_of(public_key) == "Ed25519":
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return encode_base58btc(_ED25519_PUB + raw)
    point = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    return encode_base58btc(_P256_PUB + point)


def decode_multikey(text: str) -> PublicKey:
    """Decode a Multikey public key; raise :class:`KeyLoadError` for anything else."""
    try:
        data = decode_base58btc(text)
    except MultibaseError as exc:
        raise KeyLoadError(f"Multikey is not base58btc multibase: {exc.message}") from exc
    header, body = data[:2], data[2:]
    try:
        if header == _ED25519_PUB:
            if len(body) != _KEY_BYTES:
                raise KeyLoadError(f"Ed25519 Multikey must hold 32 bytes, got {len(body)}")
            return ed25519.Ed25519PublicKey.from_public_bytes(body)
        if header == _P256_PUB:
            if len(body) != _KEY_BYTES + 1:
                raise KeyLoadError(f"P-256 Multikey must hold a 33-byte point, got {len(body)}")
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), body)
        if header == _SM2_PUB:
            return SM2PublicKey.from_compressed(body)
    except ValueError as exc:
        raise KeyLoadError(f"Multikey does not hold a valid public key: {exc}") from exc
    if header in (_ED25519_SECRET, _P256_SECRET):
        raise KeyLoadError("this Multikey is a secret key, not a public key")
    raise KeyLoadError(
        f"unsupported Multikey codec 0x{header.hex()}; expected Ed25519 (0xed01) or P-256 (0x8024)"
    )


def encode_secret_multikey(private_key: PrivateKey) -> str:
    """Encode a private key in the Multikey secret form (test vectors only)."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        raw = private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return encode_base58btc(_ED25519_SECRET + raw)
    if isinstance(private_key, SM2PrivateKey):
        raise KeyLoadError("SM2 keys have no Multikey secret form")
    algorithm_of(private_key)
    scalar = private_key.private_numbers().private_value.to_bytes(_KEY_BYTES, "big")
    return encode_base58btc(_P256_SECRET + scalar)


def decode_secret_multikey(text: str) -> PrivateKey:
    """Decode a Multikey secret key (Ed25519 seed or P-256 scalar)."""
    try:
        data = decode_base58btc(text)
    except MultibaseError as exc:
        raise KeyLoadError(f"secret Multikey is not base58btc multibase: {exc.message}") from exc
    header, body = data[:2], data[2:]
    if header not in (_ED25519_SECRET, _P256_SECRET):
        raise KeyLoadError(f"unsupported secret Multikey codec 0x{header.hex()}")
    if len(body) != _KEY_BYTES:
        raise KeyLoadError(f"secret Multikey must hold 32 bytes, got {len(body)}")
    try:
        if header == _ED25519_SECRET:
            return ed25519.Ed25519PrivateKey.from_private_bytes(body)
        return ec.derive_private_key(int.from_bytes(body, "big"), ec.SECP256R1())
    except ValueError as exc:
        raise KeyLoadError(f"secret Multikey does not hold a valid key: {exc}") from exc
