"""The SM2 suite through govex's signing API: certificates, seals, proofs, keys, mixed trust."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing.algorithms import algorithm_of
from signing.ca import (
    ChainError,
    certificate_to_pem,
    create_root_ca,
    issue_certificate,
    verify_seal_certificate,
)
from signing.errors import KeyLoadError, SealError
from signing.keys import (
    generate_key,
    kid_of,
    load_private_key,
    load_public_pem,
    public_pem,
    save_private_key,
)
from signing.multibase import decode_multikey, encode_multikey
from signing.proofs import SM2_JCS_2025, ProofError, add_proof, resolve_did_key, verify_proof
from signing.seal import seal_batch, verify_batch, verify_seal

NOW = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
USCC = "91110000100000000A"
OPENSSL = shutil.which("openssl")


def _chain(alg: str = "SM2") -> tuple[Any, x509.Certificate, Any, x509.Certificate]:
    root_key = generate_key(alg)  # type: ignore[arg-type]
    root = create_root_ca("省政务数据交换 root", root_key, now=NOW - timedelta(days=1))
    key = generate_key(alg)  # type: ignore[arg-type]
    cert = issue_certificate(
        root_key,
        root,
        subject_public_key=key.public_key(),
        uscc=USCC,
        department_name="市市场监督管理局",
        valid_from=NOW - timedelta(hours=1),
        valid_until=NOW + timedelta(days=365),
        purpose="seal",
    )
    return root_key, root, key, cert


def test_an_sm2_root_issues_gmt_0015_certificates_that_verify() -> None:
    _, root, key, cert = _chain()
    assert cert.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
    assert root.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
    info = verify_seal_certificate(cert, root, at=NOW, purpose="seal")
    assert info.uscc == USCC
    assert info.public_key == key.public_key()
    assert info.kid.startswith("sm2-")


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command line is not installed")
def test_openssl_verify_accepts_the_sm2_chain(tmp_path: Path) -> None:
    _, root, _, cert = _chain()
    (tmp_path / "root.pem").write_text(certificate_to_pem(root), "utf-8")
    (tmp_path / "dept.pem").write_text(certificate_to_pem(cert), "utf-8")
    at = str(int(NOW.timestamp()))
    checked = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-attime",
            at,
            "-purpose",
            "any",
            # OpenSSL 3.0 applies no distinguishing identifier unless told: the default one
            "-vfyopt",
            "distid:1234567812345678",
            "-CAfile",
            tmp_path / "root.pem",
            tmp_path / "dept.pem",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = subprocess.run(
        [OPENSSL, "x509", "-noout", "-text", "-in", tmp_path / "dept.pem"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "SM2-with-SM3" in text
    assert "SM2" in text


def test_tampered_sm2_certificates_are_refused() -> None:
    _, root, _, cert = _chain()
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    accepted = 0
    for offset in range(20, len(der), 7):
        changed = bytearray(der)
        changed[offset] ^= 0x01
        try:
            tampered = x509.load_der_x509_certificate(bytes(changed))
            verify_seal_certificate(tampered, root, at=NOW, purpose="seal")
        except (ChainError, ValueError, KeyLoadError):
            continue
        accepted += 1
    assert accepted == 0
    other_root = _chain()[1]
    with pytest.raises(ChainError):
        verify_seal_certificate(cert, other_root, at=NOW)


def test_sm2_batch_seals_verify_and_tampering_is_refused() -> None:
    _, _, key, _ = _chain()
    records = [
        {"resource": "licences", "key": f"k{i}", "version": 1, "data": {"名称": f"企业{i}"}}
        for i in range(5)
    ]
    sealed = seal_batch(
        records, resource="licences", issuer=USCC, key=key, kid=kid_of(key.public_key())
    )
    assert sealed.seal.alg == "SM2"
    verify_batch(records, sealed.seal, key.public_key())
    altered = [dict(r) for r in records]
    altered[2]["data"] = {"名称": "伪造"}
    with pytest.raises(SealError):
        verify_batch(altered, sealed.seal, key.public_key())
    forged = sealed.seal.model_dump() | {"size": 4}
    with pytest.raises(SealError):
        verify_seal(forged, key.public_key())
    with pytest.raises(SealError):
        verify_seal(sealed.seal, generate_key("Ed25519").public_key())


def test_sm2_data_integrity_proofs_use_sm3_and_refuse_tampering() -> None:
    key = generate_key("SM2")
    method = f"did:key:{encode_multikey(key.public_key())}"
    document = {"@context": ["https://www.w3.org/ns/credentials/v2"], "name": "营业执照"}
    secured = add_proof(document, key, verification_method=method, created=NOW)
    assert secured["proof"]["cryptosuite"] == SM2_JCS_2025
    verified = verify_proof(secured, resolve=resolve_did_key)
    assert verified.cryptosuite == SM2_JCS_2025
    with pytest.raises(ProofError):
        verify_proof({**secured, "name": "伪造"}, resolve=resolve_did_key)
    as_eddsa = {**secured, "proof": {**secured["proof"], "cryptosuite": "eddsa-jcs-2022"}}
    with pytest.raises(ProofError):
        verify_proof(as_eddsa, resolve=resolve_did_key)


def test_sm2_keys_round_trip_at_rest_and_as_pem_and_multikey(tmp_path: Path) -> None:
    key = generate_key("SM2")
    assert algorithm_of(key) == "SM2"
    save_private_key(key, tmp_path / "k.pem", b"pass")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "k.pem").read_bytes()
    loaded = load_private_key(tmp_path / "k.pem", b"pass")
    assert loaded.public_key() == key.public_key()
    with pytest.raises(KeyLoadError):
        load_private_key(tmp_path / "k.pem", b"wrong")
    assert load_public_pem(public_pem(key.public_key())) == key.public_key()
    assert decode_multikey(encode_multikey(key.public_key())) == key.public_key()


def test_a_bundle_of_both_suites_verifies_both_and_rotation_keeps_old_certificates() -> None:
    _, ed_root, ed_key, ed_cert = _chain("Ed25519")
    _, sm2_root, sm2_key, sm2_cert = _chain("SM2")
    bundle = [ed_root, sm2_root]

    def verify_with_bundle(cert: x509.Certificate) -> str:
        for root in bundle:
            try:
                return verify_seal_certificate(cert, root, at=NOW).kid
            except ChainError:
                continue
        raise ChainError("no root in the bundle vouches for it")

    # the department rotated from Ed25519 to SM2: what the old key sealed still verifies
    assert verify_with_bundle(ed_cert).startswith("ed25519-")
    assert verify_with_bundle(sm2_cert).startswith("sm2-")
    old = add_proof({"id": "old"}, ed_key, verification_method="urn:old", created=NOW)
    new = add_proof({"id": "new"}, sm2_key, verification_method="urn:new", created=NOW)
    verify_proof(old, verify_seal_certificate(ed_cert, ed_root, at=NOW).public_key)
    verify_proof(new, verify_seal_certificate(sm2_cert, sm2_root, at=NOW).public_key)
    with pytest.raises(ProofError):
        verify_proof(new, verify_seal_certificate(ed_cert, ed_root, at=NOW).public_key)
