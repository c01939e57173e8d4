"""SM4 at rest: private keys as encrypted PKCS#8 with PBES2, scrypt and SM4-CBC.

The envelope is the standard one (RFC 5958 ``EncryptedPrivateKeyInfo``, PBES2 of
RFC 8018 §6.2), with the national block cipher::

    EncryptedPrivateKeyInfo {
      encryptionAlgorithm  PBES2 (1.2.840.113549.1.5.13) {
        keyDerivationFunc  scrypt (1.3.6.1.4.1.11591.4.11)
                           { salt (16 random bytes), N = 2^14, r = 8, p = 1 }   RFC 7914 §7
        encryptionScheme   SM4-CBC (1.2.156.10197.1.104.2) { iv (16 random bytes) }
                                                                     GB/T 32907, GM/T 0006
      }
      encryptedData        SM4-CBC(key = scrypt(passphrase), PKCS#7 padding, PKCS#8 DER)
    }

written as PEM ``ENCRYPTED PRIVATE KEY``. OpenSSL 3 reads it as it is
(``openssl pkey -in key.pem -passin file:…``). The key derivation is scrypt, not
PBKDF2: OpenSSL 3.0 knows no PBKDF2 PRF ``hmacWithSM3``, so PBKDF2 would mean HMAC-SHA-256
anyway, and scrypt is memory-hard (16 MiB a guess) where PBKDF2 is not; ``N = 2^14`` is
the largest cost OpenSSL's PBES2 reader accepts under its default 32 MB scrypt memory
limit. SM4-GCM is not used because PBES2 readers (OpenSSL's included) take CBC ciphers
only; a wrong passphrase shows as bad padding or a body that is not PKCS#8.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import Final

from asn1crypto import core
from tongsuopy.crypto.ciphers import Cipher, algorithms, modes

from signing.errors import KeyLoadError

__all__ = [
    "PBES2_OID",
    "SCRYPT_OID",
    "SM4_CBC_OID",
    "decrypt_pkcs8",
    "encrypt_pkcs8",
    "is_sm4_pkcs8",
]

PBES2_OID: Final = "1.2.840.113549.1.5.13"
SCRYPT_OID: Final = "1.3.6.1.4.1.11591.4.11"
SM4_CBC_OID: Final = "1.2.156.10197.1.104.2"
_N, _R, _P = 2**14, 8, 1
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024  # what a key file may ask of the reader
_BLOCK = 16
_PEM = re.compile(
    rb"-----BEGIN ENCRYPTED PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*"
    rb"-----END ENCRYPTED PRIVATE KEY-----"
)


class _ScryptParams(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("salt", core.OctetString),
        ("cost_parameter", core.Integer),
        ("block_size", core.Integer),
        ("parallelization_parameter", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
    ]


class _Kdf(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", _ScryptParams)]  # noqa: RUF012


class _Cipher(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.OctetString)]  # noqa: RUF012


class _Pbes2Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("key_derivation_func", _Kdf), ("encryption_scheme", _Cipher)]  # noqa: RUF012


class _Pbes2(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", _Pbes2Params)]  # noqa: RUF012


class _EncryptedPrivateKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("encryption_algorithm", _Pbes2),
        ("encrypted_data", core.OctetString),
    ]


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        passphrase, salt=salt, n=n, r=r, p=p, maxmem=_MAX_SCRYPT_MEMORY + 1024 * 1024, dklen=16
    )


def _sm4_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.SM4(key), modes.CBC(iv))
    context = cipher.encryptor() if encrypt else cipher.decryptor()
    out: bytes = context.update(data) + context.finalize()
    return out


def encrypt_pkcs8(pkcs8_der: bytes, passphrase: bytes) -> bytes:
    """PEM ``ENCRYPTED PRIVATE KEY`` of an unencrypted PKCS#8 DER key (the envelope above)."""
    if not passphrase:
        raise KeyLoadError("a passphrase is required to store a private key")
    salt, iv = os.urandom(16), os.urandom(_BLOCK)
    pad = _BLOCK - len(pkcs8_der) % _BLOCK
    body = _sm4_cbc(
        _scrypt(passphrase, salt, _N, _R, _P), iv, pkcs8_der + bytes([pad]) * pad, encrypt=True
    )
    info = _EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {
                "algorithm": PBES2_OID,
                "parameters": {
                    "key_derivation_func": {
                        "algorithm": SCRYPT_OID,
                        "parameters": {
                            "salt": salt,
                            "cost_parameter": _N,
                            "block_size": _R,
                            "parallelization_parameter": _P,
                        },
                    },
                    "encryption_scheme": {"algorithm": SM4_CBC_OID, "parameters": iv},
                },
            },
            "encrypted_data": body,
        }
    )
    text = base64.encodebytes(info.dump()).decode("ascii").replace("\n", "")
    lines = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return (
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{lines}\n-----END ENCRYPTED PRIVATE KEY-----\n"
    ).encode("ascii")


def _parse(pem: bytes) -> _EncryptedPrivateKeyInfo | None:
    match = _PEM.search(pem)
    if match is None:
        return None
    try:
        der = base64.b64decode(re.sub(rb"\s+", b"", match.group(1)), validate=True)
        info: _EncryptedPrivateKeyInfo = _EncryptedPrivateKeyInfo.load(der, strict=True)
        pbes2 = info["encryption_algorithm"]
        params = pbes2["parameters"]
        if (
            pbes2["algorithm"].dotted != PBES2_OID
            or params["key_derivation_func"]["algorithm"].dotted != SCRYPT_OID
            or params["encryption_scheme"]["algorithm"].dotted != SM4_CBC_OID
        ):
            return None
        info.native  # noqa: B018 - parse every field now, not when it is first read
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    return info


def is_sm4_pkcs8(pem: bytes) -> bool:
    """Whether ``pem`` is an encrypted PKCS#8 key in this module's envelope."""
    return _parse(pem) is not None


def decrypt_pkcs8(pem: bytes, passphrase: bytes) -> bytes:
    """The PKCS#8 DER inside :func:`encrypt_pkcs8`'s envelope; :class:`KeyLoadError` when the
    file is not one, asks too much of scrypt, or the passphrase is wrong."""
    info = _parse(pem)
    if info is None:
        raise KeyLoadError("not an SM4 (PBES2, scrypt, SM4-CBC) encrypted private key")
    params = info["encryption_algorithm"]["parameters"]
    kdf = params["key_derivation_func"]["parameters"]
    n, r, p = (int(kdf[f].native) for f in _SCRYPT_COSTS)
    key_length = kdf["key_length"].native
    iv = bytes(params["encryption_scheme"]["parameters"].native)
    body = bytes(info["encrypted_data"].native)
    if key_length not in (None, 16) or len(iv) != _BLOCK or not body or len(body) % _BLOCK:
        raise KeyLoadError("malformed SM4 encrypted private key")
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * n * r * p > _MAX_SCRYPT_MEMORY:
        raise KeyLoadError("the key file's scrypt parameters are out of range")
    key = _scrypt(passphrase, bytes(kdf["salt"].native), n, r, p)
    plain = _sm4_cbc(key, iv, body, encrypt=False)
    pad = plain[-1]
    if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise KeyLoadError("cannot decrypt the key file: wrong passphrase or corrupt key data")
    return plain[:-pad]


_SCRYPT_COSTS = ("cost_parameter", "block_size", "parallelization_parameter")
