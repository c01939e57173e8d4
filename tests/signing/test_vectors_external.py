"""Published signature vectors: Wycheproof (Ed25519, ECDSA P-256 DER and P1363) and RFC 8032.

Every case must give its published result: ``valid`` verifies, ``invalid`` is
refused. Each test prints one figure line (``C3 …: N cases, unexpected 0``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cryptography_vectors
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from signing.algorithms import sign, verify
from signing.errors import SigningError
from signing.keys import load_jwk

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
WYCHEPROOF = VECTORS / "wycheproof"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WYCHEPROOF / name).read_text(encoding="utf-8"))
    return data


def _report(label: str, cases: int, unexpected: list[str]) -> None:
    print(f"\nC3 {label}: {cases} cases, unexpected {len(unexpected)}")
    assert cases > 0
    assert not unexpected, unexpected[:10]


def _check(expected: str, accepted: bool, case: dict[str, Any], unexpected: list[str]) -> None:
    assert expected in ("valid", "invalid"), f"tcId {case['tcId']}: result {expected!r}"
    if accepted != (expected == "valid"):
        unexpected.append(f"tcId {case['tcId']} ({case['comment']}): accepted={accepted}")


def _ours_accepts(key: Any, signature: bytes, message: bytes) -> bool:
    try:
        verify(key, signature, message)
    except SigningError:
        return False
    return True


def test_wycheproof_ed25519_through_signing_algorithms() -> None:
    data = _load("ed25519_test.json")
    cases, unexpected = 0, list[str]()
    for group in data["testGroups"]:
        key = load_jwk(group["publicKeyJwk"])
        assert isinstance(key, ed25519.Ed25519PublicKey)
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert raw.hex() == group["publicKey"]["pk"]
        for case in group["tests"]:
            cases += 1
            accepted = _ours_accepts(key, bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"]))
            _check(case["result"], accepted, case, unexpected)
    assert cases == data["numberOfTests"]
    _report("wycheproof ed25519", cases, unexpected)


def test_wycheproof_ecdsa_p256_p1363_through_signing_algorithms() -> None:
    data = _load("ecdsa_secp256r1_sha256_p1363_test.json")
    cases, jwk_groups, unexpected = 0, 0, list[str]()
    for group in data["testGroups"]:
        assert group["sha"] == "SHA-256"
        key = serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        if "publicKeyJwk" in group:  # not every group has one; when present it must agree
            assert load_jwk(group["publicKeyJwk"]) == key
            jwk_groups += 1
        for case in group["tests"]:
            cases += 1
            accepted = _ours_accepts(key, bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"]))
            _check(case["result"], accepted, case, unexpected)
    assert cases == data["numberOfTests"]
    assert jwk_groups > 0
    _report("wycheproof ecdsa p256 p1363", cases, unexpected)


def test_wycheproof_ecdsa_p256_der() -> None:
    data = _load("ecdsa_secp256r1_sha256_test.json")
    cases, unexpected = 0, list[str]()
    for group in data["testGroups"]:
        assert group["sha"] == "SHA-256"
        key = serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        for case in group["tests"]:
            cases += 1
            try:
                key.verify(
                    bytes.fromhex(case["sig"]),
                    bytes.fromhex(case["msg"]),
                    ec.ECDSA(hashes.SHA256()),
                )
                accepted = True
            except InvalidSignature:
                accepted = False
            _check(case["result"], accepted, case, unexpected)
    assert cases == data["numberOfTests"]
    _report("wycheproof ecdsa p256 der", cases, unexpected)


def _rfc8032_lines() -> list[str]:
    path = os.path.join("asymmetric", "Ed25519", "sign.input")
    with cryptography_vectors.open_vector_file(path, "r") as handle:
        return [line.strip() for line in handle if line.strip()]


def test_rfc8032_ed25519_vectors_sign_and_verify_as_published() -> None:
    lines = _rfc8032_lines()
    unexpected: list[str] = []
    for number, line in enumerate(lines, 1):
        # secret key (seed ‖ public) : public : message : signature ‖ message :
        secret_hex, public_hex, message_hex, signed_hex, _ = line.split(":")
        seed, public = bytes.fromhex(secret_hex)[:32], bytes.fromhex(public_hex)
        message, signature = bytes.fromhex(message_hex), bytes.fromhex(signed_hex)[:64]
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        derived = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        ours = sign(key, message)
        if derived != public or ours != signature:
            unexpected.append(f"line {number}: key or signature differs")
            continue
        pub = ed25519.Ed25519PublicKey.from_public_bytes(public)
        if not _ours_accepts(pub, signature, message):
            unexpected.append(f"line {number}: published signature refused")
        tampered = message + b"\x00"
        if _ours_accepts(pub, signature, tampered):
            unexpected.append(f"line {number}: signature accepted for another message")
    assert len(lines) == 1024
    _report("rfc8032 ed25519 (sign.input)", len(lines), unexpected)


@pytest.mark.parametrize("name", ["ed25519_test.json", "ecdsa_secp256r1_sha256_p1363_test.json"])
def test_wycheproof_files_hold_both_valid_and_invalid_cases(name: str) -> None:
    results = {case["result"] for group in _load(name)["testGroups"] for case in group["tests"]}
    assert results == {"valid", "invalid"}
