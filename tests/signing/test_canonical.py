"""RFC 8785 canonicalization: published vectors, refusals, and the orjson fast path."""

from __future__ import annotations

import enum
import hashlib
import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from signing import canonical
from signing.canonical import (
    MAX_SAFE_INTEGER,
    canonical_hash,
    canonicalize,
    canonicalize_parts,
    parse_strict,
)
from signing.errors import CanonicalizationError

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
RFC8785 = VECTORS / "rfc8785"
CASES = sorted(p.stem for p in (RFC8785 / "input").glob("*.json"))


def _expected(name: str) -> tuple[bytes, bytes]:
    output = (RFC8785 / "output" / f"{name}.json").read_bytes()
    outhex = bytes.fromhex((RFC8785 / "outhex" / f"{name}.txt").read_text())
    return output, outhex


def test_public_api_is_listed() -> None:
    assert set(canonical.__all__) == {
        "MAX_SAFE_INTEGER",
        "JsonShape",
        "canonical_hash",
        "canonicalize",
        "canonicalize_parts",
        "json_shape",
        "sorted_is_canonical",
        "parse_strict",
    }


def test_rfc8785_vectors_are_present() -> None:
    assert len(CASES) == 6


@pytest.mark.parametrize("name", CASES)
def test_rfc8785_vector_canonicalizes_byte_exact(name: str) -> None:
    output, outhex = _expected(name)
    got = canonicalize(parse_strict((RFC8785 / "input" / f"{name}.json").read_bytes()))
    assert got == output
    assert got == outhex


def test_rfc8785_vector_figure() -> None:
    mismatches = 0
    for name in CASES:
        output, outhex = _expected(name)
        got = canonicalize(parse_strict((RFC8785 / "input" / f"{name}.json").read_bytes()))
        mismatches += got != output or got != outhex
    print(
        f"C2 rfc8785 vectors: {len(CASES) - mismatches}/{len(CASES)} match, mismatches {mismatches}"
    )
    assert mismatches == 0


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '{"x": {"b": true, "b": false}}',
        '[{"k": "v", "k": "v"}]',
    ],
)
def test_duplicate_keys_are_refused(text: str) -> None:
    with pytest.raises(CanonicalizationError, match="duplicate key"):
        parse_strict(text)


@pytest.mark.parametrize("text", ['{"a": NaN}', "[Infinity]", "-Infinity"])
def test_nan_and_infinity_are_refused_when_parsing(text: str) -> None:
    with pytest.raises(CanonicalizationError):
        parse_strict(text)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_when_canonicalizing(value: float) -> None:
    with pytest.raises(CanonicalizationError, match=r"\$\.a\[0\]"):
        canonicalize({"a": [value]})


@pytest.mark.parametrize("number", [2**53, -(2**53), 2**64, 10**30])
def test_unsafe_integers_are_refused(number: int) -> None:
    with pytest.raises(CanonicalizationError, match="2\\^53"):
        parse_strict(f'{{"n": {number}}}')
    with pytest.raises(CanonicalizationError, match=r"\$\.data\.n"):
        canonicalize({"data": {"n": number}})


def test_largest_safe_integers_are_accepted() -> None:
    assert canonicalize([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == (
        b"[9007199254740991,-9007199254740991]"
    )


@pytest.mark.parametrize(
    "value",
    [{1: "a"}, {"a": object()}, {"a": b"bytes"}, {"a": {1, 2}}],
    ids=["int-key", "object", "bytes", "set"],
)
def test_non_json_values_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(value)


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize({"a": "\ud800"})


def test_malformed_json_is_refused() -> None:
    with pytest.raises(CanonicalizationError, match="malformed JSON"):
        parse_strict('{"a": ')


def test_escaping_of_control_characters_and_specials() -> None:
    text = "".join(chr(i) for i in range(0x20)) + '"\\/\x7f\u2028é😀'
    expected = (
        b'"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        b"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
        b'\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\/\x7f'
        + "\u2028é😀".encode()
        + b'"'
    )
    assert canonicalize(text) == expected


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB33 there,
    # although its code point is larger.
    value = {"\ufb33": 1, "\U0001f600": 2}
    assert canonicalize(value) == '{"\U0001f600":2,"\ufb33":1}'.encode()
    assert not canonical._fast_eligible(value)
    assert canonical._fast_path(value) is None


def test_canonical_hash_is_sha256_of_the_canonical_bytes() -> None:
    assert canonical_hash({"b": 1, "a": "x"}) == hashlib.sha256(b'{"a":"x","b":1}').digest()


# --- the fast path equals the reference implementation ------------------------

_safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_bmp_keys = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=8)

_fast_values = st.recursive(
    st.none() | st.booleans() | _safe_ints | _text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_bmp_keys, inner, max_size=5),
    max_leaves=30,
)

_any_keys = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_any_values = st.recursive(
    st.none()
    | st.booleans()
    | _safe_ints
    | _text
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_any_keys, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500)
@given(_fast_values)
def test_fast_path_is_taken_and_equals_rfc8785(value: Any) -> None:
    assert canonical._fast_eligible(value)
    assert canonical._fast_path(value) == rfc8785.dumps(value)
    assert canonicalize(value) == rfc8785.dumps(value)


@settings(max_examples=300)
@given(_any_values)
def test_canonicalize_equals_rfc8785_for_any_json_value(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)


class _Colour(enum.Enum):
    RED = "red"


class _Key(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"a": uuid.UUID(int=1)},
        {"a": [datetime(2026, 1, 1, tzinfo=UTC)]},
        {"a": {"b": _Colour.RED}},
        {"a": [{"b": 2**53}]},
        {"a": [{"b": math.nan}]},
        {"a": "\ud800"},
        {1: "a"},
    ],
    ids=["uuid", "datetime", "enum", "unsafe-int", "nan", "lone-surrogate", "int-key"],
)
def test_what_orjson_would_write_but_jcs_refuses_is_refused(value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(value)
    with pytest.raises(CanonicalizationError):
        canonicalize_parts({"whole": value}, value)


def test_an_unsafe_integer_deep_inside_is_refused_with_its_path() -> None:
    with pytest.raises(CanonicalizationError, match=r"\$\.a\[0\]\.b"):
        canonicalize({"a": [{"b": -(2**53)}]})


def test_floats_subclasses_and_non_bmp_keys_take_the_reference_path() -> None:
    for value in (
        {"a": [1.5, {"b": 1e21}]},
        {_Key("k"): _Key("v")},
        {"x": {"\U0001f600": 1, "\ufb33": 2}},
        {"v": "\U0001f600 in a value only"},
    ):
        assert canonicalize(value) == rfc8785.dumps(value)
        assert canonicalize_parts(value, value) == [rfc8785.dumps(value)]


@settings(max_examples=300)
@given(st.dictionaries(_any_keys, _any_values, min_size=1, max_size=6))
def test_parts_are_canonicalized_as_each_on_its_own(whole: dict[str, Any]) -> None:
    first = next(iter(whole))
    without = {k: v for k, v in whole.items() if k != first}
    members = [whole[first], without, [whole[first], without]]
    assert canonicalize_parts(whole, *members) == [rfc8785.dumps(m) for m in members]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list | tuple):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _members(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(map(_members, value.values()))
    if isinstance(value, list | tuple):
        return len(value) + sum(map(_members, value))
    return 0


@settings(max_examples=300)
@given(_any_values)
def test_json_shape_finds_types_depth_and_members_in_one_walk(value: Any) -> None:
    shape = canonical.json_shape(value, 64, 10_000)
    assert shape == (canonical._jcs_types(value), _depth(value), _members(value))


def test_json_shape_stops_beyond_its_caps_and_walks_subclasses() -> None:
    deep: Any = "leaf"
    for _ in range(40):
        deep = [deep]
    assert canonical.json_shape(deep, 32, 10_000) == (False, 33, 32)
    wide = [[0] * 600] * 3
    assert canonical.json_shape(wide, 32, 1_000).members > 1_000
    sub = {"a": _Dict(b=[1.5])}
    assert canonical.json_shape(sub, 32, 100) == (False, 3, 3)
    assert canonical.json_shape((1, "x"), 32, 100) == (True, 1, 2)
    assert canonical.json_shape(1.5, 32, 100) == (False, 0, 0)


class _Dict(dict[str, Any]):
    pass


@given(st.dictionaries(st.sampled_from(["name", "id", "addr"]), _text, min_size=1))
def test_canonical_form_round_trips_through_the_strict_parser(value: dict[str, str]) -> None:
    assert parse_strict(canonicalize(value)) == value


# --- the strict parser's fast path agrees with the reference parser ----------


@settings(max_examples=300)
@given(_any_values, st.sampled_from([None, 2, (",", ":")]))
def test_strict_parser_equals_the_reference_parser(value: Any, layout: Any) -> None:
    indent, separators = (layout, None) if isinstance(layout, int) else (None, layout)
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    assert parse_strict(text) == canonical._parse_reference(text)
    assert parse_strict(text.encode()) == canonical._parse_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a:": 1, "a\\u003a": 2}',  # the same key, once with an escaped colon
        '{"x": "a:b:c", "x": "d"}',  # colons inside strings
        '{"n": {"k": 1}, "n": {}}',  # the dropped value holds a key of its own
        '[{"k": "v"}, {"k": "v", "k": "w"}]',
    ],
)
def test_duplicate_keys_are_refused_whatever_the_colons(text: str) -> None:
    with pytest.raises(CanonicalizationError, match="duplicate key"):
        parse_strict(text)


@pytest.mark.parametrize("number", [-(2**63) - 1, 2**64 - 1, 2**64, -(10**19)])
def test_integers_beyond_64_bits_are_refused_not_read_as_floats(number: int) -> None:
    with pytest.raises(CanonicalizationError, match=r"2\^53"):
        parse_strict(f"[{number}]")


# --- the whole-text check behind a batch's leaves in one loop ----------------


@pytest.mark.parametrize("name", CASES)
def test_sorted_is_canonical_holds_only_where_orjson_sorted_is_byte_exact(name: str) -> None:
    text = (RFC8785 / "input" / f"{name}.json").read_bytes()
    output, _ = _expected(name)
    value = parse_strict(text)
    if isinstance(value, dict) and canonical.sorted_is_canonical(text, [value]):
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == output


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        (b'{"a":1,"b":"1.5 e9","c":true,"d":null}', True),
        (b'{"a":1.5}', False),
        (b'{"a":1e5}', False),
        (b'{"a":[1]}', False),
        (b'{"a":{"b":1}}', False),
        (b'{"a":"\\ud800\\udc00"}', False),
        ('{"\U00020000":1}'.encode(), False),
        ('{"a":"\U00020000"}'.encode(), False),
    ],
)
def test_sorted_is_canonical_refuses_floats_nesting_and_characters_beyond_the_bmp(
    text: bytes, plain: bool
) -> None:
    assert canonical.sorted_is_canonical(text, [parse_strict(text)]) is plain


@settings(max_examples=400)
@given(st.dictionaries(_any_keys, _any_values, max_size=6), st.sampled_from([None, 2]))
def test_sorted_is_canonical_implies_orjson_sorted_equals_rfc8785(value: Any, indent: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=indent).encode()
    parsed = parse_strict(text)
    if canonical.sorted_is_canonical(text, [parsed]):
        assert orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS) == rfc8785.dumps(parsed)


@settings(max_examples=200)
@given(st.dictionaries(_bmp_keys, st.none() | st.booleans() | _safe_ints | _text, max_size=6))
def test_sorted_is_canonical_holds_for_flat_objects_of_the_bmp(value: dict[str, Any]) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    if text.isascii() or max(text.decode()) < "\U00010000":
        assert canonical.sorted_is_canonical(text, [parse_strict(text)])


@pytest.mark.timeout(30)
def test_a_value_that_contains_itself_is_refused_not_walked_for_ever() -> None:
    cyclic: list[object] = [1, "x"]
    cyclic.append(cyclic)
    with pytest.raises((RecursionError, ValueError, TypeError)):
        canonicalize(cyclic)
