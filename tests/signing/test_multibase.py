"""Base58 against the textbook digit-by-digit definition (the fast paths must agree)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signing.multibase import MultibaseError, b58decode, b58encode

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _textbook_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, rest = divmod(number, 58)
        digits = ALPHABET[rest] + digits
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + digits


@settings(max_examples=400)
@given(st.binary(max_size=80), st.integers(min_value=0, max_value=4))
def test_base58_matches_the_textbook_definition(data: bytes, zeros: int) -> None:
    data = bytes(zeros) + data
    text = b58encode(data)
    assert text == _textbook_encode(data)
    assert b58decode(text) == data


@pytest.mark.parametrize("data", [b"", b"\0", b"\0\0\x01", b"\x39", b"\x3a", b"\xff" * 64])
def test_base58_edges(data: bytes) -> None:
    assert b58encode(data) == _textbook_encode(data)
    assert b58decode(_textbook_encode(data)) == data


@pytest.mark.parametrize(
    ("text", "position"), [("0abc", 0), ("abcO", 3), ("abé", 2), ("ab\ud800", 2), ("1l", 1)]
)
def test_base58_names_the_first_foreign_character(text: str, position: int) -> None:
    with pytest.raises(MultibaseError, match=f"at position {position} is not base58btc"):
        b58decode(text)
