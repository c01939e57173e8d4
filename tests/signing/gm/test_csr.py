"""SM2 PKCS#10 requests: self-signed with SM2-with-SM3, checked by govex and by OpenSSL 3,
certified by an SM2 root; a request altered after signing is refused."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.ca import certificate_public_key, create_root_ca, verify_seal_certificate
from signing.csr import (
    CsrError,
    certify_request,
    csr_from_pem,
    csr_purpose,
    csr_to_pem,
    csr_uscc,
    make_request,
)
from signing.gm.sm2 import SM2_WITH_SM3_OID, SM2PrivateKey
from signing.keys import kid_of
from signing.purposes import purpose_of

T0 = datetime(2025, 1, 1, tzinfo=UTC)
USCC = "91350100M000100Y43"
NAME = "某市不动产登记中心"
OPENSSL = shutil.which("openssl")


def _root() -> tuple[SM2PrivateKey, x509.Certificate]:
    key = SM2PrivateKey.generate()
    return key, create_root_ca("govex SM2 root CA", key, now=T0 - timedelta(days=1))


def test_an_sm2_request_is_checked_and_certified_by_an_sm2_root() -> None:
    key = SM2PrivateKey.generate()
    csr = csr_from_pem(csr_to_pem(make_request(key, uscc=USCC, purpose="seal")))
    assert csr.signature_algorithm_oid.dotted_string == SM2_WITH_SM3_OID
    assert (csr_uscc(csr), csr_purpose(csr)) == (USCC, "seal")
    ca_key, root = _root()
    cert = certify_request(
        ca_key,
        root,
        csr,
        uscc=USCC,
        department_name=NAME,
        purpose="seal",
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
    )
    assert purpose_of(cert) == "seal"
    assert kid_of(certificate_public_key(cert)) == kid_of(key.public_key())
    info = verify_seal_certificate(cert, root, at=T0 + timedelta(days=1), purpose="seal")
    assert info.uscc == USCC


def test_an_sm2_request_altered_after_signing_is_refused() -> None:
    csr = make_request(SM2PrivateKey.generate(), uscc=USCC, purpose="cert")
    der = csr.public_bytes(serialization.Encoding.DER)
    # the USCC's last character sits in the signed CertificationRequestInfo
    at = der.index(USCC.encode()) + len(USCC) - 1
    forged = x509.load_der_x509_csr(der[:at] + b"Z" + der[at + 1 :])
    with pytest.raises(CsrError, match="self-signature does not verify"):
        csr_from_pem(forged.public_bytes(serialization.Encoding.PEM))


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")
def test_openssl_verifies_the_self_signature_of_an_sm2_request(tmp_path: Path) -> None:
    pem = tmp_path / "seal.csr.pem"
    pem.write_text(csr_to_pem(make_request(SM2PrivateKey.generate(), uscc=USCC, purpose="seal")))
    done = subprocess.run(
        [
            str(OPENSSL),
            "req",
            "-in",
            str(pem),
            "-verify",
            "-noout",
            "-vfyopt",
            "distid:1234567812345678",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "verify OK" in done.stderr + done.stdout
