"""Data Integrity proofs: W3C vectors, an independent verifier, refusals, properties."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing import proofs
from signing.algorithms import Algorithm, PrivateKey, PublicKey
from signing.canonical import MAX_SAFE_INTEGER, canonicalize
from signing.errors import KeyLoadError, SigningError, VerificationError
from signing.keys import generate_key
from signing.multibase import decode_multikey, decode_secret_multikey, encode_multikey
from signing.proofs import (
    ProofError,
    add_proof,
    hash_data,
    resolve_did_key,
    verify_proof,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
ECDSA_DIR = VECTORS / "vc-di" / "ecdsa-jcs-2019-p256"
EDDSA_DIR = VECTORS / "vc-di" / "eddsa-jcs-2022"
CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)
VM = "https://exchange.example.gov.cn/departments/91350100M000100Y43/keys/seal-1"

# Keys are made once: key generation is not what these tests are about.
ED_KEY = generate_key("Ed25519")
P256_KEY = generate_key("ES256")
KEYS: dict[Algorithm, PrivateKey] = {"Ed25519": ED_KEY, "ES256": P256_KEY}


def _json(name: str) -> Any:
    return json.loads((ECDSA_DIR / name).read_text(encoding="utf-8"))


def _text(name: str) -> str:
    return (ECDSA_DIR / name).read_text(encoding="utf-8").strip()


def _credential() -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "1.2.156.3005.2.11100000000000001X.91350100M000100Y43.0001.1.5",
        "type": ["VerifiableCredential", "BusinessLicence"],
        "issuer": "did:web:scjg.example.gov.cn",
        "validFrom": "2025-01-01T00:00:00Z",
        "credentialSubject": {"id": "urn:uscc:91350100M000100Y43", "name": "某某有限公司"},
    }


def test_public_api_is_listed() -> None:
    for name in proofs.__all__:
        assert hasattr(proofs, name), name


# --- W3C vc-di-ecdsa test vectors (ecdsa-jcs-2019, P-256) ------------------------------


def test_w3c_ecdsa_proof_config_canonical_form_and_hash_match() -> None:
    config = _json("proofConfigJCSECDSAP256.json")
    assert canonicalize(config).decode() == _text("proofCanonJCSECDSAP256.txt")
    assert hashlib.sha256(canonicalize(config)).hexdigest() == _text("proofHashJCSECDSAP256.txt")


def test_w3c_ecdsa_document_canonical_form_and_hash_match() -> None:
    unsigned = _json("unsigned.json")
    assert canonicalize(unsigned).decode() == _text("canonDocJCSECDSAP256.txt")
    assert hashlib.sha256(canonicalize(unsigned)).hexdigest() == _text("docHashJCSECDSAP256.txt")


def test_w3c_ecdsa_combined_hash_matches() -> None:
    data = hash_data(_json("unsigned.json"), _json("proofConfigJCSECDSAP256.json"))
    assert data.hex() == _text("combinedHashJCSECDSAP256.txt")


def test_w3c_ecdsa_key_pair_decodes_consistently() -> None:
    pair = _json("p256KeyPair.json")
    secret = decode_secret_multikey(pair["secretKeyMultibase"])
    assert encode_multikey(secret.public_key()) == pair["publicKeyMultibase"]
    assert pair["publicKeyMultibase"].startswith("zDn")


def test_w3c_ecdsa_signed_credential_verifies() -> None:
    signed = _json("signedJCSECDSAP256.json")
    public = decode_multikey(_json("p256KeyPair.json")["publicKeyMultibase"])
    result = verify_proof(signed, public)
    assert result.cryptosuite == "ecdsa-jcs-2019"
    assert result.created == CREATED
    assert result.document_without_proof == _json("unsigned.json")
    # The did:key verification method resolves to the same key.
    assert verify_proof(signed, resolve=resolve_did_key) == result
    assert signed["proof"]["proofValue"] == _text("sigBTC58JCSECDSAP256.txt")


def test_w3c_ecdsa_signed_credential_fails_when_altered() -> None:
    signed = _json("signedJCSECDSAP256.json")
    signed["credentialSubject"]["alumniOf"] = "The School of Counterexamples"
    with pytest.raises(ProofError, match="does not verify"):
        verify_proof(signed, resolve=resolve_did_key)


def test_signing_the_w3c_ecdsa_document_reproduces_the_proof_and_hashes() -> None:
    pair = _json("p256KeyPair.json")
    signed = _json("signedJCSECDSAP256.json")
    ours = add_proof(
        _json("unsigned.json"),
        decode_secret_multikey(pair["secretKeyMultibase"]),
        verification_method=signed["proof"]["verificationMethod"],
        created=CREATED,
    )
    # ECDSA is randomized: everything but the signature is identical …
    without_value = {k: v for k, v in ours["proof"].items() if k != "proofValue"}
    assert without_value == _json("proofConfigJCSECDSAP256.json")
    assert {k: v for k, v in ours.items() if k != "proof"} == _json("unsigned.json")
    # … so the signed bytes are the vector's combined hash, and the proof verifies.
    data = hash_data(_json("unsigned.json"), without_value)
    assert data.hex() == _text("combinedHashJCSECDSAP256.txt")
    verify_proof(ours, decode_multikey(pair["publicKeyMultibase"]))


@pytest.mark.skipif(
    not (EDDSA_DIR / "signedJCS.json").exists(),
    reason="W3C vc-di-eddsa eddsa-jcs-2022 vectors are not in the shared vectors folder",
)
def test_w3c_eddsa_vector_is_reproduced_byte_for_byte() -> None:
    pair = json.loads((EDDSA_DIR / "keyPair.json").read_text(encoding="utf-8"))
    signed = json.loads((EDDSA_DIR / "signedJCS.json").read_text(encoding="utf-8"))
    unsigned = json.loads((EDDSA_DIR / "unsigned.json").read_text(encoding="utf-8"))
    verify_proof(signed, decode_multikey(pair["publicKeyMultibase"]))
    ours = add_proof(
        unsigned,
        decode_secret_multikey(pair["privateKeyMultibase"]),
        verification_method=signed["proof"]["verificationMethod"],
        created=datetime.fromisoformat(signed["proof"]["created"]),
    )
    assert ours == signed  # Ed25519 is deterministic


# --- an independent verifier: cryptography + rfc8785 + hashlib only --------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _tiny_b58decode(text: str) -> bytes:
    n = 0
    for char in text:
        n = n * 58 + _B58.index(char)
    return b"\0" * (len(text) - len(text.lstrip("1"))) + n.to_bytes((n.bit_length() + 7) // 8)


def _independent_verify(secured: dict[str, Any], public: PublicKey) -> None:
    """Data Integrity JCS verification as the specs write it; raises on failure."""
    proof = dict(secured["proof"])
    assert proof["proofValue"][0] == "z"
    signature = _tiny_b58decode(proof.pop("proofValue")[1:])
    document = {k: v for k, v in secured.items() if k != "proof"}
    data = hashlib.sha256(rfc8785.dumps(proof)).digest()
    data += hashlib.sha256(rfc8785.dumps(document)).digest()
    if proof["cryptosuite"] == "eddsa-jcs-2022":
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
    else:
        assert proof["cryptosuite"] == "ecdsa-jcs-2019"
        assert isinstance(public, ec.EllipticCurvePublicKey)
        r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    ("alg", "suite"), [("Ed25519", "eddsa-jcs-2022"), ("ES256", "ecdsa-jcs-2019")]
)
def test_independent_verifier_accepts_our_proofs(alg: Algorithm, suite: str) -> None:
    key = KEYS[alg]
    secured = add_proof(_credential(), key, verification_method=VM, created=CREATED)
    assert secured["proof"]["cryptosuite"] == suite
    _independent_verify(secured, key.public_key())


def test_independent_verifier_rejects_a_tampered_proof_of_ours() -> None:
    secured = add_proof(_credential(), ED_KEY, verification_method=VM)
    secured["issuer"] = "did:web:someone-else.example"
    with pytest.raises(InvalidSignature):
        _independent_verify(secured, ED_KEY.public_key())


# --- add_proof -----------------------------------------------------------------------


def test_add_proof_returns_a_new_document_and_leaves_the_input_alone() -> None:
    document = _credential()
    before = copy.deepcopy(document)
    secured = add_proof(document, ED_KEY, verification_method=VM, created=CREATED)
    assert document == before
    assert secured["proof"] == {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2023-02-24T23:36:38Z",
        "verificationMethod": VM,
        "proofPurpose": "assertionMethod",
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "proofValue": secured["proof"]["proofValue"],
    }


def test_document_without_context_gets_no_context_in_the_proof() -> None:
    secured = add_proof({"a": 1}, ED_KEY, verification_method=VM)
    assert "@context" not in secured["proof"]
    verify_proof(secured, ED_KEY.public_key())


def test_created_defaults_to_now_in_utc() -> None:
    secured = add_proof(_credential(), ED_KEY, verification_method=VM)
    created = verify_proof(secured, ED_KEY.public_key()).created
    assert created is not None
    assert created.utcoffset() is not None
    assert secured["proof"]["created"].endswith("Z")


def test_naive_created_is_refused() -> None:
    with pytest.raises(SigningError, match="timezone-aware"):
        add_proof(_credential(), ED_KEY, verification_method=VM, created=datetime(2025, 1, 1))


def test_suite_that_does_not_fit_the_key_is_refused_at_signing() -> None:
    with pytest.raises(KeyLoadError, match="cannot sign"):
        add_proof(_credential(), ED_KEY, verification_method=VM, cryptosuite="ecdsa-jcs-2019")
    with pytest.raises(SigningError, match="unknown cryptosuite"):
        add_proof(_credential(), ED_KEY, verification_method=VM, cryptosuite="eddsa-rdfc-2022")


def test_document_that_already_has_a_proof_is_refused() -> None:
    secured = add_proof(_credential(), ED_KEY, verification_method=VM)
    with pytest.raises(SigningError, match="already has a proof"):
        add_proof(secured, ED_KEY, verification_method=VM)


# --- verify_proof refusals -----------------------------------------------------------


def _secured(alg: Algorithm = "Ed25519") -> dict[str, Any]:
    return add_proof(_credential(), KEYS[alg], verification_method=VM, created=CREATED)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.pop("proof"), "no proof"),
        (lambda d: d.update(proof=[d["proof"]]), "proof sets"),
        (lambda d: d.update(proof="z123"), "must be a JSON object"),
        (lambda d: d["proof"].update(type="Ed25519Signature2020"), "unknown proof type"),
        (lambda d: d["proof"].update(cryptosuite="eddsa-rdfc-2022"), "unknown cryptosuite"),
        (lambda d: d["proof"].update(proofPurpose="authentication"), "proof purpose"),
        (lambda d: d["proof"].update(proofValue="u" + "A" * 86), "not multibase base58btc"),
        (lambda d: d["proof"].update(proofValue="z0OIl"), "not multibase base58btc"),
        (lambda d: d["proof"].update(proofValue="z3yZe7d"), "64 bytes"),
        (lambda d: d["proof"].pop("proofValue"), "proofValue"),
        (lambda d: d["proof"].pop("verificationMethod"), "verificationMethod"),
        (lambda d: d["proof"].update(created="yesterday"), "dateTime"),
        (lambda d: d["proof"].update(created="2023-02-24T23:36:38"), "time zone"),
        (lambda d: d.update({"@context": ["https://other.example/v1"]}), "@context"),
        (lambda d: d.update(issuer="did:web:forger.example"), "does not verify"),
        (lambda d: d["credentialSubject"].update(name="另一家公司"), "does not verify"),
        (lambda d: d.update(extra=True), "does not verify"),
        (lambda d: d.pop("validFrom"), "does not verify"),
        (lambda d: d["proof"].update(created="2024-02-24T23:36:38Z"), "does not verify"),
        (lambda d: d["proof"].update(verificationMethod=VM + "2"), "does not verify"),
    ],
)
@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_verify_refuses_with_a_precise_reason(mutate: Any, reason: str, alg: Algorithm) -> None:
    document = _secured(alg)
    mutate(document)
    with pytest.raises(ProofError, match=reason):
        verify_proof(document, KEYS[alg].public_key())


def test_purpose_is_checked_against_the_expected_one() -> None:
    document = add_proof(
        _credential(), ED_KEY, verification_method=VM, proof_purpose="authentication"
    )
    with pytest.raises(ProofError, match="expected 'assertionMethod'"):
        verify_proof(document, ED_KEY.public_key())
    verify_proof(document, ED_KEY.public_key(), expected_purpose="authentication")


def test_key_of_the_wrong_type_for_the_suite_is_refused() -> None:
    with pytest.raises(ProofError, match="cannot verify cryptosuite eddsa-jcs-2022"):
        verify_proof(_secured("Ed25519"), P256_KEY.public_key())
    with pytest.raises(ProofError, match="cannot verify cryptosuite ecdsa-jcs-2019"):
        verify_proof(_secured("ES256"), ED_KEY.public_key())


def test_another_key_of_the_right_type_does_not_verify() -> None:
    with pytest.raises(ProofError, match="does not verify"):
        verify_proof(_secured(), generate_key().public_key())


def test_resolver_is_asked_for_the_verification_method() -> None:
    asked: list[str] = []

    def resolve(method: str) -> PublicKey:
        asked.append(method)
        return ED_KEY.public_key()

    result = verify_proof(_secured(), resolve=resolve)
    assert asked == [VM]
    assert result.verification_method == VM


def test_without_key_or_resolver_verification_is_refused() -> None:
    with pytest.raises(ProofError, match="no key"):
        verify_proof(_secured())


def test_did_key_resolution() -> None:
    multikey = encode_multikey(ED_KEY.public_key())
    secured = add_proof(_credential(), ED_KEY, verification_method=f"did:key:{multikey}#{multikey}")
    verify_proof(secured, resolve=resolve_did_key)
    with pytest.raises(ProofError, match="not a did:key"):
        resolve_did_key("did:web:example.com#key-1")
    with pytest.raises(ProofError, match="fragment"):
        resolve_did_key(f"did:key:{multikey}#other")
    with pytest.raises(ProofError, match="usable key"):
        resolve_did_key("did:key:zQ3sabc")


def test_proof_errors_are_verification_errors() -> None:
    assert issubclass(ProofError, VerificationError)


# --- properties (G2): verify(add_proof(x)) holds; any mutation fails --------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_extra_keys = st.text(min_size=1, max_size=10).filter(lambda k: k not in {"proof", "@context"})
credentials = st.fixed_dictionaries(
    {
        "@context": st.just(["https://www.w3.org/ns/credentials/v2"]),
        "type": st.just(["VerifiableCredential"]),
        "issuer": st.text(min_size=1, max_size=30),
        "credentialSubject": st.dictionaries(st.text(max_size=8), _json_values, max_size=5),
    }
).flatmap(
    lambda base: st.dictionaries(_extra_keys, _json_values, max_size=4).map(
        lambda extra: {**extra, **base}
    )
)
_PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(document=credentials, alg=st.sampled_from(["Ed25519", "ES256"]))
def test_property_a_proof_we_add_verifies(document: dict[str, Any], alg: Algorithm) -> None:
    secured = add_proof(document, KEYS[alg], verification_method=VM)
    result = verify_proof(secured, KEYS[alg].public_key())
    assert canonicalize(result.document_without_proof) == canonicalize(document)


def _mutations(document: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = sorted(k for k in document if k != "proof")

    def change(key: str) -> dict[str, Any]:
        return {**document, key: [document[key]]}  # wrapping always changes the JCS bytes

    def remove(key: str) -> dict[str, Any]:
        return {k: v for k, v in document.items() if k != key}

    def add(pair: tuple[str, Any]) -> dict[str, Any]:
        return {**document, pair[0]: pair[1]}

    def flip(position: int) -> dict[str, Any]:
        value = document["proof"]["proofValue"]
        index = 1 + position % (len(value) - 1)
        replacement = "2" if value[index] != "2" else "3"
        proof = {
            **document["proof"],
            "proofValue": value[:index] + replacement + value[index + 1 :],
        }
        return {**document, "proof": proof}

    def change_subject(pair: tuple[str, Any]) -> dict[str, Any]:
        subject = dict(document["credentialSubject"])
        name, value = pair
        subject[name] = [subject[name]] if name in subject else value
        return {**document, "credentialSubject": subject}

    new_keys = _extra_keys.filter(lambda k: k not in document)
    return st.one_of(
        st.sampled_from(keys).map(change),
        st.sampled_from(keys).map(remove),
        st.tuples(new_keys, _json_values).map(add),
        st.integers(min_value=0).map(flip),
        st.tuples(st.text(max_size=8), _json_values).map(change_subject),
    )


@_PROPERTY
@given(data=st.data(), document=credentials, alg=st.sampled_from(["Ed25519", "ES256"]))
def test_property_any_mutation_fails(
    data: st.DataObject, document: dict[str, Any], alg: Algorithm
) -> None:
    secured = add_proof(document, KEYS[alg], verification_method=VM)
    mutated = data.draw(_mutations(secured))
    assert canonicalize(mutated) != canonicalize(secured)
    with pytest.raises(ProofError):
        verify_proof(mutated, KEYS[alg].public_key())
