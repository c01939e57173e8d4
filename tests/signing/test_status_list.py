"""Bitstring Status List v1.0: bit order, encoding, minimum size, corrupt input."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signing import status_list
from signing.keys import generate_key
from signing.multibase import decode_multibase, encode_base64url
from signing.proofs import add_proof, verify_proof
from signing.status_list import (
    MIN_LENGTH,
    StatusList,
    StatusListError,
    status_entry,
    status_list_credential,
    status_list_from_credential,
)

LIST_URL = "https://exchange.example.gov.cn/status/revocation/1"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_public_api_is_listed() -> None:
    for name in status_list.__all__:
        assert hasattr(status_list, name), name


def test_new_list_is_all_clear_with_the_spec_minimum_length() -> None:
    lst = StatusList()
    assert lst.length == MIN_LENGTH == 131_072
    assert len(lst.to_bytes()) == 16 * 1024
    assert not any(lst.to_bytes())


def test_lists_shorter_than_the_herd_privacy_minimum_are_refused() -> None:
    with pytest.raises(StatusListError, match="at least 131072"):
        StatusList(MIN_LENGTH - 8)
    with pytest.raises(StatusListError, match="multiple of 8"):
        StatusList(MIN_LENGTH + 1)


def test_set_get_and_clear() -> None:
    lst = StatusList()
    lst.set(42, True)
    assert lst.get(42)
    assert not lst.get(41)
    assert not lst.get(43)
    lst.set(42, False)
    assert not lst.get(42)


def test_index_zero_is_the_most_significant_bit_of_byte_zero() -> None:
    lst = StatusList()
    lst.set(0, True)
    lst.set(9, True)
    lst.set(MIN_LENGTH - 1, True)
    raw = lst.to_bytes()
    assert raw[0] == 0b1000_0000
    assert raw[1] == 0b0100_0000
    assert raw[-1] == 0b0000_0001


def test_encoded_list_is_gzip_then_unpadded_base64url_multibase() -> None:
    lst = StatusList()
    lst.set(7, True)
    encoded = lst.encode()
    assert encoded.startswith("u")
    assert "=" not in encoded
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert raw[0] == 0b0000_0001
    assert len(raw) == MIN_LENGTH // 8


def test_decode_reads_a_list_made_elsewhere() -> None:
    raw = bytearray(MIN_LENGTH // 8)
    raw[2] = 0b0010_0000  # index 18
    lst = StatusList.decode(encode_base64url(gzip.compress(bytes(raw))))
    assert [i for i in range(64) if lst.get(i)] == [18]


def test_encoding_is_deterministic() -> None:
    assert StatusList().encode() == StatusList().encode()


@settings(max_examples=40, deadline=None)
@given(
    length_bytes=st.integers(MIN_LENGTH // 8, MIN_LENGTH // 8 + 64),
    indexes=st.sets(st.integers(0, MIN_LENGTH - 1), max_size=50),
)
def test_round_trip_keeps_every_bit(length_bytes: int, indexes: set[int]) -> None:
    lst = StatusList(length_bytes * 8)
    for index in indexes:
        lst.set(index, True)
    back = StatusList.decode(lst.encode())
    assert back == lst
    assert back.length == length_bytes * 8
    assert {i for i in range(MIN_LENGTH) if back.get(i)} == indexes


@pytest.mark.parametrize("index", [-1, MIN_LENGTH])
def test_index_outside_the_list_is_refused(index: int) -> None:
    lst = StatusList()
    with pytest.raises(StatusListError, match="outside"):
        lst.get(index)
    with pytest.raises(StatusListError, match="outside"):
        lst.set(index, True)


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ("zABC", "base64url"),
        ("u!!!!", "base64url"),
        (encode_base64url(b"not gzip at all"), "not GZIP"),
        (encode_base64url(gzip.compress(bytes(16 * 1024))[:-9]), "truncated|corrupt"),
        (encode_base64url(gzip.compress(bytes(16 * 1024)) + b"junk"), "trailing"),
        (encode_base64url(b"\x1f\x8b" + b"\x00" * 20), "corrupt"),
        (encode_base64url(gzip.compress(bytes(1024))), "minimum is 131072"),
    ],
)
def test_corrupt_encoded_list_is_refused(encoded: str, reason: str) -> None:
    with pytest.raises(StatusListError, match=reason):
        StatusList.decode(encoded)


def test_gzip_bomb_is_refused() -> None:
    bomb = encode_base64url(gzip.compress(bytes(65 * 1024 * 1024)))
    with pytest.raises(StatusListError, match="64 MiB"):
        StatusList.decode(bomb)


def test_random_index_avoids_used_ones() -> None:
    lst = StatusList()
    used: set[int] = set()
    for _ in range(200):
        index = lst.allocate_random_index(used)
        assert 0 <= index < lst.length
        assert index not in used
        used.add(index)


def test_random_index_finds_the_last_free_slot() -> None:
    lst = StatusList()
    used = set(range(lst.length)) - {98_765}
    assert lst.allocate_random_index(used) == 98_765
    with pytest.raises(StatusListError, match="full"):
        lst.allocate_random_index(used | {98_765})


def test_status_list_credential_follows_the_spec_shape() -> None:
    lst = StatusList()
    lst.set(3, True)
    credential = status_list_credential(
        LIST_URL, "did:web:exchange.example.gov.cn", "revocation", lst, T0, T0 + timedelta(days=1)
    )
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert credential["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert credential["validFrom"] == "2025-01-01T00:00:00Z"
    assert credential["validUntil"] == "2025-01-02T00:00:00Z"
    subject = credential["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    assert subject["ttl"] == 300_000
    assert StatusList.decode(subject["encodedList"]).get(3)


def test_status_list_credential_can_be_secured_and_read_back() -> None:
    key = generate_key()
    lst = StatusList()
    lst.set(77, True)
    credential = status_list_credential(
        LIST_URL,
        "did:web:exchange.example.gov.cn",
        "suspension",
        lst,
        T0,
        T0 + timedelta(hours=1),
        ttl=timedelta(seconds=30),
    )
    assert credential["credentialSubject"]["ttl"] == 30_000
    secured = add_proof(credential, key, verification_method=LIST_URL + "#key")
    verified = verify_proof(secured, key.public_key()).document_without_proof
    assert status_list_from_credential(verified, "suspension").get(77)
    with pytest.raises(StatusListError, match="purpose"):
        status_list_from_credential(verified, "revocation")


def test_status_list_credential_refuses_bad_purpose_and_period() -> None:
    with pytest.raises(StatusListError, match="status purpose"):
        status_list_credential(LIST_URL, "i", "refresh", StatusList(), T0, T0 + timedelta(1))  # type: ignore[arg-type]
    with pytest.raises(StatusListError, match="after validFrom"):
        status_list_credential(LIST_URL, "i", "revocation", StatusList(), T0, T0)


def test_status_entry_points_at_the_list() -> None:
    assert status_entry(LIST_URL, 94567, "revocation") == {
        "id": f"{LIST_URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": LIST_URL,
    }
    with pytest.raises(StatusListError):
        status_entry(LIST_URL, -1, "revocation")


def test_reading_a_credential_that_is_not_a_status_list_is_refused() -> None:
    with pytest.raises(StatusListError, match="not a BitstringStatusListCredential"):
        status_list_from_credential({"type": ["VerifiableCredential"]}, "revocation")


def test_multibase_prefix_is_u() -> None:
    assert decode_multibase(StatusList().encode())[:2] == b"\x1f\x8b"
