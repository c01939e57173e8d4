"""PKCS#10 certificate requests (CSRs) for department keys, and their certification.

A department makes its keys on its own machine (``govex keys new``) and hands the
exchange only public material: a CSR per signing key. A CSR's subject names the
department the way :mod:`signing.ca` names it in certificates: its unified social
credit code (USCC) in ``organizationIdentifier`` (2.5.4.97) and ``serialNumber``, and
a ``CN``. It asks for one key purpose (:mod:`signing.purposes`) in a requested
extended key usage.

:func:`certify_request` checks the CSR's self-signature (proof that the requester
holds the private key), that it names the USCC being registered and the purpose being
certified, and then issues the certificate through :func:`signing.ca.issue_certificate`.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from .algorithms import PrivateKey, PublicKey, algorithm_of
from .ca import SM2_WITH_SM3, CertificateIssueError, issue_certificate
from .errors import KeyLoadError, SigningError
from .gm import csr as gm_csr
from .gm.sm2 import SM2PrivateKey, SM2PublicKey
from .gm.x509 import RawExtension
from .purposes import PURPOSE_OIDS, KeyPurpose, KeyPurposeError, purpose_extension

__all__ = [
    "CsrError",
    "certify_request",
    "csr_from_pem",
    "csr_purpose",
    "csr_to_pem",
    "csr_uscc",
    "make_request",
]


class CsrError(CertificateIssueError):
    """A certificate request that cannot be certified (bad PEM, signature, subject)."""


def make_request(
    key: PrivateKey, *, uscc: str, purpose: KeyPurpose, name: str | None = None
) -> x509.CertificateSigningRequest:
    """A CSR for ``key``, naming the department's USCC and asking for ``purpose``."""
    algorithm_of(key)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name or uscc),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, uscc),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc),
        ]
    )
    extension = purpose_extension(purpose)
    if isinstance(key, SM2PrivateKey):
        der = gm_csr.build_request(
            subject_der=subject.public_bytes(),
            extensions=[RawExtension(extension.oid.dotted_string, True, extension.public_bytes())],
            signer=key,
        )
        return x509.load_der_x509_csr(der)
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(extension, critical=True)
    )
    digest = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, digest)


def csr_to_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def csr_from_pem(text: str | bytes) -> x509.CertificateSigningRequest:
    """Parse one PEM CSR and check its self-signature."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise CsrError("not a PEM certificate request (PKCS#10)") from exc
    if not _self_signed(csr):
        raise CsrError("the certificate request's self-signature does not verify")
    return csr


def _self_signed(csr: x509.CertificateSigningRequest) -> bool:
    """Whether the request's self-signature verifies (SM2-with-SM3 through signing.gm)."""
    if csr.signature_algorithm_oid.dotted_string == SM2_WITH_SM3:
        try:
            gm_csr.verify_request(csr.public_bytes(serialization.Encoding.DER))
        except SigningError:
            return False
        return True
    try:
        return csr.is_signature_valid
    except Exception as exc:  # an unsupported signature algorithm cannot be checked
        raise CsrError(f"the certificate request's signature cannot be checked: {exc}") from exc


def _public_key(csr: x509.CertificateSigningRequest) -> PublicKey:
    if csr.signature_algorithm_oid.dotted_string == SM2_WITH_SM3:
        try:
            sm2: SM2PublicKey = gm_csr.request_public_key(
                csr.public_bytes(serialization.Encoding.DER)
            )
        except SigningError as exc:
            raise CsrError(f"the certificate request's key is not usable: {exc.message}") from exc
        return sm2
    key = csr.public_key()
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise CsrError(f"key type {type(key).__name__} is not supported; use Ed25519 or P-256")
    try:
        algorithm_of(key)
    except KeyLoadError as exc:
        raise CsrError(exc.message) from exc
    return key


def csr_uscc(csr: x509.CertificateSigningRequest) -> str:
    """The USCC the CSR names (``organizationIdentifier`` and ``serialNumber`` must agree)."""
    found = {
        str(attribute.value)
        for oid in (NameOID.ORGANIZATION_IDENTIFIER, NameOID.SERIAL_NUMBER)
        for attribute in csr.subject.get_attributes_for_oid(oid)
    }
    if len(found) != 1:
        raise CsrError(
            "the certificate request must name one USCC in organizationIdentifier/serialNumber"
        )
    return found.pop()


def csr_purpose(csr: x509.CertificateSigningRequest) -> KeyPurpose | None:
    """The purpose the CSR asks for, or None when it asks for none."""
    try:
        usage = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    named = [p for p, oid in PURPOSE_OIDS.items() if oid in usage]
    if len(named) != 1:
        raise KeyPurposeError("the certificate request must ask for exactly one key purpose")
    return named[0]


def certify_request(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    csr: x509.CertificateSigningRequest,
    *,
    uscc: str,
    department_name: str,
    purpose: KeyPurpose,
    valid_from: datetime,
    valid_until: datetime,
) -> x509.Certificate:
    """Certify the key of a checked CSR for ``purpose``, for the department ``uscc``."""
    if not _self_signed(csr):
        raise CsrError("the certificate request's self-signature does not verify")
    named = csr_uscc(csr)
    if named != uscc:
        raise CsrError(f"the certificate request names USCC {named}, not {uscc}")
    asked = csr_purpose(csr)
    if asked is not None and asked != purpose:
        raise KeyPurposeError(
            f"the certificate request asks for a {asked} key; it cannot be certified for {purpose}"
        )
    return issue_certificate(
        ca_key,
        ca_cert,
        subject_public_key=_public_key(csr),
        uscc=uscc,
        department_name=department_name,
        valid_from=valid_from,
        valid_until=valid_until,
        purpose=purpose,
    )
