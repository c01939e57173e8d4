"""Key purposes: each certificate names one, and a key is refused outside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from signing.algorithms import Algorithm, PrivateKey
from signing.ca import create_root_ca, issue_certificate, verify_seal_certificate
from signing.keys import generate_key
from signing.purposes import (
    PURPOSE_OIDS,
    PURPOSES,
    KeyPurpose,
    KeyPurposeError,
    parse_purpose,
    purpose_of,
    require_purpose,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
USCC = "91350100M000100Y43"


def _root() -> tuple[PrivateKey, x509.Certificate]:
    key = generate_key("Ed25519")
    return key, create_root_ca("govex root CA", key, now=T0 - timedelta(days=1))


def _certificate(purpose: KeyPurpose, alg: Algorithm = "Ed25519") -> x509.Certificate:
    root_key, root = _root()
    return issue_certificate(
        root_key,
        root,
        subject_public_key=generate_key(alg).public_key(),
        uscc=USCC,
        department_name="某市不动产登记中心",
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
        purpose=purpose,
    )


@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_certificate_names_its_one_purpose_with_key_usage(purpose: KeyPurpose) -> None:
    cert = _certificate(purpose, "ES256")
    assert purpose_of(cert) == purpose
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [PURPOSE_OIDS[purpose]]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment == (purpose != "auth")
    assert not usage.key_cert_sign


def test_a_key_used_outside_its_purpose_is_refused_every_way_round() -> None:
    refused = 0
    tried = 0
    for actual in PURPOSES:
        cert = _certificate(actual)
        for expected in PURPOSES:
            if expected == actual:
                assert require_purpose(cert, expected) == actual
                continue
            tried += 1
            with pytest.raises(KeyPurposeError) as caught:
                require_purpose(cert, expected)
            assert caught.value.code.value == "signing.key_purpose"
            refused += 1
    assert (tried, refused) == (6, 6)
    print(
        f"\nJ1 (certificate level): key used outside its purpose accepted {tried - refused} of {tried}"
    )


def test_the_chain_check_refuses_another_purpose() -> None:
    root_key, root = _root()
    cert = issue_certificate(
        root_key,
        root,
        subject_public_key=generate_key().public_key(),
        uscc=USCC,
        department_name="某市不动产登记中心",
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
        purpose="seal",
    )
    at = T0 + timedelta(days=1)
    assert verify_seal_certificate(cert, root, at=at, purpose="seal").uscc == USCC
    with pytest.raises(KeyPurposeError):
        verify_seal_certificate(cert, root, at=at, purpose="cert")


def test_a_legacy_seal_certificate_serves_seal_and_cert_but_never_auth() -> None:
    root_key, root = _root()
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "old")])
    legacy = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.subject)
        .public_key(generate_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=30))
        .sign(root_key, None)
    )
    assert purpose_of(legacy) is None
    assert require_purpose(legacy, "seal") == "seal"
    assert require_purpose(legacy, "cert") == "cert"
    with pytest.raises(KeyPurposeError, match="before key purposes"):
        require_purpose(legacy, "auth")


def test_an_unknown_purpose_name_is_refused() -> None:
    assert parse_purpose("cert") == "cert"
    with pytest.raises(KeyPurposeError, match="not one of auth, seal, cert"):
        parse_purpose("token")
