"""GM/T 0015 X.509 certificates: SM2 public keys, signed with SM2-with-SM3.

``cryptography`` parses such a certificate (names, extensions, validity) but can neither
sign one nor read its SM2 key or signature. This module builds the DER with ``asn1crypto``
from the parts ``cryptography`` encodes well (names and extension values, each through its
``public_bytes()``), signs the ``TBSCertificate`` with SM2-with-SM3 (signature algorithm
``1.2.156.10197.1.501`` without parameters, signature value a DER ``SM2Signature``,
GM/T 0015-2012 §6–7) and checks such signatures.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, core, keys
from asn1crypto import x509 as asn1_x509

from signing.errors import KeyLoadError, VerificationError

from .sm2 import CURVE_OID, SM2_WITH_SM3_OID, SM2PrivateKey, SM2PublicKey, from_der, to_der

__all__ = [
    "RawExtension",
    "build_certificate",
    "certificate_spki",
    "is_sm2_signed",
    "sm2_public_key",
    "verify_certificate_signature",
]

_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RawExtension:
    """One extension: its OID (dotted), criticality and DER ``extnValue`` contents."""

    oid: str
    critical: bool
    value: bytes


def _time(moment: datetime) -> asn1_x509.Time:
    moment = moment.astimezone(UTC).replace(microsecond=0)
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050
    if moment < _UTC_TIME_LIMIT:
        return asn1_x509.Time({"utc_time": moment})
    return asn1_x509.Time({"general_time": moment})


def _algorithm() -> algos.SignedDigestAlgorithm:
    return algos.SignedDigestAlgorithm({"algorithm": SM2_WITH_SM3_OID})


def build_certificate(
    *,
    subject_der: bytes,
    issuer_der: bytes,
    spki_der: bytes,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[RawExtension],
    signer: SM2PrivateKey,
    serial: int | None = None,
) -> bytes:
    """DER of an X.509 v3 certificate signed by ``signer`` with SM2-with-SM3."""
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise KeyLoadError("certificate validity must be timezone-aware")
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial if serial is not None else secrets.randbits(159) | 1 << 158,
            "signature": _algorithm(),
            "issuer": asn1_x509.Name.load(issuer_der),
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": asn1_x509.Name.load(subject_der),
            "subject_public_key_info": keys.PublicKeyInfo.load(spki_der),
            "extensions": [
                asn1_x509.Extension(
                    {
                        "extn_id": ext.oid,
                        "critical": ext.critical,
                        "extn_value": core.ParsableOctetString(ext.value),
                    }
                )
                for ext in extensions
            ],
        }
    )
    signature = to_der(signer.sign(tbs.dump()))
    certificate = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": _algorithm(),
            "signature_value": core.OctetBitString(signature),
        }
    )
    der: bytes = certificate.dump()
    return der


def _load(der: bytes) -> asn1_x509.Certificate:
    try:
        cert = asn1_x509.Certificate.load(der, strict=True)
        cert["tbs_certificate"]["subject_public_key_info"].dump()
    except (ValueError, TypeError) as exc:
        raise VerificationError("certificate is not DER X.509") from exc
    return cert


def _oid(algorithm: algos.SignedDigestAlgorithm) -> str:
    dotted: str = algorithm["algorithm"].dotted
    return dotted


def is_sm2_signed(der: bytes) -> bool:
    """Whether the certificate says it is signed with SM2-with-SM3."""
    return _oid(_load(der)["signature_algorithm"]) == SM2_WITH_SM3_OID


def certificate_spki(der: bytes) -> bytes:
    """The certificate's SubjectPublicKeyInfo, as DER."""
    spki: bytes = _load(der)["tbs_certificate"]["subject_public_key_info"].dump()
    return spki


def verify_certificate_signature(der: bytes, issuer: SM2PublicKey) -> None:
    """Check the certificate's SM2-with-SM3 signature under ``issuer``; raise otherwise."""
    cert = _load(der)
    tbs = cert["tbs_certificate"]
    if _oid(cert["signature_algorithm"]) != SM2_WITH_SM3_OID or _oid(tbs["signature"]) != (
        SM2_WITH_SM3_OID
    ):
        raise VerificationError("certificate is not signed with SM2-with-SM3")
    if cert["signature_algorithm"]["parameters"].native is not None:
        raise VerificationError("SM2-with-SM3 takes no algorithm parameters")
    raw = from_der(bytes(cert["signature_value"].native))
    issuer.verify(raw, tbs.dump())


def sm2_public_key(der: bytes) -> SM2PublicKey | None:
    """The certificate's SM2 public key, or None when its key is not on the SM2 curve."""
    info = _load(der)["tbs_certificate"]["subject_public_key_info"]
    algorithm = info["algorithm"]
    if algorithm["algorithm"].dotted != "1.2.840.10045.2.1":
        return None
    parameters = algorithm["parameters"]
    if parameters.name != "named" or parameters.chosen.dotted != CURVE_OID:
        return None
    return SM2PublicKey.from_spki_der(info.dump())
