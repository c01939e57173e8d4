"""What happened (:class:`AuditEvent`) and the row and leaf parts the writer stores for it.

A caller hands the log an :class:`AuditEvent`; :func:`encode_event` turns it into a
:data:`Row`: the entry's columns in the ``audit_entries`` table's order, then the leaf
data around ``seq`` and ``ts`` (:func:`exchange.audit.leaf.encode_parts`), so the
writer only splices those two in and hashes.

Text that JSON cannot hold (a lone surrogate such as ``"\\ud800"`` decoded from a
``\\ud800`` escape in a request) would leave a request without its entry; such text is
made encodable instead: each lone surrogate becomes U+FFFD, in every text field and
in ``detail``, and the entry is written with that text.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import orjson

from exchange.audit.leaf import canonical_detail, encode_parts
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode
from signing.errors import CanonicalizationError

__all__ = [
    "HEAD",
    "MIDDLE",
    "ROW_COLUMNS",
    "TABLE_COLUMNS",
    "AuditEvent",
    "Row",
    "encodable",
    "encode_event",
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

HEAD, MIDDLE = len(ROW_COLUMNS), len(ROW_COLUMNS) + 1
"""Where a :data:`Row` keeps its leaf parts, after its columns."""

Row = tuple[Any, ...]
"""One entry as the caller prepares it: the :data:`ROW_COLUMNS`, then the leaf's head
(with the RFC 6962 leaf prefix) and middle."""


@dataclass
class AuditEvent:
    """What happened, before it gets a sequence number and time."""

    actor: str
    action: str  # publish | query | grant.request | grant.decide | cert.issue | ...
    outcome: str  # allowed | refused | ok | error | not_found
    target: str | None = None  # resource code, certificate id, grant id, case number …
    subject: str | None = None  # raw ID number or USCC: hashed, never stored
    subject_hash: str | None = None
    purpose: str | None = None
    case_no: str | None = None
    code: str | None = None  # stable error code when refused
    request_hash: str | None = None
    detail: dict[str, Any] | None = None
    person: str | None = None  # staff id of the person who acted (console, ``act`` claim)


_TEXT_FIELDS = tuple(f.name for f in fields(AuditEvent) if f.name != "detail")


def _text(value: str) -> str:
    """``value`` with every lone surrogate replaced by U+FFFD (pairs are joined)."""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


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


def _encode(event: AuditEvent) -> Row:
    detail = None if event.detail is None else canonical_detail(event.detail)
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
    )


def encode_event(event: AuditEvent) -> Row:
    """The entry's row and leaf parts (see :data:`Row`).

    Text that is not valid Unicode is replaced (:func:`encodable`) so the entry is still
    written; a detail JSON cannot sign (an integer beyond ±(2^53−1)) raises
    :class:`InvalidRequest`.
    """
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
