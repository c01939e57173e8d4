"""The exchange's root CA and the certificates it issues to department keys.

The root certifies each department key in an X.509 certificate whose subject
names the department: ``CN`` and ``O`` are the department's name, and
``organizationIdentifier`` (OID 2.5.4.97) and ``serialNumber`` hold its unified
social credit code (USCC). A department certificate is an end-entity certificate
(``cA`` false) for one purpose (:mod:`signing.purposes`: ``auth``, ``seal`` or
``cert``), with that purpose's key usage and a critical extended key usage naming it.

Key rotation: a department may hold several seal certificates over time. A
signature is checked against the certificate that was valid *at* the time it
was made (:func:`verify_seal_certificate` takes ``at``), so issuing a new
certificate never invalidates what the old key sealed while it was valid.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from schemas.errors import ErrorCode

from .algorithms import PrivateKey, PublicKey, algorithm_of, spki_der
from .errors import KeyLoadError, SigningError, VerificationError
from .gm import x509 as gm_x509
from .gm.sm2 import SM2PrivateKey, SM2PublicKey
from .keys import kid_of
from .purposes import KeyPurpose, key_usage_for, purpose_extension, require_purpose

__all__ = [
    "CertificateIssueError",
    "ChainError",
    "SealCertificateInfo",
    "certificate_from_pem",
    "certificate_public_key",
    "certificate_to_pem",
    "certificates_from_pem",
    "create_root_ca",
    "issue_certificate",
    "issue_seal_certificate",
    "verify_seal_certificate",
]

# GB 32100-2015: 18 characters from digits and upper-case letters except I, O, Z, S, V.
SM2_WITH_SM3 = "1.2.156.10197.1.501"
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
_Ext = TypeVar("_Ext", bound=x509.ExtensionType)


class ChainError(VerificationError):
    """A certificate that the root does not vouch for at the time asked."""

    code = ErrorCode.UNTRUSTED_ISSUER


class CertificateIssueError(SigningError):
    """A request to issue a certificate that is inconsistent (key, validity, USCC)."""

    code = ErrorCode.INVALID_REQUEST


@dataclass(frozen=True, slots=True)
class SealCertificateInfo:
    """What a verified seal certificate says: who the department is and its key."""

    uscc: str
    name: str
    public_key: PublicKey
    kid: str
    not_before: datetime
    not_after: datetime


def _hash_for(key: PrivateKey) -> hashes.SHA256 | None:
    algorithm_of(key)
    return None if isinstance(key, ed25519.Ed25519PrivateKey | SM2PrivateKey) else hashes.SHA256()


def _public_of(cert: x509.Certificate) -> PublicKey:
    try:
        sm2 = gm_x509.sm2_public_key(_der(cert))
    except SigningError as exc:
        raise ChainError(f"certificate key is not usable: {exc.message}") from exc
    if sm2 is not None:
        return sm2
    key = cert.public_key()
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ChainError(f"seal certificate key type {type(key).__name__} is not supported")
    try:
        algorithm_of(key)
    except KeyLoadError as exc:
        raise ChainError(f"certificate key is not usable for seals: {exc.message}") from exc
    return key


def certificate_public_key(cert: x509.Certificate) -> PublicKey:
    """The Ed25519, P-256 or SM2 key a certificate certifies (:class:`ChainError` otherwise)."""
    return _public_of(cert)


def _spki(key: object) -> bytes:
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | SM2PublicKey):
        raise CertificateIssueError(f"unsupported CA key type {type(key).__name__}")
    return spki_der(key)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _ski(public: PublicKey) -> x509.SubjectKeyIdentifier:
    if isinstance(public, SM2PublicKey):
        # RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits
        return x509.SubjectKeyIdentifier(hashlib.sha1(public.raw()).digest())  # noqa: S324
    return x509.SubjectKeyIdentifier.from_public_key(public)


def _sign_builder(
    builder: x509.CertificateBuilder,
    *,
    key: PrivateKey,
    public: PublicKey,
    subject: x509.Name,
    issuer: x509.Name,
    start: datetime,
    end: datetime,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    """Sign with ``cryptography`` when it can; an SM2 CA or subject goes through signing.gm."""
    if not isinstance(key, SM2PrivateKey) and not isinstance(public, SM2PublicKey):
        for value, critical in extensions:
            builder = builder.add_extension(value, critical=critical)
        return builder.public_key(public).sign(key, _hash_for(key))
    if not isinstance(key, SM2PrivateKey):
        raise CertificateIssueError("an SM2 key can only be certified by an SM2 CA")
    der = gm_x509.build_certificate(
        subject_der=subject.public_bytes(),
        issuer_der=issuer.public_bytes(),
        spki_der=spki_der(public),
        not_before=start,
        not_after=end,
        extensions=[
            gm_x509.RawExtension(value.oid.dotted_string, critical, value.public_bytes())
            for value, critical in extensions
        ],
        signer=key,
    )
    return x509.load_der_x509_certificate(der)


def _verify_issued_by(cert: x509.Certificate, root: x509.Certificate) -> None:
    if cert.signature_algorithm_oid.dotted_string != SM2_WITH_SM3:
        cert.verify_directly_issued_by(root)
        return
    if cert.issuer != root.subject:
        raise ValueError("issuer name does not match the root's subject")
    root_key = _public_of(root)
    if not isinstance(root_key, SM2PublicKey):
        raise TypeError("an SM2-signed certificate needs an SM2 root")
    try:
        gm_x509.verify_certificate_signature(_der(cert), root_key)
    except VerificationError as exc:
        raise InvalidSignature from exc


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise CertificateIssueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def create_root_ca(
    name: str,
    key: PrivateKey,
    *,
    valid_days: int = 3650,
    now: datetime | None = None,
) -> x509.Certificate:
    """Create the exchange's self-signed root: CA, certSign + cRLSign, SKI = AKI."""
    if valid_days <= 0:
        raise CertificateIssueError("valid_days must be positive")
    start = _aware(now, "now") if now is not None else datetime.now(UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        ]
    )
    public = key.public_key()
    ski = _ski(public)
    end = start + timedelta(days=valid_days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (_key_usage(cert_sign=True), True),
        (ski, False),
        (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False),
    ]
    return _sign_builder(
        builder,
        key=key,
        public=public,
        subject=subject,
        issuer=subject,
        start=start,
        end=end,
        extensions=extensions,
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue_seal_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    *,
    subject_public_key: PublicKey,
    uscc: str,
    department_name: str,
    valid_from: datetime,
    valid_until: datetime,
    purpose: KeyPurpose = "seal",
) -> x509.Certificate:
    """:func:`issue_certificate`, for a seal key unless another ``purpose`` is named."""
    return issue_certificate(
        ca_key,
        ca_cert,
        subject_public_key=subject_public_key,
        uscc=uscc,
        department_name=department_name,
        valid_from=valid_from,
        valid_until=valid_until,
        purpose=purpose,
    )


def issue_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    *,
    subject_public_key: PublicKey,
    uscc: str,
    department_name: str,
    valid_from: datetime,
    valid_until: datetime,
    purpose: KeyPurpose,
) -> x509.Certificate:
    """Certify a department's key for one ``purpose`` for ``[valid_from, valid_until]``.

    Refuses a CA key that does not match ``ca_cert``, a validity period that is
    empty or outside the root's, a malformed USCC and an empty department name.
    """
    algorithm_of(subject_public_key)
    if _spki(ca_key.public_key()) != _spki(_public_of(ca_cert)):
        raise CertificateIssueError("the CA key does not match the CA certificate")
    if not _USCC_SHAPE.fullmatch(uscc):
        raise CertificateIssueError(f"{uscc!r} is not an 18-character USCC (GB 32100)")
    if not department_name.strip():
        raise CertificateIssueError("department_name must not be empty")
    start, end = _aware(valid_from, "valid_from"), _aware(valid_until, "valid_until")
    if start >= end:
        raise CertificateIssueError("valid_from must be before valid_until")
    if start < ca_cert.not_valid_before_utc or end > ca_cert.not_valid_after_utc:
        raise CertificateIssueError("the seal certificate's validity must lie within the root's")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, department_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, department_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, uscc),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc),
        ]
    )
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage_for(purpose), True),
        (purpose_extension(purpose), True),
        (_ski(subject_public_key), False),
        (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False),
    ]
    return _sign_builder(
        builder,
        key=ca_key,
        public=subject_public_key,
        subject=subject,
        issuer=ca_cert.subject,
        start=start,
        end=end,
        extensions=extensions,
    )


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _single(name: x509.Name, oid: x509.ObjectIdentifier, label: str) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str) or not values[0].value:
        raise ChainError(f"seal certificate subject must hold exactly one {label}")
    return values[0].value


def _check_root(root: x509.Certificate, at: datetime) -> None:
    constraints = _extension(root, x509.BasicConstraints)
    usage = _extension(root, x509.KeyUsage)
    if constraints is None or not constraints.ca:
        raise ChainError("the trusted root is not a CA certificate")
    if usage is None or not usage.key_cert_sign:
        raise ChainError("the trusted root may not sign certificates (no keyCertSign)")
    if not root.not_valid_before_utc <= at <= root.not_valid_after_utc:
        raise ChainError(f"the root certificate is not valid at {at.isoformat()}")


def verify_seal_certificate(
    cert: x509.Certificate,
    root: x509.Certificate,
    *,
    at: datetime,
    purpose: KeyPurpose | None = None,
) -> SealCertificateInfo:
    """Check ``cert`` is a certificate the ``root`` issued, valid ``at``; say whose it is.

    With ``purpose``, also refuse a certificate for another purpose
    (:class:`signing.purposes.KeyPurposeError`, ``signing.key_purpose``).
    """
    if at.tzinfo is None:
        raise ChainError("`at` must be timezone-aware")
    moment = at.astimezone(UTC)
    _check_root(root, moment)
    try:
        _verify_issued_by(cert, root)
    except (ValueError, TypeError) as exc:
        raise ChainError(f"seal certificate was not issued by the trusted root: {exc}") from exc
    except InvalidSignature as exc:
        raise ChainError("seal certificate signature does not verify against the root") from exc
    root_ski = _extension(root, x509.SubjectKeyIdentifier)
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    if (
        root_ski is not None
        and aki is not None
        and aki.key_identifier not in (None, root_ski.digest)
    ):
        raise ChainError("seal certificate's authority key id does not name the root key")
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise ChainError(
            f"seal certificate is valid from {cert.not_valid_before_utc.isoformat()} "
            f"to {cert.not_valid_after_utc.isoformat()}, not at {moment.isoformat()}"
        )
    for extension in cert.extensions:
        if extension.critical and isinstance(extension.value, x509.UnrecognizedExtension):
            raise ChainError(f"seal certificate has unknown critical extension {extension.oid}")
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise ChainError("a CA certificate cannot be used as a seal certificate")
    usage = _extension(cert, x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise ChainError("seal certificate does not allow digitalSignature")
    if purpose is not None:
        require_purpose(cert, purpose)
    uscc = _single(cert.subject, NameOID.ORGANIZATION_IDENTIFIER, "organizationIdentifier")
    name = _single(cert.subject, NameOID.COMMON_NAME, "commonName")
    public_key = _public_of(cert)
    return SealCertificateInfo(
        uscc=uscc,
        name=name,
        public_key=public_key,
        kid=kid_of(public_key),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def certificate_to_pem(cert: x509.Certificate) -> str:
    """PEM text of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificates_from_pem(text: str | bytes) -> list[x509.Certificate]:
    """Parse one or more concatenated PEM certificates (a trust bundle)."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ChainError(f"not PEM X.509 certificate data: {exc}") from exc


def certificate_from_pem(text: str | bytes) -> x509.Certificate:
    """Parse exactly one PEM certificate."""
    certs = certificates_from_pem(text)
    if len(certs) != 1:
        raise ChainError(f"expected one PEM certificate, found {len(certs)}")
    return certs[0]
