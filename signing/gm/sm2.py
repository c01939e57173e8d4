"""SM2 signatures with SM3, and SM3 itself, through Tongsuo (``tongsuopy``).

A signature is SM2-with-SM3 (GB/T 32918.2-2016 §6, GM/T 0003.2-2012) with the default
distinguishing identifier ``1234567812345678`` (GM/T 0009-2012 §10): ``e =
SM3(Z_A ‖ M)`` where ``Z_A`` hashes the identifier, the curve and the public key. It
travels as raw ``r‖s`` (64 bytes), like govex's ECDSA signatures; :func:`to_der` and
:func:`from_der` convert to and from the DER ``SM2Signature`` (GM/T 0009) of X.509 and
OpenSSL. Keys are the recommended curve ``sm2p256v1`` (GB/T 32918.5-2017); public keys
travel as SubjectPublicKeyInfo (``id-ecPublicKey`` with the curve OID
``1.2.156.10197.1.301``, GM/T 0015-2012 §7) and private keys as PKCS#8, at rest encrypted
with SM4 (:mod:`signing.gm.sm4`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Final

from asn1crypto import algos
from tongsuopy.crypto import hashes as _hashes
from tongsuopy.crypto import serialization as _serialization
from tongsuopy.crypto.asymciphers import ec as _ec
from tongsuopy.crypto.exceptions import InvalidSignature as _InvalidSignature
from tongsuopy.crypto.exceptions import UnsupportedAlgorithm as _Unsupported

from signing.errors import KeyLoadError, VerificationError
from signing.gm.sm4 import decrypt_pkcs8, encrypt_pkcs8, is_sm4_pkcs8

__all__ = [
    "CURVE_OID",
    "DEFAULT_ID",
    "ORDER",
    "SM2_WITH_SM3_OID",
    "SM2PrivateKey",
    "SM2PublicKey",
    "from_der",
    "sm3",
    "to_der",
]

DEFAULT_ID: Final = b"1234567812345678"
CURVE_OID: Final = "1.2.156.10197.1.301"
SM2_WITH_SM3_OID: Final = "1.2.156.10197.1.501"
ORDER: Final = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
_COORDINATE: Final = 32
_SM2_WITH_SM3: Final = _ec.ECDSA(_hashes.SM3())  # a description, no state: one for every call


def sm3(data: bytes) -> bytes:
    """SM3 digest (GB/T 32905-2016), 32 bytes."""
    if _HASHLIB_SM3:  # the interpreter's OpenSSL has SM3: no Tongsuo hash object per call
        return hashlib.new("sm3", data).digest()
    digest = _hashes.Hash(_hashes.SM3())
    digest.update(data)
    result: bytes = digest.finalize()
    return result


def _hashlib_has_sm3() -> bool:
    try:
        hashlib.new("sm3")
    except ValueError:
        return False
    return True


_HASHLIB_SM3: Final = _hashlib_has_sm3()


def to_der(signature: bytes) -> bytes:
    """Raw ``r‖s`` → DER ``SEQUENCE { r INTEGER, s INTEGER }``."""
    if len(signature) != 2 * _COORDINATE:
        raise VerificationError("an SM2 signature is 64 bytes (r‖s)")
    return _der_pair(
        int.from_bytes(signature[:_COORDINATE], "big"),
        int.from_bytes(signature[_COORDINATE:], "big"),
    )


def _der_integer(value: int) -> bytes:
    """DER INTEGER of a non-negative value below 2^256: minimal, a 0x00 before a high bit."""
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # always room for a sign bit
    if len(body) > 1 and body[0] == 0 and body[1] < 0x80:
        body = body[1:]
    return b"\x02" + bytes([len(body)]) + body


def _der_pair(r: int, s: int) -> bytes:
    """DER ``SEQUENCE { r INTEGER, s INTEGER }`` (at most 70 bytes: short lengths only)."""
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + bytes([len(body)]) + body


def from_der(der: bytes) -> bytes:
    """DER ``SM2Signature`` → raw ``r‖s``; refuse anything but a strict DER pair."""
    # the usual signature: read the two integers and require the bytes to be exactly their
    # canonical DER (so a non-minimal, negative or padded encoding is refused)
    if len(der) >= 8 and der[0] == 0x30 and der[1] == len(der) - 2 and der[2] == 0x02:
        end_r = 4 + der[3]
        if end_r + 2 <= len(der) and der[end_r] == 0x02 and end_r + 2 + der[end_r + 1] == len(der):
            r = int.from_bytes(der[4:end_r], "big")
            s = int.from_bytes(der[end_r + 2 :], "big")
            if 0 < r < ORDER and 0 < s < ORDER and _der_pair(r, s) == der:
                return r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")
    try:
        parsed = algos.DSASignature.load(der, strict=True)
        r, s = int(parsed["r"].native), int(parsed["s"].native)
    except (ValueError, TypeError, KeyError) as exc:
        raise VerificationError("not a DER SM2 signature") from exc
    if not (0 < r < ORDER and 0 < s < ORDER) or parsed.dump(force=True) != der:
        raise VerificationError("not a DER SM2 signature")
    return r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")


@dataclass(frozen=True, slots=True, eq=False)
class SM2PublicKey:
    """An SM2 public key (a point of ``sm2p256v1``)."""

    _key: Any = field(repr=False)

    @classmethod
    def from_point(cls, x: int, y: int) -> SM2PublicKey:
        """The key at ``(x, y)``; refuse a point off the curve."""
        try:
            return cls(_ec.EllipticCurvePublicNumbers(x, y, _ec.SM2()).public_key())
        except ValueError as exc:
            raise KeyLoadError("point is not on the SM2 curve") from exc

    @classmethod
    def from_spki_der(cls, der: bytes) -> SM2PublicKey:
        """Parse a DER SubjectPublicKeyInfo holding an SM2 key."""
        try:
            key = _serialization.load_der_public_key(der)
        except (ValueError, TypeError, _Unsupported) as exc:
            raise KeyLoadError("not an SM2 SubjectPublicKeyInfo") from exc
        if not isinstance(key, _ec.EllipticCurvePublicKey) or key.curve.name != "SM2":
            raise KeyLoadError("SubjectPublicKeyInfo does not hold an SM2 key")
        return cls(key)

    @classmethod
    def from_compressed(cls, data: bytes) -> SM2PublicKey:
        """Parse a 33-byte compressed point (``02``/``03`` ‖ x)."""
        if len(data) != _COORDINATE + 1 or data[0] not in (2, 3):
            raise KeyLoadError("an SM2 compressed point is 33 bytes starting 02 or 03")
        try:
            return cls(_ec.EllipticCurvePublicKey.from_encoded_point(_ec.SM2(), data))
        except ValueError as exc:
            raise KeyLoadError("point is not on the SM2 curve") from exc

    def compressed(self) -> bytes:
        """Compressed point (33 bytes)."""
        x, y = self.point
        return bytes([2 | (y & 1)]) + x.to_bytes(_COORDINATE, "big")

    @property
    def point(self) -> tuple[int, int]:
        """Affine coordinates ``(x, y)``."""
        numbers = self._key.public_numbers()
        return int(numbers.x), int(numbers.y)

    def raw(self) -> bytes:
        """Uncompressed point ``04 ‖ x ‖ y`` (65 bytes)."""
        x, y = self.point
        return b"\x04" + x.to_bytes(_COORDINATE, "big") + y.to_bytes(_COORDINATE, "big")

    def spki_der(self) -> bytes:
        """DER SubjectPublicKeyInfo (``id-ecPublicKey``, curve ``1.2.156.10197.1.301``)."""
        der: bytes = self._key.public_bytes(
            _serialization.Encoding.DER, _serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return der

    def verify(self, signature: bytes, data: bytes) -> None:
        """Verify a raw ``r‖s`` SM2-with-SM3 signature or raise :class:`VerificationError`."""
        der = to_der(signature)
        try:
            self._key.verify(der, data, _SM2_WITH_SM3)
        except _InvalidSignature as exc:
            raise VerificationError("signature does not verify") from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and self.point == other.point

    def __hash__(self) -> int:
        return hash(self.point)


@dataclass(frozen=True, slots=True, eq=False)
class SM2PrivateKey:
    """An SM2 private key; signs with SM3 and the default distinguishing identifier."""

    _key: Any = field(repr=False)

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        """A new random key."""
        return cls(_ec.generate_private_key(_ec.SM2()))

    @classmethod
    def from_private_value(cls, value: int) -> SM2PrivateKey:
        """The key with scalar ``value`` (1 ≤ value < n − 1, GB/T 32918.1 §6.1)."""
        if not 0 < value < ORDER - 1:
            raise KeyLoadError("SM2 private scalar out of range")
        return cls(_ec.derive_private_key(value, _ec.SM2()))

    @classmethod
    def from_pkcs8_der(cls, der: bytes) -> SM2PrivateKey:
        """Parse an unencrypted PKCS#8 DER SM2 key (for :mod:`signing.gm.sm4`)."""
        try:
            key = _serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, _Unsupported) as exc:
            raise KeyLoadError("not an SM2 PKCS#8 private key") from exc
        if not isinstance(key, _ec.EllipticCurvePrivateKey) or key.curve.name != "SM2":
            raise KeyLoadError("PKCS#8 does not hold an SM2 key")
        return cls(key)

    def pkcs8_der(self) -> bytes:
        """Unencrypted PKCS#8 DER; only :mod:`signing.gm.sm4` calls this, to encrypt it."""
        der: bytes = self._key.private_bytes(
            _serialization.Encoding.DER,
            _serialization.PrivateFormat.PKCS8,
            _serialization.NoEncryption(),
        )
        return der

    def encrypted_pem(self, passphrase: bytes) -> bytes:
        """Encrypted PKCS#8 PEM: PBES2 with scrypt and SM4-CBC (:mod:`signing.gm.sm4`)."""
        return encrypt_pkcs8(self.pkcs8_der(), passphrase)

    @classmethod
    def from_encrypted_pem(cls, pem: bytes, passphrase: bytes) -> SM2PrivateKey:
        """Read :meth:`encrypted_pem` back, or an SM2 key of any other PBES2 cipher Tongsuo
        reads (keys written before SM4 at rest); a wrong passphrase is a :class:`KeyLoadError`."""
        if is_sm4_pkcs8(pem):
            der = decrypt_pkcs8(pem, passphrase)
            try:
                return cls.from_pkcs8_der(der)
            except KeyLoadError as exc:
                raise KeyLoadError(
                    "cannot decrypt the key file: wrong passphrase or corrupt key data"
                ) from exc
        try:
            key = _serialization.load_pem_private_key(pem, password=passphrase)
        except (ValueError, TypeError, _Unsupported) as exc:
            raise KeyLoadError(
                "cannot decrypt the key file: wrong passphrase or corrupt key data"
            ) from exc
        if not isinstance(key, _ec.EllipticCurvePrivateKey) or key.curve.name != "SM2":
            raise KeyLoadError("key file does not hold an SM2 key")
        return cls(key)

    def secret_scalar(self) -> bytes:
        """The private scalar, 32 bytes big-endian: key material for derived secrets only."""
        value = int(self._key.private_numbers().private_value)
        return value.to_bytes(_COORDINATE, "big")

    def public_key(self) -> SM2PublicKey:
        """The matching public key."""
        return SM2PublicKey(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        """SM2-with-SM3 signature over ``data`` as raw ``r‖s``."""
        der: bytes = self._key.sign(data, _SM2_WITH_SM3)
        return from_der(der)
