"""Cryptographic suites: which signature algorithm and which hash an exchange uses.

An exchange is created with one suite (``govex init --crypto …``) and records it in its
identity; every key it makes afterwards, and every hash the suite chooses, follows it:

==========  ================  ========  ==============  ===============================
suite       signatures        hash      access tokens   private keys at rest
==========  ================  ========  ==============  ===============================
``ed25519`` Ed25519           SHA-256   JWS ``EdDSA``   PKCS#8, PBES2 (AES-256-CBC)
``sm2``     SM2-with-SM3      SM3       JWS             PKCS#8, PBES2 (scrypt, SM4-CBC)
                                        ``GOVEX-SM2-SM3``
==========  ================  ========  ==============  ===============================

Verifiers never ask for a suite: they follow the key (:mod:`signing.algorithms`) or the
name a signed object carries, so a province may trust exchanges of both suites.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal, get_args

from schemas.errors import ErrorCode

from .algorithms import Algorithm, PrivateKey, PublicKey, algorithm_of
from .errors import SigningError
from .gm.sm2 import sm3

__all__ = [
    "DEFAULT_SUITE",
    "SUITES",
    "HashName",
    "Suite",
    "SuiteError",
    "SuiteName",
    "hash_digest",
    "suite_named",
    "suite_of",
]

SuiteName = Literal["ed25519", "sm2"]
HashName = Literal["sha-256", "sm3"]


class SuiteError(SigningError):
    """A suite name govex does not know."""

    code = ErrorCode.INVALID_REQUEST


@dataclass(frozen=True, slots=True)
class Suite:
    """One suite: the algorithm of every key an exchange makes and the hash it chooses."""

    name: SuiteName
    algorithm: Algorithm
    hash_name: HashName
    label: str

    def digest(self, data: bytes) -> bytes:
        """The suite's 32-byte hash of ``data`` (SHA-256 or SM3)."""
        return hash_digest(self.hash_name, data)


def hash_digest(name: HashName, data: bytes) -> bytes:
    """The 32-byte hash ``name`` (``sha-256`` or ``sm3``) of ``data``."""
    return sm3(data) if name == "sm3" else hashlib.sha256(data).digest()


SUITES: Final[dict[SuiteName, Suite]] = {
    "ed25519": Suite("ed25519", "Ed25519", "sha-256", "Ed25519 + SHA-256"),
    "sm2": Suite("sm2", "SM2", "sm3", "国密 SM2 + SM3 + SM4 (GM/T)"),
}
DEFAULT_SUITE: Final = SUITES["ed25519"]


def suite_named(name: str) -> Suite:
    """The suite called ``name`` (case-insensitive); :class:`SuiteError` names the choices."""
    suite = SUITES.get(name.strip().lower())  # type: ignore[call-overload]
    if suite is None:
        raise SuiteError(
            f"unknown cryptographic suite {name!r}; use one of {', '.join(get_args(SuiteName))}"
        )
    found: Suite = suite
    return found


def suite_of(key: PrivateKey | PublicKey) -> Suite:
    """The suite a key belongs to (P-256 keys hash with SHA-256, like ``ed25519``)."""
    return SUITES["sm2"] if algorithm_of(key) == "SM2" else DEFAULT_SUITE
