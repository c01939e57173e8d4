"""What one audit entry is, and the exact bytes its Merkle leaf hashes.

The leaf data of an entry is the RFC 8785 (JCS) canonical JSON of the object with
these twelve members, and a thirteenth when the entry names a person::

    action actor case_no code detail outcome [person] purpose request_hash seq subject_hash
    target ts

``person`` is the staff id of the person who acted (a console sign-in, or the RFC 8693
``act`` claim of a department's client): a member only when it is set, so the entries
written before people were recorded keep their leaves, byte for byte.

``seq`` is an integer, ``detail`` a JSON object or ``null``, every other member a
string or ``null``; ``ts`` is the RFC 3339 UTC time with microseconds, as stored in
the ``ts_text`` column. The leaf hash is ``SHA-256(0x00 ‖ leaf data)`` (RFC 6962).
So anyone can recompute a leaf from the stored columns or from an export: parse
``detail``, canonicalize the object, hash it.

The writer builds the same bytes without a generic canonicalizer: the members are
few, fixed and sorted, their values are strings, integers or ``null`` (for which
orjson's output is byte for byte JCS, see :mod:`signing.canonical`) and ``detail``
is canonicalized once by :func:`signing.canonical.canonicalize`. The members go
through one orjson call in sorted order (``detail`` as a pre-encoded fragment), cut
around ``seq``. Everything but
``seq`` and ``ts`` is encoded by the caller (:func:`encode_parts`); the writer only
splices the two in (:func:`assemble`). A test checks the result against
``canonicalize`` for arbitrary values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import orjson

from signing.canonical import canonicalize
from signing.merkle import leaf_hash

__all__ = ["ENTRY_FIELDS", "AuditEntry", "assemble", "canonical_detail", "encode_parts"]

_dumps = orjson.dumps
_MAX_SAFE = 2**53 - 1
_SORT = orjson.OPT_SORT_KEYS
_Fragment = orjson.Fragment
_SPLIT = b',"seq":0,"subject_hash":'


def _plain(detail: dict[Any, Any]) -> bool:
    """Whether orjson with sorted keys writes ``detail`` as JCS (see :func:`canonical_detail`).

    One explicit loop: this runs once per audit entry, so no generator per member.
    """
    for key, value in detail.items():
        if type(key) is not str or not key.isascii():
            return False
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is int:
            if -_MAX_SAFE <= value <= _MAX_SAFE:
                continue
            return False
        if kind is not list:
            return False
        for item in value:
            if type(item) is not str:
                return False
    return True


def canonical_detail(detail: dict[str, Any]) -> bytes:
    """JCS bytes of a detail object, without the generic walk for the usual shapes.

    A flat object with ASCII keys whose values are strings, safe integers, booleans,
    ``null`` or lists of strings is encoded by orjson with sorted keys, which is JCS
    for exactly these values; anything else goes through
    :func:`signing.canonical.canonicalize`.
    """
    if _plain(detail):
        return _dumps(detail, option=_SORT)
    return canonicalize(detail)


@dataclass
class AuditEntry:
    """One committed entry: its sequence number (= leaf index), time and facts."""

    seq: int
    ts: str
    actor: str
    action: str
    outcome: str
    target: str | None
    subject_hash: str | None
    purpose: str | None
    case_no: str | None
    code: str | None
    request_hash: str | None
    detail: dict[str, Any] | None
    person: str | None = None

    def leaf_bytes_fast(self) -> bytes:
        """The same bytes as :meth:`leaf_bytes`, by the writer's path (:func:`encode_parts`)."""
        values = self.to_json()
        seq, ts, detail = values.pop("seq"), values.pop("ts"), values.pop("detail")
        head, middle = encode_parts(
            **values, detail=None if detail is None else canonical_detail(detail)
        )
        return assemble(head, seq, middle, ts.encode())

    def to_json(self) -> dict[str, Any]:
        """The entry as the JSON object its leaf canonicalizes (``person`` only when set)."""
        values = {name: getattr(self, name) for name in ENTRY_FIELDS}
        if not values["person"]:
            del values["person"]
        return values

    def leaf_bytes(self) -> bytes:
        """The leaf data: JCS of :meth:`to_json` (the reference path)."""
        return canonicalize(self.to_json())

    def leaf_hash(self) -> bytes:
        """``SHA-256(0x00 ‖ leaf data)``."""
        return leaf_hash(self.leaf_bytes())

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> AuditEntry:
        """An entry from its JSON object (an export line, an API answer)."""
        return cls(
            **{name: value[name] for name in ENTRY_FIELDS if name != "person"},
            person=value.get("person") or None,
        )


ENTRY_FIELDS = tuple(f.name for f in fields(AuditEntry))
"""The members of an entry, in the order of :class:`AuditEntry`: the one list every other
(the table's columns, queries, exports, the API's model) derives from or is checked
against."""


def encode_parts(
    *,
    actor: str,
    action: str,
    outcome: str,
    target: str | None,
    subject_hash: str | None,
    purpose: str | None,
    case_no: str | None,
    code: str | None,
    request_hash: str | None,
    detail: bytes | None,
    person: str | None = None,
) -> tuple[bytes, bytes]:
    """The leaf data around ``seq`` and ``ts``: ``(head, middle)``.

    ``detail`` is the canonical JSON of the detail object (or ``None``); ``person`` is a
    member only when set (see the module docstring). Raises
    ``orjson.JSONEncodeError`` for text that is not valid Unicode.
    """
    members: dict[str, Any] = {
        "action": action,
        "actor": actor,
        "case_no": case_no,
        "code": code,
        "detail": None if detail is None else _Fragment(detail),
        "outcome": outcome,
    }
    if person:
        members["person"] = person
    members["purpose"] = purpose
    members["request_hash"] = request_hash
    members["seq"] = 0
    members["subject_hash"] = subject_hash
    members["target"] = target
    members["ts"] = ""
    # one encoder call for the whole entry, the members inserted in sorted order; the
    # last ``,"seq":0,"subject_hash":`` is the member itself: ``detail`` comes before
    # it, and inside a JSON string a quote is always escaped
    data = _dumps(members)
    at = data.rfind(_SPLIT)
    return data[: at + 7], data[at + 8 : -2]


def assemble(head: bytes, seq: int, middle: bytes, ts: bytes) -> bytes:
    """The leaf data of an entry from :func:`encode_parts`, its ``seq`` and ASCII ``ts``."""
    return b"%s%d%s%s" % (head, seq, middle, ts) + b'"}'
