"""What happened (:class:`AuditEvent`) and the row and leaf parts the writer stores for it.

A caller hands the log an :class:`AuditEvent`; :func:`encode_event` turns it into a
:data:`Row`: the entry's columns in the ``audit_entries`` table's order (what a cluster
node sends for it), then the leaf data around ``seq`` and ``ts``
(:func:`exchange.audit.leaf.encode_parts`), so the writer only splices those two in and
hashes. The index is made from the leaf data alone (:mod:`exchange.audit.tables`).

Text that JSON cannot hold (a lone surrogate such as ``"\\ud800"`` decoded from a
``\\ud800`` escape in a request) would leave a request without its entry; such text is
made encodable instead: each lone surrogate becomes U+FFFD, in every text field and
in ``detail``, and the entry is written with that text.

**Subjects.** An entry is about every person and company whose identifier was in what
was answered. ``subject_hash`` holds the first subject's keyed hash; the keyed hashes of
the further subjects travel in ``detail["subjects"]`` (a list, in the leaf, so a proof
covers them) and, for lookups, in the ``audit_subjects`` table (``seq, subject_hash``;
one row per further subject, none for an entry with at most one subject, read from the
leaf). A :data:`Row` carries those further hashes after its leaf parts. The key
``subjects`` of ``detail`` is the log's own: a caller's detail that has one keeps it as
``subjects_given`` (:data:`GIVEN_SUBJECTS_KEY`, with ``_`` added while the caller's
detail has that key too), so the index never takes a caller's values for subject hashes.

**Size.** An entry is bounded where it is built: every text field and every string in
``detail`` keeps at most :data:`TEXT_CAP` characters; a longer text keeps its first
:data:`TEXT_CAP` characters followed by the marker :data:`TRUNCATED`. A list in
``detail`` keeps at most :data:`LIST_CAP` items, then the marker ``"…[+N]"`` (``N``
items left out); the list of subject hashes is never cut (each item is 64 characters
and every subject is counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

from exchange.audit.leaf import canonical_detail, encode_parts
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode
from signing.errors import CanonicalizationError

__all__ = [
    "GIVEN_SUBJECTS_KEY",
    "HEAD",
    "LIST_CAP",
    "MIDDLE",
    "ROW_COLUMNS",
    "SUBJECTS",
    "SUBJECTS_KEY",
    "TABLE_COLUMNS",
    "TEXT_CAP",
    "TRUNCATED",
    "AuditEvent",
    "Row",
    "bounded",
    "cap_text",
    "encodable",
    "encode_event",
    "valid_text",
]

TABLE_COLUMNS = (
    "seq",
    "ts",
    "actor",
    "action",
    "target",
    "subject_hash",
    "purpose",
    "case_no",
    "outcome",
    "code",
    "request_hash",
    "detail",
    "leaf_hash",
    "ts_text",
    "person",
)
"""The ``audit_entries`` table's columns, in its order (a test checks it against the table):
the fields of :data:`exchange.audit.leaf.ENTRY_FIELDS` (``ts`` as a timestamp, with its
leaf text in ``ts_text``) and the leaf hash; ``person`` came later (migration 14), so it
is last."""

ROW_COLUMNS = (*TABLE_COLUMNS[2:12], "person")
"""The columns a caller encodes (actor … detail, person); ``seq`` and ``ts`` are the
writer's."""

HEAD, MIDDLE, SUBJECTS = len(ROW_COLUMNS), len(ROW_COLUMNS) + 1, len(ROW_COLUMNS) + 2
"""Where a :data:`Row` keeps its leaf parts, after its columns, and its further subjects."""

Row = tuple[Any, ...]
"""One entry as the caller prepares it: the :data:`ROW_COLUMNS`, then the leaf's head
(with the RFC 6962 leaf prefix) and middle, then the keyed hashes of its further
subjects (a tuple, usually empty)."""

TEXT_CAP = 256
"""Characters kept of any text of an entry (a field, a string in ``detail``)."""
TRUNCATED = "…[truncated]"
"""Appended to a text cut at :data:`TEXT_CAP` characters."""
LIST_CAP = 64
"""Items kept of a list in ``detail`` (the subject hashes excepted)."""
SUBJECTS_KEY = "subjects"
"""The key of ``detail`` that holds the further subjects' keyed hashes (the log's own)."""
GIVEN_SUBJECTS_KEY = "subjects_given"
"""Where a caller's own ``detail["subjects"]`` is kept (see the module doc)."""


@dataclass(slots=True)
class AuditEvent:
    """What happened, before it gets a sequence number and time."""

    actor: str
    action: str  # publish | query | grant.request | grant.decide | cert.issue | ...
    outcome: str  # allowed | refused | ok | error | not_found
    target: str | None = None  # resource code, certificate id, grant id, case number …
    subject: str | None = None  # raw ID number or USCC: hashed, never stored
    subject_hash: str | None = None
    # further raw identifiers (hashed) and keyed hashes; none: a shared empty tuple, not two
    # lists per event (an audit append builds many events)
    subjects: Sequence[str] = ()
    subject_hashes: Sequence[str] = ()
    purpose: str | None = None
    case_no: str | None = None
    code: str | None = None  # stable error code when refused
    request_hash: str | None = None
    detail: dict[str, Any] | None = None
    person: str | None = None  # staff id of the person who acted (console, ``act`` claim)


_TEXT_FIELDS = tuple(
    f.name for f in fields(AuditEvent) if f.name not in ("detail", "subjects", "subject_hashes")
)
_CAPPED = ("actor", "action", "outcome", "target", "purpose", "case_no", "code")


def valid_text(value: str) -> str:
    """``value`` with every lone surrogate replaced by U+FFFD (pairs are joined)."""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


_text = valid_text


def _plain_value(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_plain_value(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_value(v) for v in value]
    return value


def encodable(event: AuditEvent) -> AuditEvent:
    """Make every text of ``event`` valid Unicode (in place; returns it)."""
    for name in _TEXT_FIELDS:
        value = getattr(event, name)
        if isinstance(value, str):
            setattr(event, name, _text(value))
    if event.detail is not None:
        event.detail = _plain_value(event.detail)
    return event


def cap_text(value: str) -> str:
    """``value``, or its first :data:`TEXT_CAP` characters and :data:`TRUNCATED`."""
    return value if len(value) <= TEXT_CAP else value[:TEXT_CAP] + TRUNCATED


def _capped(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= TEXT_CAP else value[:TEXT_CAP] + TRUNCATED
    if isinstance(value, dict):
        return {cap_text(k) if isinstance(k, str) else k: _capped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kept = [_capped(v) for v in value[:LIST_CAP]]
        if len(value) > LIST_CAP:
            kept.append(f"…[+{len(value) - LIST_CAP}]")
        return kept
    return value


def _within_caps(detail: dict[Any, Any]) -> bool:
    """Whether a flat detail (the usual shape) is within every cap as it is: then it is
    kept, not rebuilt. One explicit loop: this runs once per audit entry."""
    for key, value in detail.items():
        if type(key) is not str or len(key) > TEXT_CAP:
            return False
        kind = type(value)
        if kind is str:
            if len(value) > TEXT_CAP:
                return False
        elif kind is list:
            if len(value) > LIST_CAP:
                return False
            for item in value:
                if type(item) is not str or len(item) > TEXT_CAP:
                    return False
        elif not (value is None or kind is int or kind is bool or kind is float):
            return False
    return True


def bounded(event: AuditEvent) -> AuditEvent:
    """Cap every text and list of ``event`` (in place; returns it), see the module doc."""
    for name in _CAPPED:
        value = getattr(event, name)
        if value is not None and len(value) > TEXT_CAP:
            setattr(event, name, cap_text(value))
    detail = event.detail
    if detail and not _within_caps(detail):
        event.detail = _capped(detail)
    return event


def _detail(event: AuditEvent) -> dict[str, Any] | None:
    detail = event.detail
    if detail is not None and SUBJECTS_KEY in detail:  # the log's key: the caller's moves
        given = GIVEN_SUBJECTS_KEY
        while given in detail:  # never over a member of the caller's own
            given += "_"
        detail = {given if k == SUBJECTS_KEY else k: v for k, v in detail.items()}
    if not event.subject_hashes:
        return detail
    return {**(detail or {}), SUBJECTS_KEY: list(event.subject_hashes)}


def _encode(event: AuditEvent) -> Row:
    full = _detail(event)
    detail = None if full is None else canonical_detail(full)
    head, middle = encode_parts(
        actor=event.actor,
        action=event.action,
        outcome=event.outcome,
        target=event.target,
        subject_hash=event.subject_hash,
        purpose=event.purpose,
        case_no=event.case_no,
        code=event.code,
        request_hash=event.request_hash,
        detail=detail,
        person=event.person or None,
    )
    return (
        event.actor,
        event.action,
        event.target,
        event.subject_hash,
        event.purpose,
        event.case_no,
        event.outcome,
        event.code,
        event.request_hash,
        None if detail is None else detail.decode(),
        event.person or None,
        b"\x00" + head,  # the RFC 6962 leaf prefix, once
        middle,
        tuple(event.subject_hashes),
    )


_MAX_SAFE = 2**53 - 1
_dumps = orjson.dumps
_SORT = orjson.OPT_SORT_KEYS
_Fragment = orjson.Fragment
_EncodeError = orjson.JSONEncodeError
_SPLIT = b',"seq":0,"subject_hash":'


def _usual_detail(detail: dict[Any, Any]) -> bool:
    """Whether ``detail`` is within every cap as it is (:func:`bounded` keeps it) *and*
    orjson with sorted keys writes it as JCS (:func:`exchange.audit.leaf.canonical_detail`):
    both checks in one walk. A flat object of ASCII keys whose values are strings, safe
    integers, booleans, ``null`` or short lists of strings, without the log's own key
    ``subjects``."""
    if SUBJECTS_KEY in detail:
        return False
    for key, value in detail.items():
        if type(key) is not str or len(key) > TEXT_CAP or not key.isascii():
            return False
        kind = type(value)
        if kind is str:
            if len(value) > TEXT_CAP:
                return False
        elif kind is int:
            if not -_MAX_SAFE <= value <= _MAX_SAFE:
                return False
        elif kind is list:
            if len(value) > LIST_CAP:
                return False
            for item in value:
                if type(item) is not str or len(item) > TEXT_CAP:
                    return False
        elif not (value is None or kind is bool):
            return False
    return True


def encode_event(event: AuditEvent) -> Row:
    """The entry's row and leaf parts (see :data:`Row`).

    Text that is not valid Unicode is replaced (:func:`encodable`) so the entry is still
    written; a detail JSON cannot sign (an integer beyond ±(2^53−1)) raises
    :class:`InvalidRequest`. Texts and lists beyond their caps are cut first
    (:func:`bounded`).

    The usual entry is encoded here in one pass: every text ``None`` or a string within
    its cap (the checks written out, no loop), ``detail`` absent or
    :func:`_usual_detail`, no further subjects. The same row, byte for byte, as the
    general path :func:`_general` (a test compares them), which every other entry takes.
    """
    if event.subject_hashes:
        return _general(event)
    actor, action, outcome = event.actor, event.action, event.outcome
    target, purpose, case_no, code = event.target, event.purpose, event.case_no, event.code
    cap = TEXT_CAP
    if not (
        (actor is None or (type(actor) is str and len(actor) <= cap))
        and (action is None or (type(action) is str and len(action) <= cap))
        and (outcome is None or (type(outcome) is str and len(outcome) <= cap))
        and (target is None or (type(target) is str and len(target) <= cap))
        and (purpose is None or (type(purpose) is str and len(purpose) <= cap))
        and (case_no is None or (type(case_no) is str and len(case_no) <= cap))
        and (code is None or (type(code) is str and len(code) <= cap))
    ):
        return _general(event)
    detail = event.detail
    if detail is None:
        fragment = text = None
    elif type(detail) is dict and _usual_detail(detail):
        try:
            canonical = _dumps(detail, option=_SORT)
        except _EncodeError:
            return _general(event)
        fragment, text = _Fragment(canonical), canonical.decode()
    else:
        return _general(event)
    subject_hash, request_hash, person = event.subject_hash, event.request_hash, event.person
    # the members in sorted order, as :func:`exchange.audit.leaf.encode_parts` writes them;
    # ``person`` a member only when set
    try:
        if person:
            data = _dumps(
                {
                    "action": action,
                    "actor": actor,
                    "case_no": case_no,
                    "code": code,
                    "detail": fragment,
                    "outcome": outcome,
                    "person": person,
                    "purpose": purpose,
                    "request_hash": request_hash,
                    "seq": 0,
                    "subject_hash": subject_hash,
                    "target": target,
                    "ts": "",
                }
            )
        else:
            person = None
            data = _dumps(
                {
                    "action": action,
                    "actor": actor,
                    "case_no": case_no,
                    "code": code,
                    "detail": fragment,
                    "outcome": outcome,
                    "purpose": purpose,
                    "request_hash": request_hash,
                    "seq": 0,
                    "subject_hash": subject_hash,
                    "target": target,
                    "ts": "",
                }
            )
    except _EncodeError:
        return _general(event)
    at = data.rfind(_SPLIT)
    return (
        actor,
        action,
        target,
        subject_hash,
        purpose,
        case_no,
        outcome,
        code,
        request_hash,
        text,
        person,
        b"\x00" + data[: at + 7],
        data[at + 8 : -2],
        (),
    )


def _general(event: AuditEvent) -> Row:
    """:func:`encode_event` of any entry: caps, canonical detail, encodable text."""
    bounded(event)
    try:
        return _encode(event)
    except (orjson.JSONEncodeError, CanonicalizationError, UnicodeError):
        pass
    try:
        return _encode(encodable(event))
    except (orjson.JSONEncodeError, CanonicalizationError) as exc:
        raise InvalidRequest(
            f"the audit entry cannot be encoded: {exc}", code=ErrorCode.UNENCODABLE_AUDIT_ENTRY
        ) from exc
