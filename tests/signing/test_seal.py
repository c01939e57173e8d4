"""Batch seals: round trips, tampering located at the right record, wrong keys."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from signing import seal as seal_module
from signing.algorithms import PrivateKey
from signing.canonical import canonicalize, sorted_is_canonical
from signing.errors import SealError, SigningError
from signing.keys import generate_key, load_public_pem
from signing.merkle import inclusion_proof, leaf_hash, root_of, verify_inclusion
from signing.seal import (
    SEAL_DOMAIN,
    BatchSeal,
    SealedBatch,
    check_batch,
    record_leaf,
    record_leaves,
    seal_batch,
    verify_batch,
    verify_record,
    verify_seal,
)

RESOURCE = "gongan.resident_id_card"
ISSUER = "11100000000013127D"
WHEN = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)


def _records(n: int, resource: str = RESOURCE) -> list[dict[str, Any]]:
    return [
        {
            "resource": resource,
            "key": f"11010519491231{i:04d}",
            "version": 1 + i % 3,
            "data": {"name": f"张{i}", "gender": "女" if i % 2 else "男", "seq": i},
        }
        for i in range(n)
    ]


def _key(alg: str) -> PrivateKey:
    if alg == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _seal(records: list[dict[str, Any]], key: PrivateKey) -> SealedBatch:
    return seal_batch(records, resource=RESOURCE, issuer=ISSUER, key=key, kid="k1", sealed_at=WHEN)


ED_KEY = ed25519.Ed25519PrivateKey.generate()
RECORDS_16 = _records(16)
SEALED_16 = _seal(RECORDS_16, ED_KEY)
PROOFS_16 = SEALED_16.record_proofs()


def test_public_api_is_listed() -> None:
    assert set(seal_module.__all__) == {
        "SEAL_DOMAIN",
        "BatchCheck",
        "BatchSeal",
        "RecordProof",
        "SealedBatch",
        "check_batch",
        "record_leaf",
        "record_leaves",
        "seal_batch",
        "tree_hash_of",
        "verify_batch",
        "verify_record",
        "verify_seal",
    }


# --- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
@pytest.mark.parametrize("n", [1, 1000])
def test_sealed_batch_round_trips(alg: str, n: int) -> None:
    key = _key(alg)
    records = _records(n)
    sealed = _seal(records, key)
    public = key.public_key()
    assert sealed.seal.alg == alg
    assert sealed.seal.size == n
    assert verify_seal(sealed.seal, public) == sealed.seal
    assert verify_batch(records, sealed.seal, public) == sealed.leaves
    for i in (0, n // 2, n - 1):
        verify_record(records[i], sealed.record_proof(i), sealed.seal, public)
    check = check_batch(records, sealed.seal, public)
    assert check.failed == []
    assert check.passed == list(range(n))


def test_seal_survives_json_transport() -> None:
    wire = SEALED_16.seal.model_dump_json()
    received = BatchSeal.model_validate_json(wire)
    verify_batch(RECORDS_16, received, ED_KEY.public_key())
    verify_seal(received.model_dump(), ED_KEY.public_key())


def test_signature_covers_domain_and_canonical_fields() -> None:
    fields = SEALED_16.seal.model_dump(exclude={"signature"})
    signature = base64.urlsafe_b64decode(SEALED_16.seal.signature + "==")
    ED_KEY.public_key().verify(signature, SEAL_DOMAIN + canonicalize(fields))


def test_seal_fields_are_what_was_sealed() -> None:
    seal = SEALED_16.seal
    assert seal.v == 1
    assert seal.resource == RESOURCE
    assert seal.issuer == ISSUER
    assert seal.kid == "k1"
    assert seal.sealed_at == "2025-03-01T08:30:00Z"
    assert seal.root == root_of([record_leaf(r) for r in RECORDS_16]).hex()
    assert seal.batch_id.startswith("bat_")
    assert "=" not in seal.signature


def test_record_leaf_is_leaf_hash_of_canonical_json() -> None:
    assert record_leaf(RECORDS_16[3]) == leaf_hash(canonicalize(RECORDS_16[3]))


def test_sealed_at_is_converted_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    sealed = seal_batch(
        _records(1),
        resource=RESOURCE,
        issuer=ISSUER,
        key=ED_KEY,
        kid="k1",
        batch_id="bat_fixed",
        sealed_at=datetime(2025, 3, 1, 16, 30, 0, 250000, tzinfo=beijing),
    )
    assert sealed.seal.sealed_at == "2025-03-01T08:30:00.250000Z"
    assert sealed.seal.batch_id == "bat_fixed"


def test_proofs_are_inclusion_paths_of_the_sealed_root() -> None:
    root = bytes.fromhex(SEALED_16.seal.root)
    for i, leaf in enumerate(SEALED_16.leaves):
        verify_inclusion(leaf, i, 16, SEALED_16.proof(i), root)
        assert PROOFS_16[i] == {"index": i, "path": [h.hex() for h in SEALED_16.proof(i)]}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 9, 13, 31, 33])
def test_record_paths_equal_rfc6962_inclusion_proofs_for_uneven_sizes(n: int) -> None:
    sealed = _seal(_records(n), ED_KEY)
    root = bytes.fromhex(sealed.seal.root)
    for i in range(n):
        assert sealed.proof(i) == inclusion_proof(sealed.leaves, i, n)
        verify_inclusion(sealed.leaves[i], i, n, sealed.proof(i), root)


# --- refusals when sealing -------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ([], "empty"),
        (_records(2, resource="other.resource"), "record 0 is for resource"),
        ([*_records(2), {"resource": RESOURCE, "key": "k", "version": 1}], "record 2 has fields"),
        ([{**_records(1)[0], "version": -1}], "version"),
        ([{**_records(1)[0], "version": True}], "version"),
        ([{**_records(1)[0], "key": ""}], "no key"),
        ([{**_records(1)[0], "data": []}], "data"),
    ],
)
def test_malformed_batches_are_not_sealed(records: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(SealError, match=match):
        _seal(records, ED_KEY)


def test_naive_sealed_at_is_refused() -> None:
    with pytest.raises(SealError, match="time zone"):
        seal_batch(
            _records(1),
            resource=RESOURCE,
            issuer=ISSUER,
            key=ED_KEY,
            kid="k1",
            sealed_at=datetime(2025, 1, 1),
        )


def test_proof_of_a_record_outside_the_batch_is_refused() -> None:
    with pytest.raises(SealError, match="no record 16"):
        SEALED_16.proof(16)


# --- tampering is found at the right record -------------------------------------


def _tamper(records: list[dict[str, Any]], index: int, how: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(records)
    record = out[index]
    if how == "data-field":
        record["data"]["name"] = "李四"
    elif how == "added-field":
        record["data"]["extra"] = "x"
    elif how == "removed-field":
        del record["data"]["gender"]
    elif how == "version":
        record["version"] += 1
    elif how == "key":
        record["key"] = "110105194912310000X"
    elif how == "resource":
        record["resource"] = "minzheng.marriage_registration"
    return out


HOWS = ["data-field", "added-field", "removed-field", "version", "key", "resource"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("index", [0, 7, 15])
def test_altered_record_fails_at_its_index(how: str, index: int) -> None:
    public = ED_KEY.public_key()
    tampered = _tamper(RECORDS_16, index, how)

    with pytest.raises(SealError, match=rf"^record {index}\b"):
        verify_batch(tampered, SEALED_16.seal, public, proofs=PROOFS_16)
    with pytest.raises(SealError):
        verify_batch(tampered, SEALED_16.seal, public)
    with pytest.raises(SealError):
        verify_record(tampered[index], PROOFS_16[index], SEALED_16.seal, public)

    check = check_batch(tampered, SEALED_16.seal, public, proofs=PROOFS_16)
    assert check.failed == [index]
    assert check.passed == [i for i in range(16) if i != index]


def test_without_proofs_an_altered_batch_fails_as_a_whole() -> None:
    tampered = _tamper(RECORDS_16, 4, "data-field")
    check = check_batch(tampered, SEALED_16.seal, ED_KEY.public_key())
    assert check.failed == list(range(16))
    assert "no per-record proof" in check.failures[4]


def test_reordered_records_fail() -> None:
    public = ED_KEY.public_key()
    swapped = [RECORDS_16[1], RECORDS_16[0], *RECORDS_16[2:]]
    with pytest.raises(SealError, match="altered or reordered"):
        verify_batch(swapped, SEALED_16.seal, public)
    with pytest.raises(SealError, match=r"^record 0\b"):
        verify_batch(swapped, SEALED_16.seal, public, proofs=PROOFS_16)
    # records moved together with their proofs still sit at the wrong position
    moved = [PROOFS_16[1], PROOFS_16[0], *PROOFS_16[2:]]
    check = check_batch(swapped, SEALED_16.seal, public, proofs=moved)
    assert check.failed == [0, 1]
    assert "position 0" in check.failures[0]


def test_dropped_and_extra_records_are_counted() -> None:
    public = ED_KEY.public_key()
    with pytest.raises(SealError, match="covers 16 records, the batch has 15"):
        verify_batch(RECORDS_16[:15], SEALED_16.seal, public)
    check = check_batch(RECORDS_16[:15], SEALED_16.seal, public, proofs=PROOFS_16[:15])
    assert check.failed == []
    assert check.missing == 1
    extra = [*RECORDS_16, RECORDS_16[0]]
    check = check_batch(extra, SEALED_16.seal, public, proofs=[*PROOFS_16, PROOFS_16[0]])
    assert check.failed == [16]


def test_malformed_proof_fails_only_its_record() -> None:
    tampered = _tamper(RECORDS_16, 2, "version")
    proofs = copy.deepcopy(PROOFS_16)
    proofs[5] = {"index": 5, "path": ["zz"]}
    check = check_batch(tampered, SEALED_16.seal, ED_KEY.public_key(), proofs=proofs)
    assert check.failed == [2, 5]
    assert "not hex" in check.failures[5]


@settings(max_examples=60)
@given(
    index=st.integers(min_value=0, max_value=15),
    element=st.integers(min_value=0, max_value=3),
    bit=st.integers(min_value=0, max_value=255),
)
def test_any_bit_flip_in_a_record_proof_fails(index: int, element: int, bit: int) -> None:
    path = [bytearray.fromhex(h) for h in PROOFS_16[index]["path"]]
    path[element][bit // 8] ^= 1 << (bit % 8)
    proof = {"index": index, "path": [bytes(h).hex() for h in path]}
    with pytest.raises(SealError):
        verify_record(RECORDS_16[index], proof, SEALED_16.seal, ED_KEY.public_key())


# --- the seal itself ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_seal_from_another_key_fails(alg: str) -> None:
    sealed = _seal(RECORDS_16, _key(alg))
    other = _key(alg).public_key()
    with pytest.raises(SealError, match="does not verify"):
        verify_seal(sealed.seal, other)
    with pytest.raises(SealError):
        verify_batch(RECORDS_16, sealed.seal, other)
    with pytest.raises(SealError):
        check_batch(RECORDS_16, sealed.seal, other)
    with pytest.raises(SealError):
        verify_record(RECORDS_16[0], PROOFS_16[0], sealed.seal, other)


def test_key_of_the_wrong_algorithm_fails() -> None:
    with pytest.raises(SealError, match="signed with Ed25519 but the key is ES256"):
        verify_seal(SEALED_16.seal, _key("ES256").public_key())


@settings(max_examples=60)
@given(bit=st.integers(min_value=0, max_value=8 * 64 - 1))
def test_any_bit_flip_in_the_signature_fails(bit: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(SEALED_16.seal.signature + "=="))
    raw[bit // 8] ^= 1 << (bit % 8)
    forged = SEALED_16.seal.model_copy(
        update={"signature": base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()}
    )
    with pytest.raises(SealError):
        verify_seal(forged, ED_KEY.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"resource": "minzheng.marriage_registration"},
        {"issuer": "91110000MA00000000"},
        {"size": 17},
        {"root": "00" * 32},
        {"sealed_at": "2025-03-01T08:30:01Z"},
        {"batch_id": "bat_other"},
        {"kid": "k2"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_changing_any_seal_field_breaks_the_signature(change: dict[str, Any]) -> None:
    forged = SEALED_16.seal.model_copy(update=change)
    with pytest.raises(SealError, match="does not verify"):
        verify_seal(forged, ED_KEY.public_key())


@pytest.mark.parametrize(
    "mutation",
    [
        {"extra": "field"},
        {"v": 2},
        {"alg": "RS256"},
        {"root": "AB" * 32},
        {"sealed_at": "2025-03-01 08:30:00"},
        {"signature": "abc="},
    ],
    ids=lambda m: next(iter(m)),
)
def test_malformed_seal_is_refused(mutation: dict[str, Any]) -> None:
    wire = {**SEALED_16.seal.model_dump(), **mutation}
    with pytest.raises(SealError, match="malformed batch seal"):
        verify_seal(wire, ED_KEY.public_key())


def test_padded_or_noncanonical_signature_is_refused() -> None:
    sig = SEALED_16.seal.signature
    last = sig[-1]
    # flip unused low bits of the final base64 character (Ed25519: 64 bytes → 2 spare bits)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    noncanonical = sig[:-1] + alphabet[alphabet.index(last) ^ 1]
    forged = SEALED_16.seal.model_copy(update={"signature": noncanonical})
    with pytest.raises(SealError, match="canonical"):
        verify_seal(forged, ED_KEY.public_key())


def test_record_leaves_in_one_loop_equal_record_leaf() -> None:
    text = orjson.dumps(RECORDS_16)
    parsed = orjson.loads(text)
    assert sorted_is_canonical(text, [r["data"] for r in parsed])
    assert record_leaves(parsed, sorted_is_jcs=True) == [record_leaf(r) for r in RECORDS_16]


def test_record_leaves_fall_back_to_record_leaf_for_what_orjson_cannot_write() -> None:
    unsafe = {**RECORDS_16[0], "version": 2**60}
    with pytest.raises(SigningError):
        record_leaves([RECORDS_16[1], unsafe], sorted_is_jcs=True)
    floats = [{**RECORDS_16[0], "data": {"x": 1.0}}]
    assert record_leaves(floats, sorted_is_jcs=False) == [record_leaf(floats[0])]


# --- the tree's hash follows the key's suite: SM3 on SM2 keys ------------------------------

BEFORE_SM3: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "gm" / "seals_before_sm3.json").read_text(
        "utf-8"
    )
)


def _sm3_rfc6962_root(leaves: list[bytes]) -> bytes:
    """The RFC 6962 root with SM3, through OpenSSL's ``hashlib`` SM3 (not Tongsuo's)."""

    def h(data: bytes) -> bytes:
        return hashlib.new("sm3", data).digest()

    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return h(b"\x01" + _sm3_rfc6962_root(leaves[:split]) + _sm3_rfc6962_root(leaves[split:]))


def test_an_sm2_seal_hashes_its_tree_with_sm3_and_signs_that_it_does() -> None:
    key = generate_key("SM2")
    records = _records(7)
    sealed = _seal(records, key)
    assert sealed.seal.hash == "sm3"
    assert json.loads(sealed.seal.model_dump_json())["hash"] == "sm3"
    leaves = [hashlib.new("sm3", b"\x00" + canonicalize(r)).digest() for r in records]
    assert sealed.leaves == leaves
    assert sealed.seal.root == _sm3_rfc6962_root(leaves).hex()
    public = key.public_key()
    assert verify_batch(records, sealed.seal.model_dump(), public) == leaves
    for i, record in enumerate(records):
        verify_record(record, sealed.record_proof(i), sealed.seal, public)
    # the hash is signed: dropping it (read as SHA-256) or naming another is refused
    without = sealed.seal.model_dump()
    del without["hash"]
    with pytest.raises(SealError, match="does not verify"):
        verify_seal(without, public)
    with pytest.raises(SealError):
        verify_seal({**sealed.seal.model_dump(), "hash": "sha-256"}, public)
    # one altered record is found by its own SM3 path
    altered = copy.deepcopy(records)
    altered[3]["data"]["n"] = -1
    check = check_batch(altered, sealed.seal, public, proofs=sealed.record_proofs())
    assert check.failed == [3]
    with pytest.raises(SealError, match="record 3"):
        verify_batch(altered, sealed.seal, public, proofs=sealed.record_proofs())
    # an SHA-256 path does not prove a record of an SM3 tree
    sha_path = [
        h.hex() for h in inclusion_proof([leaf_hash(canonicalize(r)) for r in records], 2, 7)
    ]
    with pytest.raises(SealError):
        verify_record(records[2], {"index": 2, "path": sha_path}, sealed.seal, public)


def test_an_ed25519_seal_is_byte_identical_to_the_seals_made_before_sm3_trees() -> None:
    vector = BEFORE_SM3["seals"]["Ed25519"]
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    sealed = seal_batch(
        BEFORE_SM3["records"],
        resource=BEFORE_SM3["resource"],
        issuer=BEFORE_SM3["issuer"],
        key=key,
        kid=BEFORE_SM3["kid"],
        batch_id=BEFORE_SM3["batch_id"],
        sealed_at=datetime(2025, 5, 1, 8, 0, tzinfo=UTC),
    )
    assert sealed.seal.model_dump_json() == vector["seal_json"]
    assert sealed.record_proofs() == vector["proofs"]
    assert "hash" not in sealed.seal.model_dump()


@pytest.mark.parametrize("alg", ["Ed25519", "SM2"])
def test_seals_made_before_sm3_trees_still_verify(alg: str) -> None:
    vector = BEFORE_SM3["seals"][alg]
    public = load_public_pem(vector["public_key_pem"])
    seal = json.loads(vector["seal_json"])
    assert "hash" not in seal
    records = BEFORE_SM3["records"]
    verify_batch(records, seal, public)
    for i, record in enumerate(records):
        verify_record(record, vector["proofs"][i], seal, public)
    altered = copy.deepcopy(records)
    altered[1]["version"] = 2
    assert check_batch(altered, seal, public, proofs=vector["proofs"]).failed == [1]


def test_the_tree_hash_may_be_named_and_is_then_recorded() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    records = _records(3)
    sealed = seal_batch(
        records, resource=RESOURCE, issuer=ISSUER, key=key, kid="k1", tree_hash="sm3"
    )
    assert sealed.seal.hash == "sm3"
    verify_batch(records, sealed.seal, key.public_key())
