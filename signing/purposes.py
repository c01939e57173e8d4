"""Key purposes: each department key serves one use, and its certificate says which.

A department holds three key pairs, each certified by the exchange's root CA for one
purpose only:

========  ==========================================  =================================
purpose   what the key signs                          key usage
========  ==========================================  =================================
``auth``  RFC 7523 client assertions (tokens)         digitalSignature
``seal``  batch seals over published records          digitalSignature, contentCommitment
``cert``  e-certificate (电子证照) proofs               digitalSignature, contentCommitment
========  ==========================================  =================================

The purpose travels in a critical extended key usage extension holding exactly one
govex-scoped OID. The arc is a UUID-derived OID (ITU-T X.667 / RFC 4122 §3, the
``2.25`` arc: anyone may mint one from a random UUID, without registration, and it is
unique), owned by govex::

    2.25.292765895805092460812318528655778278550       govex
    2.25.292765895805092460812318528655778278550.1     key purposes
    2.25.292765895805092460812318528655778278550.1.1   auth
    2.25.292765895805092460812318528655778278550.1.2   seal
    2.25.292765895805092460812318528655778278550.1.3   cert

Certificates issued before purposes existed carry no extended key usage; such a
*legacy seal certificate* signed both batch seals and certificate proofs, so it is
accepted for ``seal`` and ``cert`` (never for ``auth``). The root issues every new
certificate with its purpose, so a certificate without one can only be such an old one.
"""

from __future__ import annotations

from typing import Literal, get_args

from cryptography import x509

from schemas.errors import ErrorCode

from .errors import SigningError

__all__ = [
    "GOVEX_ARC",
    "LEGACY_PURPOSES",
    "PURPOSES",
    "PURPOSE_OIDS",
    "KeyPurpose",
    "KeyPurposeError",
    "key_usage_for",
    "parse_purpose",
    "purpose_extension",
    "purpose_of",
    "require_purpose",
]

KeyPurpose = Literal["auth", "seal", "cert"]
PURPOSES: tuple[KeyPurpose, ...] = get_args(KeyPurpose)
GOVEX_ARC = "2.25.292765895805092460812318528655778278550"
PURPOSE_OIDS: dict[KeyPurpose, x509.ObjectIdentifier] = {
    purpose: x509.ObjectIdentifier(f"{GOVEX_ARC}.1.{n}")
    for n, purpose in enumerate(PURPOSES, start=1)
}
_BY_OID = {oid: purpose for purpose, oid in PURPOSE_OIDS.items()}
LEGACY_PURPOSES: frozenset[KeyPurpose] = frozenset({"seal", "cert"})


class KeyPurposeError(SigningError):
    """A key used outside the one purpose its certificate names."""

    code = ErrorCode.KEY_PURPOSE


def parse_purpose(value: str) -> KeyPurpose:
    """``auth``, ``seal`` or ``cert``; anything else is refused."""
    for purpose in PURPOSES:
        if value == purpose:
            return purpose
    raise KeyPurposeError(f"key purpose {value!r} is not one of {', '.join(PURPOSES)}")


def key_usage_for(purpose: KeyPurpose) -> x509.KeyUsage:
    """digitalSignature; also contentCommitment (nonRepudiation) for seals and certificates."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=purpose != "auth",
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def purpose_extension(purpose: KeyPurpose) -> x509.ExtendedKeyUsage:
    """The extended key usage naming ``purpose`` (added as a critical extension)."""
    return x509.ExtendedKeyUsage([PURPOSE_OIDS[purpose]])


def purpose_of(cert: x509.Certificate) -> KeyPurpose | None:
    """The purpose a certificate names; None for a legacy seal certificate (no EKU).

    Raises :class:`KeyPurposeError` for an extended key usage that names no govex
    purpose, or more than one.
    """
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    named = {_BY_OID[oid] for oid in usage if oid in _BY_OID}
    if len(named) != 1:
        raise KeyPurposeError(
            "the certificate's extended key usage must name exactly one govex key purpose"
        )
    return named.pop()


def require_purpose(cert: x509.Certificate, expected: KeyPurpose) -> KeyPurpose:
    """Refuse a key whose certificate is not for ``expected`` (``signing.key_purpose``)."""
    actual = purpose_of(cert)
    if actual is None:
        if expected in LEGACY_PURPOSES:
            return expected
        raise KeyPurposeError(
            f"a seal certificate issued before key purposes cannot serve as a {expected} key"
        )
    if actual != expected:
        raise KeyPurposeError(
            f"this key is certified for {actual} only and cannot be used as a {expected} key"
        )
    return actual
