"""Canonical JSON (RFC 8785, JCS) and a strict JSON parser.

``parse_strict`` refuses what JCS cannot sign faithfully: duplicate object keys,
NaN/Infinity, and integers outside the IEEE-754 exact range (|n| ≥ 2^53).
``canonicalize`` applies the same checks to Python values and returns the JCS bytes.

Speed: ingest canonicalizes every record, so ``canonicalize`` has a fast path.
For values made only of ``str``, safe ``int``, ``bool``, ``None``, ``dict`` and
``list``/``tuple`` whose object keys contain no character above U+FFFF,
``orjson.dumps(value, option=OPT_SORT_KEYS)`` produces exactly the JCS bytes:

* orjson escapes only ``"``, ``\\`` and U+0000–U+001F, with ``\\b \\t \\n \\f \\r``
  and lowercase ``\\u00xx`` otherwise — the ECMAScript ``JSON.stringify`` rules
  that RFC 8785 §3.2.2.2 adopts — and writes everything else as raw UTF-8;
* orjson sorts keys by UTF-8 bytes, i.e. by code point, which agrees with the
  UTF-16 code-unit order of RFC 8785 §3.2.3 unless a key holds a character
  outside the Basic Multilingual Plane;
* integers print identically; floats do not (ES6 number formatting differs from
  orjson's), so any float sends the value to the ``rfc8785`` reference path.

Everything else (floats, non-BMP keys, subclasses, bad values) takes the
reference path, which also produces the precise error messages.

The fast path walks the value once for its types only (a set test per container);
orjson itself refuses unsafe integers (``OPT_STRICT_INTEGER``), subclasses
(``OPT_PASSTHROUGH_SUBCLASS``), non-string keys and lone surrogates, and only bytes
that hold a character beyond the BMP have their keys looked at one by one.
:func:`canonicalize_parts` canonicalizes several parts of one value (a document
without its proof, the proof's options) after a single walk of the whole.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson
import rfc8785

from .errors import CanonicalizationError

__all__ = [
    "MAX_SAFE_INTEGER",
    "JsonShape",
    "canonical_hash",
    "canonicalize",
    "canonicalize_parts",
    "json_shape",
    "parse_strict",
    "sorted_is_canonical",
]

MAX_SAFE_INTEGER = 2**53 - 1
_MIN_SAFE_INTEGER = -MAX_SAFE_INTEGER
_FIRST_NON_BMP = "\U00010000"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CanonicalizationError(f"duplicate key {key!r} in JSON object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise CanonicalizationError(f"{name} is not allowed in JSON that is signed")


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19
_ESCAPED_COLON = b"\\u003"


def parse_strict(data: bytes | str) -> Any:
    """Parse JSON, refusing duplicate keys, NaN/Infinity and unsafe integers.

    Fast path (a whole ingest message at C speed): ``orjson`` parses, and writing the
    value back with ``OPT_STRICT_INTEGER`` refuses unsafe integers. A duplicate key is
    seen by counting colons: outside strings a colon follows each key, inside strings
    orjson writes it as is, so the value written back has fewer colons than the text
    exactly when a duplicate key (with its value) was dropped. The reference parser
    decides — and words the error — whenever this path cannot be sure: an orjson
    error, a colon escaped as ``\\u003a``, or a run of 19 digits (orjson reads an
    integer beyond 64 bits as a float).
    """
    raw = data
    if isinstance(raw, str):
        try:
            raw = raw.encode()
        except UnicodeEncodeError:
            return _parse_reference(data)
    if _ESCAPED_COLON not in raw and _LONG_NUMBER not in raw.translate(_DIGITS_AS_ZERO):
        try:
            value = orjson.loads(raw)
            written = orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass
        else:
            if written.count(b":") == raw.count(b":"):
                return value
    return _parse_reference(data)


def _parse_reference(data: bytes | str) -> Any:
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except CanonicalizationError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise CanonicalizationError(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:  # nesting deeper than the interpreter can parse
        raise CanonicalizationError("malformed JSON: nested too deeply") from exc
    try:
        _check(value, "$")
    except RecursionError as exc:
        raise CanonicalizationError("JSON nested too deeply to be signed") from exc
    return value


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalizationError(
                f"integer at {path} is outside ±(2^53-1); send large numbers as strings"
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalizationError(f"NaN or Infinity at {path} cannot be signed")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalizationError(f"object key at {path} is not a string")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise CanonicalizationError(f"value of type {type(value).__name__} at {path} is not JSON")


_JCS_LEAVES = frozenset({str, int, bool, type(None)})
_SORTED_STRICT = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_SUBCLASS
_JCS_CONTAINERS = frozenset({dict, list, tuple})
_CONTAINERS = (dict, list, tuple)
_WALK_DEPTH = 256  # orjson refuses deeper nesting (254 levels) itself


def _jcs_types(value: Any) -> bool:
    """True when ``value`` is made only of exact ``dict``, ``list``, ``tuple``, ``str``,
    ``int``, ``bool`` and ``None``: one walk without recursion, a C-speed set test for each
    container whose members are all leaves. Keys and integer ranges are not looked at here:
    orjson refuses the bad ones under :data:`_SORTED_STRICT` (see :func:`_fast_path`)."""
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        return kind in _JCS_LEAVES
    leaves = _JCS_LEAVES.issuperset
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if type(node) is dict else node
        if leaves(map(type, children)):
            continue
        if depth >= _WALK_DEPTH:  # deeper than orjson writes, or a cycle: the reference path
            return False  # refuses it with its own error
        for child in children:
            kind = type(child)
            if kind is dict or kind is list or kind is tuple:
                stack.append((child, depth + 1))
            elif kind not in _JCS_LEAVES:
                return False
    return True


class JsonShape(NamedTuple):
    """What one walk of a parsed value found (see :func:`json_shape`)."""

    json_types: bool
    """Made only of exact ``dict``, ``list``, ``tuple``, ``str``, ``int``, ``bool``, None."""
    depth: int
    """Levels of containers; beyond the walk's ``max_depth``, the walk stopped there."""
    members: int
    """Members and items counted; beyond the walk's ``max_members``, the walk stopped."""


def json_shape(value: Any, max_depth: int, max_members: int) -> JsonShape:
    """One walk of ``value`` without recursion, level by level: its types (as
    :func:`_jcs_types`), its nesting depth and its number of members.

    ``dict`` and ``list`` subclasses are walked too (they count for depth and members, and
    make ``json_types`` False); the walk stops at the first level deeper than ``max_depth``
    or the first container that brings the count beyond ``max_members``. A caller that
    caps what it accepts (a verifier's intake) learns with the same walk whether a value
    may take the fast path of :func:`canonicalize_parts`.
    """
    if not isinstance(value, _CONTAINERS):
        return JsonShape(type(value) in _JCS_LEAVES, 0, 0)
    exact = type(value) in _JCS_CONTAINERS
    leaves = _JCS_LEAVES.issuperset
    level = [value]
    depth = members = 0
    while level:
        depth += 1
        if depth > max_depth:
            return JsonShape(False, depth, members)
        below: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            members += len(children)
            if members > max_members:
                return JsonShape(False, depth, members)
            if leaves(map(type, children)):
                continue
            for child in children:
                kind = type(child)
                if kind is dict or kind is list or kind is tuple:
                    below.append(child)
                elif kind not in _JCS_LEAVES:
                    exact = False
                    if isinstance(child, _CONTAINERS):
                        below.append(child)
        level = below
    return JsonShape(exact, depth, members)


def _non_bmp(data: bytes) -> bool:
    """Does UTF-8 ``data`` hold a character beyond U+FFFF? (a memchr per lead byte)"""
    find = data.find
    return (
        find(b"\xf0") >= 0
        or find(b"\xf1") >= 0
        or find(b"\xf2") >= 0
        or find(b"\xf3") >= 0
        or find(b"\xf4") >= 0
    )


def _sorted_dump(value: Any) -> bytes | None:
    """orjson's sorted bytes of a value whose types :func:`_jcs_types` accepted, when they
    are its JCS form; None when the reference path must decide.

    ``OPT_STRICT_INTEGER`` refuses integers beyond ±(2^53-1), ``OPT_PASSTHROUGH_SUBCLASS``
    subclasses of ``str`` (keys too) and ``dict``, and orjson refuses non-string keys and
    lone surrogates; a character beyond the BMP anywhere in the bytes sends the value to
    the precise key check (only keys sort differently, see the module docstring).
    """
    try:
        out = orjson.dumps(value, option=_SORTED_STRICT)
    except orjson.JSONEncodeError:
        return None
    if _non_bmp(out) and not _fast_eligible(value):
        return None
    return out


def _fast_path(value: Any) -> bytes | None:
    """The JCS bytes of ``value`` by the fast path, or None when it does not apply."""
    return _sorted_dump(value) if _jcs_types(value) else None


def _fast_eligible(value: Any) -> bool:
    """True when ``value`` is valid and orjson's sorted output is its JCS form (the precise
    check, key by key: :func:`_sorted_dump` asks it only of values with a character beyond
    the BMP).

    Never raises: anything unusual returns False and is handled (and, if
    invalid, reported with its path) by the reference path.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(_MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            if not key.isascii() and max(key) >= _FIRST_NON_BMP:
                return False
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            if not _fast_eligible(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            if not _fast_eligible(item):
                return False
        return True
    return False


def _canonicalize_reference(value: Any) -> bytes:
    _check(value, "$")
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError(f"cannot canonicalize: {exc}") from exc


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    Refuses duplicate-free-but-unsignable values with :class:`CanonicalizationError`:
    NaN/Infinity, integers outside ±(2^53-1), non-string keys, non-JSON types and
    strings that are not valid Unicode (lone surrogates).
    """
    out = _fast_path(value)
    return out if out is not None else _canonicalize_reference(value)


def canonicalize_parts(whole: Any, *parts: Any, json_types: bool | None = None) -> list[bytes]:
    """:func:`canonicalize` of each of ``parts``, with one walk of ``whole`` for all of them.

    Each part is a member of ``whole`` (at any depth) or a new ``dict`` or ``list`` whose
    keys are keys of ``whole``'s objects and whose values are members of ``whole``: a
    document without its proof, a proof without its value. When ``whole`` is made of
    JSON types only, so is each part, and each takes the fast path without a walk of
    its own; otherwise each part is canonicalized on its own, errors included.
    ``json_types``: what :func:`json_shape` found of ``whole``, when the caller walked it
    already (None: walk it here).
    """
    if not (_jcs_types(whole) if json_types is None else json_types):
        return [canonicalize(part) for part in parts]
    out: list[bytes] = []
    for part in parts:
        dumped = _sorted_dump(part)
        out.append(dumped if dumped is not None else _canonicalize_reference(part))
    return out


def canonical_hash(value: Any) -> bytes:
    """SHA-256 of the canonical form."""
    return hashlib.sha256(canonicalize(value)).digest()


_FLAT_TYPES = frozenset({str, int, bool, type(None)})
_BELOW_F0 = bytes(range(0xF0))  # deleted, what is left are the lead bytes of non-BMP characters


def sorted_is_canonical(text: bytes, objects: Iterable[Mapping[str, Any]]) -> bool:
    """True when the bytes of ``orjson.dumps(o, option=OPT_SORT_KEYS | OPT_STRICT_INTEGER)``
    are the JCS form of each of ``objects`` — objects that :func:`parse_strict` took from
    ``text`` (so of exact JSON types and with safe integers).

    That holds when the text has no character outside the Basic Multilingual Plane, raw
    or escaped (so no key whose UTF-8 order differs from its UTF-16 order), and every
    value of every object is a ``str``, ``int``, ``bool`` or None — no float, nothing
    nested (see the module docstring). One C-speed scan of the text and one set test per
    object, no walk; False is always safe: each object is then canonicalized on its own.
    """
    if text.translate(None, _BELOW_F0) or b"\\ud" in text or b"\\uD" in text:
        return False
    flat = _FLAT_TYPES.issuperset
    return all(flat(map(type, o.values())) for o in objects)
