"""PKCS#10 requests: they name the USCC and a purpose; only a checked request is certified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from signing.algorithms import Algorithm
from signing.ca import create_root_ca
from signing.csr import (
    CsrError,
    certify_request,
    csr_from_pem,
    csr_purpose,
    csr_to_pem,
    csr_uscc,
    make_request,
)
from signing.keys import generate_key, kid_of
from signing.purposes import KeyPurposeError, purpose_of

T0 = datetime(2025, 1, 1, tzinfo=UTC)
USCC = "91350100M000100Y43"
OTHER = "91350100M000101X7R"
NAME = "某市不动产登记中心"


@pytest.fixture
def root() -> tuple[object, x509.Certificate]:
    key = generate_key()
    return key, create_root_ca("govex root CA", key, now=T0 - timedelta(days=1))


def _certify(
    root: tuple[object, x509.Certificate], csr: x509.CertificateSigningRequest, **kw: object
) -> x509.Certificate:
    args: dict[str, object] = {
        "uscc": USCC,
        "department_name": NAME,
        "purpose": "seal",
        "valid_from": T0,
        "valid_until": T0 + timedelta(days=365),
    }
    args.update(kw)
    return certify_request(root[0], root[1], csr, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_a_request_round_trips_and_is_certified_for_its_purpose(
    root: tuple[object, x509.Certificate], alg: Algorithm
) -> None:
    key = generate_key(alg)
    csr = csr_from_pem(csr_to_pem(make_request(key, uscc=USCC, purpose="cert")))
    assert csr_uscc(csr) == USCC
    assert csr_purpose(csr) == "cert"
    assert csr.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == USCC
    cert = _certify(root, csr, purpose="cert")
    assert purpose_of(cert) == "cert"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == USCC
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == NAME
    assert kid_of(cert.public_key()) == kid_of(key.public_key())  # type: ignore[arg-type]


def test_a_request_for_one_purpose_is_not_certified_for_another(
    root: tuple[object, x509.Certificate],
) -> None:
    csr = make_request(generate_key(), uscc=USCC, purpose="seal")
    with pytest.raises(KeyPurposeError, match="asks for a seal key"):
        _certify(root, csr, purpose="cert")


def test_a_request_naming_another_department_is_refused(
    root: tuple[object, x509.Certificate],
) -> None:
    csr = make_request(generate_key(), uscc=OTHER, purpose="seal")
    with pytest.raises(CsrError, match="names USCC"):
        _certify(root, csr)


def test_a_request_whose_self_signature_fails_is_refused() -> None:
    pem = csr_to_pem(make_request(generate_key(), uscc=USCC, purpose="seal"))
    der_tail = pem.splitlines()
    # flip one character of the base64 signature at the end of the body
    line = der_tail[-2]
    flipped = line[:-4] + ("A" if line[-4] != "A" else "B") + line[-3:]
    bad = "\n".join([*der_tail[:-2], flipped, der_tail[-1]]) + "\n"
    with pytest.raises(CsrError):
        csr_from_pem(bad)
    with pytest.raises(CsrError, match="not a PEM certificate request"):
        csr_from_pem("hello")
