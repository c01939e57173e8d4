"""Seal keys: generation, encrypted storage, PEM/JWK exchange and stable key ids.

Private keys live on disk only as encrypted PKCS#8 PEM (file mode ``0600``); a
file that is not encrypted is refused, so a key never lies in clear at rest. SM2 keys are
encrypted with SM4 (PBES2, scrypt, SM4-CBC: :mod:`signing.gm.sm4`); SM2 keys written
before that (PBES2 with AES) still load.
Public keys travel as SubjectPublicKeyInfo PEM, as JWK (RFC 7517/8037) or as
Multikey (:mod:`signing.multibase`). SM2 keys have no registered JWK form; govex gives them
the one several SM2 implementations use, ``{"kty": "EC", "crv": "SM2", "x", "y"}``, with
``"alg": "GOVEX-SM2-SM3"`` (govex-scoped; see ``docs/gm-crypto.md``). A key id (``kid``)
names a public key stably: the algorithm and the first 16 bytes of SHA-256 over its DER
SubjectPublicKeyInfo, in lower-case base32 (``ed25519-…``, ``es256-…``, ``sm2-…``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .algorithms import Algorithm, PrivateKey, PublicKey, algorithm_of, spki_der
from .errors import KeyLoadError
from .gm.sm2 import SM2PrivateKey, SM2PublicKey
from .gm.sm4 import is_sm4_pkcs8

__all__ = [
    "SM2_JWK_CRV",
    "generate_key",
    "kid_of",
    "load_jwk",
    "load_private_key",
    "load_public_pem",
    "public_jwk",
    "public_pem",
    "save_private_key",
]

_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
_KID_BYTES = 16
_COORDINATE_BYTES = 32
_KID_PREFIX: dict[Algorithm, str] = {"Ed25519": "ed25519", "ES256": "es256", "SM2": "sm2"}
_SM2_CURVE_DER = bytes.fromhex("06082a811ccf5501822d")  # OID 1.2.156.10197.1.301
SM2_JWK_CRV = "SM2"
"""The ``crv`` of an SM2 JWK: not in IANA's "JSON Web Key Elliptic Curve" registry; the
name SM2 implementations that give SM2 keys a JWK form use (govex-scoped)."""
_SM2_JWS_ALG = "GOVEX-SM2-SM3"  # signing.jose.SM2_JWS_ALG (jose imports this module)


def generate_key(alg: Algorithm = "Ed25519") -> PrivateKey:
    """Generate a new seal key: Ed25519 (default), ECDSA P-256 (``"ES256"``) or ``"SM2"``."""
    if alg == "SM2":
        return SM2PrivateKey.generate()
    if alg == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise KeyLoadError(f"unsupported algorithm {alg!r}; use 'Ed25519' or 'ES256'")


def save_private_key(key: PrivateKey, path: str | os.PathLike[str], passphrase: bytes) -> None:
    """Write ``key`` as encrypted PKCS#8 PEM, readable by the owner only (mode 0600).

    The file is written to a temporary sibling and renamed into place, so a crash
    never leaves a half-written key behind.
    """
    algorithm_of(key)
    if not passphrase:
        raise KeyLoadError("a passphrase is required to store a private key")
    pem = (
        key.encrypted_pem(passphrase)
        if isinstance(key, SM2PrivateKey)
        else key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_private_key(path: str | os.PathLike[str], passphrase: bytes) -> PrivateKey:
    """Read an encrypted PKCS#8 PEM key; raise :class:`KeyLoadError` saying what is wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read key file {os.fspath(path)!r}: {exc.strerror}") from exc
    if _ENCRYPTED_PEM not in data:
        if b"PRIVATE KEY-----" in data:
            raise KeyLoadError("key file is not encrypted; store seal keys as encrypted PKCS#8 PEM")
        raise KeyLoadError("file is not a PEM private key")
    if is_sm4_pkcs8(data):  # an SM2 key under SM4 (signing.gm.sm4): its errors are final
        return SM2PrivateKey.from_encrypted_pem(data, passphrase)
    sm2 = _sm2_private(data, passphrase)
    if sm2 is not None:
        return sm2
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except ValueError as exc:
        raise KeyLoadError(
            "cannot decrypt the key file: wrong passphrase or corrupt key data"
        ) from exc
    except TypeError as exc:
        raise KeyLoadError(f"cannot load the key file: {exc}") from exc
    except UnsupportedAlgorithm as exc:
        raise KeyLoadError(f"unsupported key type in key file: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyLoadError(f"unsupported key type {type(key).__name__}; use Ed25519 or ECDSA P-256")
    algorithm_of(key)
    return key


def public_pem(public_key: PublicKey) -> str:
    """SubjectPublicKeyInfo PEM of a public key."""
    der = spki_der(public_key)
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def load_public_pem(text: str | bytes) -> PublicKey:
    """Parse a SubjectPublicKeyInfo PEM; only Ed25519 and P-256 keys are accepted."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyLoadError("not a PEM public key (SubjectPublicKeyInfo)") from exc
    except UnsupportedAlgorithm as exc:
        der = _pem_body(data)
        if der is not None and _SM2_CURVE_DER in der:
            return SM2PublicKey.from_spki_der(der)
        raise KeyLoadError(f"unsupported public key type: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise KeyLoadError(f"unsupported key type {type(key).__name__}; use Ed25519 or ECDSA P-256")
    algorithm_of(key)
    return key


def kid_of(public_key: PublicKey) -> str:
    """Stable key id: ``<alg>-`` + base32 of the first 16 bytes of SHA-256(SPKI DER)."""
    alg = algorithm_of(public_key)
    spki = spki_der(public_key)
    digest = hashlib.sha256(spki).digest()[:_KID_BYTES]
    return f"{_KID_PREFIX[alg]}-{base64.b32encode(digest).decode('ascii').rstrip('=').lower()}"


def _sm2_private(data: bytes, passphrase: bytes) -> SM2PrivateKey | None:
    try:
        return SM2PrivateKey.from_encrypted_pem(data, passphrase)
    except KeyLoadError:
        return None


def _pem_body(data: bytes) -> bytes | None:
    text = data.decode("ascii", "replace")
    begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
    if begin not in text or end not in text:
        return None
    try:
        return base64.b64decode(text.split(begin, 1)[1].split(end, 1)[0], validate=False)
    except (binascii.Error, ValueError):
        return None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_field(jwk: dict[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or "=" in value:
        raise KeyLoadError(f"JWK member {name!r} must be an unpadded base64url string")
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyLoadError(f"JWK member {name!r} is not base64url") from exc
    if len(data) != size:
        raise KeyLoadError(f"JWK member {name!r} must decode to {size} bytes, got {len(data)}")
    return data


def public_jwk(public_key: PublicKey, kid: str | None = None) -> dict[str, str]:
    """Public JWK: OKP/Ed25519 (RFC 8037), EC/P-256, or the govex-scoped EC/SM2 form
    (``x``, ``y`` as for P-256; ``alg`` ``GOVEX-SM2-SM3``); ``kid`` defaults to :func:`kid_of`."""
    key_id = kid if kid is not None else kid_of(public_key)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": key_id, "alg": "EdDSA"}
    if isinstance(public_key, SM2PublicKey):
        x, y = public_key.point
        crv, alg = SM2_JWK_CRV, _SM2_JWS_ALG
    else:
        algorithm_of(public_key)
        numbers = public_key.public_numbers()
        x, y, crv, alg = numbers.x, numbers.y, "P-256", "ES256"
    return {
        "kty": "EC",
        "crv": crv,
        "x": _b64url(x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": _b64url(y.to_bytes(_COORDINATE_BYTES, "big")),
        "kid": key_id,
        "alg": alg,
    }


def load_jwk(jwk: dict[str, Any]) -> PublicKey:
    """Parse a public JWK (OKP/Ed25519, EC/P-256 or EC/SM2); refuse private members and bad
    points."""
    if not isinstance(jwk, dict):
        raise KeyLoadError("a JWK must be a JSON object")
    if "d" in jwk:
        raise KeyLoadError("JWK holds a private key ('d'); pass the public key only")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(_b64url_field(jwk, "x", 32))
    if kty == "EC" and crv == "P-256":
        x = int.from_bytes(_b64url_field(jwk, "x", _COORDINATE_BYTES), "big")
        y = int.from_bytes(_b64url_field(jwk, "y", _COORDINATE_BYTES), "big")
        try:
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except ValueError as exc:
            raise KeyLoadError("JWK point is not on the P-256 curve") from exc
    if kty == "EC" and crv == SM2_JWK_CRV:
        x = int.from_bytes(_b64url_field(jwk, "x", _COORDINATE_BYTES), "big")
        y = int.from_bytes(_b64url_field(jwk, "y", _COORDINATE_BYTES), "big")
        return SM2PublicKey.from_point(x, y)
    raise KeyLoadError(
        f"unsupported JWK kty={kty!r} crv={crv!r}; use OKP/Ed25519, EC/P-256 or EC/SM2"
    )
