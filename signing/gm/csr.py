"""PKCS#10 certificate requests (RFC 2986) for SM2 keys, signed with SM2-with-SM3.

``cryptography`` parses such a request but can neither sign one nor check its SM2
self-signature. This module builds the DER with ``asn1crypto`` from parts ``cryptography``
encodes well (the subject name and the requested extensions, each as DER), signs the
``CertificationRequestInfo`` with SM2-with-SM3 (``1.2.156.10197.1.501``, no parameters,
signature value a DER ``SM2Signature``, GM/T 0015-2012 §7 as for certificates) and checks
such self-signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import algos, core, keys
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509

from signing.errors import VerificationError

from .sm2 import SM2_WITH_SM3_OID, SM2PrivateKey, SM2PublicKey, from_der, to_der
from .x509 import RawExtension

__all__ = ["build_request", "is_sm2_request", "request_public_key", "verify_request"]


def _algorithm() -> algos.SignedDigestAlgorithm:
    return algos.SignedDigestAlgorithm({"algorithm": SM2_WITH_SM3_OID})


def build_request(
    *, subject_der: bytes, extensions: Sequence[RawExtension], signer: SM2PrivateKey
) -> bytes:
    """DER of a PKCS#10 request for ``signer``'s public key, self-signed with SM2-with-SM3."""
    requested = asn1_x509.Extensions(
        [
            asn1_x509.Extension(
                {
                    "extn_id": ext.oid,
                    "critical": ext.critical,
                    "extn_value": core.ParsableOctetString(ext.value),
                }
            )
            for ext in extensions
        ]
    )
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(subject_der),
            "subject_pk_info": keys.PublicKeyInfo.load(signer.public_key().spki_der()),
            "attributes": [{"type": "extension_request", "values": [requested]}],
        }
    )
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": _algorithm(),
            "signature": core.OctetBitString(to_der(signer.sign(info.dump()))),
        }
    )
    der: bytes = request.dump()
    return der


def _load(der: bytes) -> asn1_csr.CertificationRequest:
    try:
        request = asn1_csr.CertificationRequest.load(der, strict=True)
        request["certification_request_info"]["subject_pk_info"].dump()
        request["signature_algorithm"]["algorithm"].dotted  # noqa: B018 - parse it now
    except (ValueError, TypeError) as exc:
        raise VerificationError("certificate request is not DER PKCS#10") from exc
    return request


def is_sm2_request(der: bytes) -> bool:
    """Whether the request says it is signed with SM2-with-SM3."""
    dotted: str = _load(der)["signature_algorithm"]["algorithm"].dotted
    return dotted == SM2_WITH_SM3_OID


def request_public_key(der: bytes) -> SM2PublicKey:
    """The SM2 key the request asks to certify."""
    info = _load(der)["certification_request_info"]["subject_pk_info"]
    return SM2PublicKey.from_spki_der(info.dump())


def verify_request(der: bytes) -> SM2PublicKey:
    """Check the request's SM2-with-SM3 self-signature; return its key or raise."""
    request = _load(der)
    algorithm = request["signature_algorithm"]
    if algorithm["algorithm"].dotted != SM2_WITH_SM3_OID:
        raise VerificationError("certificate request is not signed with SM2-with-SM3")
    if algorithm["parameters"].native is not None:
        raise VerificationError("SM2-with-SM3 takes no algorithm parameters")
    info = request["certification_request_info"]
    key = SM2PublicKey.from_spki_der(info["subject_pk_info"].dump())
    key.verify(from_der(bytes(request["signature"].native)), info.dump())
    return key
