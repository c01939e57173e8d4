"""Root CA and seal certificates: issuance, chain checks, validity in time, rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from signing import ca
from signing.algorithms import Algorithm, PrivateKey, sign, verify
from signing.ca import (
    CertificateIssueError,
    ChainError,
    certificate_from_pem,
    certificate_to_pem,
    certificates_from_pem,
    create_root_ca,
    issue_seal_certificate,
    verify_seal_certificate,
)
from signing.errors import VerificationError
from signing.keys import generate_key, kid_of

T0 = datetime(2025, 1, 1, tzinfo=UTC)
USCC = "91350100M000100Y43"
DEPT = "某市不动产登记中心"


def _root(alg: Algorithm = "Ed25519") -> tuple[PrivateKey, x509.Certificate]:
    key = generate_key(alg)
    return key, create_root_ca("govex root CA", key, now=T0 - timedelta(days=1))


def _seal(
    root_key: PrivateKey,
    root: x509.Certificate,
    subject_key: PrivateKey,
    start: datetime = T0,
    days: int = 365,
) -> x509.Certificate:
    return issue_seal_certificate(
        root_key,
        root,
        subject_public_key=subject_key.public_key(),
        uscc=USCC,
        department_name=DEPT,
        valid_from=start,
        valid_until=start + timedelta(days=days),
    )


def test_public_api_is_listed() -> None:
    for name in ca.__all__:
        assert hasattr(ca, name), name


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_root_is_a_self_signed_ca_for_cert_and_crl_signing(alg: Algorithm) -> None:
    _, root = _root(alg)
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(root.public_key())
    assert root.not_valid_after_utc - root.not_valid_before_utc == timedelta(days=3650)


@pytest.mark.parametrize(("root_alg", "seal_alg"), [("Ed25519", "ES256"), ("ES256", "Ed25519")])
def test_seal_certificate_names_the_department_and_verifies(
    root_alg: Algorithm, seal_alg: Algorithm
) -> None:
    root_key, root = _root(root_alg)
    seal_key = generate_key(seal_alg)
    cert = _seal(root_key, root, seal_key)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEPT
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == DEPT
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == USCC
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == USCC
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest

    info = verify_seal_certificate(cert, root, at=T0 + timedelta(days=10))
    assert (info.uscc, info.name) == (USCC, DEPT)
    assert info.kid == kid_of(seal_key.public_key())
    assert (info.not_before, info.not_after) == (T0, T0 + timedelta(days=365))
    verify(info.public_key, sign(seal_key, b"sealed batch root"), b"sealed batch root")


def test_certificate_from_another_root_is_refused() -> None:
    root_key, root = _root()
    other_key = generate_key()
    other_root = create_root_ca("another root", other_key, now=T0 - timedelta(days=1))
    cert = _seal(root_key, root, generate_key())
    with pytest.raises(ChainError, match="not issued by the trusted root"):
        verify_seal_certificate(cert, other_root, at=T0 + timedelta(days=1))


def test_certificate_signed_by_an_impostor_with_the_roots_name_is_refused() -> None:
    _, root = _root()
    impostor_key = generate_key()
    impostor = create_root_ca("govex root CA", impostor_key, now=T0)
    cert = _seal(impostor_key, impostor, generate_key())
    assert cert.issuer == root.subject
    with pytest.raises(ChainError, match="signature does not verify"):
        verify_seal_certificate(cert, root, at=T0 + timedelta(days=1))


@pytest.mark.parametrize(
    "at",
    [T0 - timedelta(seconds=1), T0 + timedelta(days=365, seconds=1), T0 + timedelta(days=400)],
)
def test_certificate_outside_its_validity_is_refused(at: datetime) -> None:
    root_key, root = _root()
    cert = _seal(root_key, root, generate_key())
    with pytest.raises(ChainError, match="not at"):
        verify_seal_certificate(cert, root, at=at)


def test_nothing_verifies_once_the_root_has_expired() -> None:
    root_key, root = _root()
    cert = _seal(root_key, root, generate_key())
    with pytest.raises(ChainError, match="root certificate is not valid"):
        verify_seal_certificate(cert, root, at=T0 + timedelta(days=3650))


def test_validity_bounds_are_inclusive() -> None:
    root_key, root = _root()
    cert = _seal(root_key, root, generate_key())
    verify_seal_certificate(cert, root, at=T0)
    verify_seal_certificate(cert, root, at=T0 + timedelta(days=365))


def test_naive_time_is_refused() -> None:
    root_key, root = _root()
    cert = _seal(root_key, root, generate_key())
    with pytest.raises(ChainError, match="timezone-aware"):
        verify_seal_certificate(cert, root, at=datetime(2025, 6, 1))


def test_chain_errors_are_verification_errors() -> None:
    assert issubclass(ChainError, VerificationError)


def _hand_made(
    root_key: PrivateKey,
    root: x509.Certificate,
    *,
    ca_flag: bool,
    digital_signature: bool = True,
    with_uscc: bool = True,
) -> x509.Certificate:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, DEPT)]
    if with_uscc:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, USCC))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(root.subject)
        .public_key(generate_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca_flag,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(root_key, None)
    )


def test_certificate_with_the_ca_flag_is_not_a_seal_certificate() -> None:
    root_key, root = _root()
    cert = _hand_made(root_key, root, ca_flag=True)
    with pytest.raises(ChainError, match="CA certificate cannot be used"):
        verify_seal_certificate(cert, root, at=T0 + timedelta(days=1))


def test_certificate_without_digital_signature_usage_is_refused() -> None:
    root_key, root = _root()
    cert = _hand_made(root_key, root, ca_flag=False, digital_signature=False)
    with pytest.raises(ChainError, match="digitalSignature"):
        verify_seal_certificate(cert, root, at=T0 + timedelta(days=1))


def test_certificate_without_uscc_is_refused() -> None:
    root_key, root = _root()
    cert = _hand_made(root_key, root, ca_flag=False, with_uscc=False)
    with pytest.raises(ChainError, match="organizationIdentifier"):
        verify_seal_certificate(cert, root, at=T0 + timedelta(days=1))


def test_trusted_root_must_be_a_ca() -> None:
    root_key, root = _root()
    seal_key = generate_key()
    leaf = _seal(root_key, root, seal_key)
    # A seal certificate passed as the "root" of another certificate it signed.
    fake = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(leaf.subject)
        .public_key(generate_key().public_key())
        .serial_number(1)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=1))
        .sign(seal_key, None)
    )
    with pytest.raises(ChainError, match="not a CA"):
        verify_seal_certificate(fake, leaf, at=T0 + timedelta(hours=1))


def test_key_rotation_keeps_old_signatures_valid_at_their_time() -> None:
    root_key, root = _root()
    old_key, new_key = generate_key(), generate_key("ES256")
    old_cert = _seal(root_key, root, old_key, start=T0, days=180)
    new_cert = _seal(root_key, root, new_key, start=T0 + timedelta(days=170), days=365)
    signed_in_march = T0 + timedelta(days=60)
    old_signature = sign(old_key, b"record batch of March")

    # The new certificate for the same department does not disturb the old one.
    info_old = verify_seal_certificate(old_cert, root, at=signed_in_march)
    verify(info_old.public_key, old_signature, b"record batch of March")
    info_new = verify_seal_certificate(new_cert, root, at=T0 + timedelta(days=200))
    assert info_old.uscc == info_new.uscc
    assert info_old.kid != info_new.kid

    # After expiry the old certificate no longer vouches for new signatures …
    with pytest.raises(ChainError):
        verify_seal_certificate(old_cert, root, at=T0 + timedelta(days=200))
    # … and the new key cannot pass for the old one.
    with pytest.raises(VerificationError):
        verify(info_new.public_key, old_signature, b"record batch of March")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"uscc": "123"}, "USCC"),
        ({"uscc": "91350100M000100I43"}, "USCC"),
        ({"department_name": "  "}, "department_name"),
        ({"valid_until": T0}, "before valid_until"),
        ({"valid_until": T0 + timedelta(days=4000)}, "within the root"),
        ({"valid_from": datetime(2025, 1, 1)}, "timezone-aware"),
    ],
)
def test_inconsistent_issuance_is_refused(kwargs: dict[str, object], reason: str) -> None:
    root_key, root = _root()
    args: dict[str, object] = {
        "subject_public_key": generate_key().public_key(),
        "uscc": USCC,
        "department_name": DEPT,
        "valid_from": T0,
        "valid_until": T0 + timedelta(days=30),
    }
    args.update(kwargs)
    with pytest.raises(CertificateIssueError, match=reason):
        issue_seal_certificate(root_key, root, **args)  # type: ignore[arg-type]


def test_issuing_with_a_key_that_is_not_the_roots_is_refused() -> None:
    _, root = _root()
    with pytest.raises(CertificateIssueError, match="does not match"):
        _seal(generate_key(), root, generate_key())


def test_pem_helpers_round_trip_and_read_bundles() -> None:
    root_key, root = _root("ES256")
    cert = _seal(root_key, root, generate_key())
    assert certificate_from_pem(certificate_to_pem(cert)) == cert
    bundle = certificate_to_pem(root) + certificate_to_pem(cert)
    assert certificates_from_pem(bundle) == [root, cert]
    with pytest.raises(ChainError, match="expected one"):
        certificate_from_pem(bundle)
    with pytest.raises(ChainError, match="not PEM"):
        certificates_from_pem("not a certificate")
    assert cert.signature_hash_algorithm is not None
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
