"""The quarantine: what ingest refused, and why (nothing is dropped silently).

A quarantined row names its record's key and, in its reason, often the identifier that
failed (an ID number with its expected check character: the corrected number). The
publishing department sees its rows as they are; everyone else (the operator, through
the API or ``govex connector quarantine``) sees keys and identifiers masked to at most
their region.

An operator decides on a quarantined row once: **release** (dealt with: the publisher
sent it again corrected, or it was let through by hand) or **discard** (not to be
published), with a reason; audited (``quarantine.release``, ``quarantine.discard``) and
kept in ``quarantine_decisions`` (migration 17) beside the row, which stays as evidence. A decision
names the row by its content (:data:`_REF`: resource, batch, index, key, reason,
payload), not by its id: in a cluster each node quarantines what it consumed under ids
of its own, and the decision (:meth:`QuarantineDecisions.decide`, a control event)
must find the same row on every node.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from exchange import moment
from exchange.catalog.masking import mask_identifier
from exchange.errors import Conflict, InvalidRequest, NotFound
from exchange.store import Store
from schemas.base import StrictModel
from schemas.errors import ErrorCode

__all__ = [
    "QuarantineDecisions",
    "QuarantinePublic",
    "list_quarantine",
    "mask_identifiers_in",
]

Decision = Literal["release", "discard"]
# a row's reference: the same on every node that quarantined the same record
_REF = (
    "'qref_' || left(sha256(concat_ws(chr(31), coalesce(q.resource, ''), "
    "coalesce(q.batch_id, ''), coalesce(CAST(q.record_index AS VARCHAR), ''), "
    "coalesce(q.key, ''), q.reason_code, q.payload)), 32)"
)

# an ID number, a USCC or a near miss (one character short or long): 15-20 letters and
# digits, not inside a longer word
_IDENTIFIER = re.compile(
    r"(?<![0-9A-Za-z])(?=[0-9A-Za-z]*[0-9]{6})[0-9A-Za-z]{15,20}(?![0-9A-Za-z])"
)


class QuarantinePublic(StrictModel):
    id: str
    received_at: datetime
    resource: str | None
    publisher: str | None
    batch_id: str | None
    record_index: int | None
    key: str | None
    reason_code: str
    reason: str
    source: str
    decision: str | None = None
    decided_at: datetime | None = None


def mask_identifiers_in(text: str) -> str:
    """``text`` with every identifier-like run of characters masked to its region."""
    return _IDENTIFIER.sub(lambda m: m.group(0)[:6] + "*" * (len(m.group(0)) - 6), text)


def _mask_key(key: str | None) -> str | None:
    if key is None:
        return None
    if len(key) == 18:
        return mask_identifier(key, "cn-id" if key[:6].isdigit() else "uscc")
    return "*" * min(max(len(key), 2), 8)


def list_quarantine(
    store: Store,
    viewer: str | None,
    *,
    everyone: bool,
    resource: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[QuarantinePublic]:
    """Quarantined rows, oldest first: all of them when ``everyone`` (the operator), else
    those ``viewer`` published. Rows of other publishers than ``viewer`` come masked."""
    rows = store.fetchall(
        "SELECT q.id, q.received_at, q.resource, q.publisher, q.batch_id, q.record_index, q.key, "  # noqa: S608
        f"q.reason_code, q.reason, q.source, d.decision, d.decided_at FROM quarantine q "
        f"LEFT JOIN quarantine_decisions d ON d.ref = {_REF} "
        "WHERE (? OR q.publisher = ?) AND (? IS NULL OR q.resource = ?) "
        "ORDER BY q.received_at, q.record_index LIMIT ? OFFSET ?",
        [everyone, viewer, resource, resource, limit, offset],
    )
    cols = list(QuarantinePublic.model_fields)
    out = []
    for row in rows:
        item = QuarantinePublic(**dict(zip(cols, row, strict=True)))
        if viewer is None or item.publisher != viewer:
            item = item.model_copy(
                update={"key": _mask_key(item.key), "reason": mask_identifiers_in(item.reason)}
            )
        out.append(item)
    return out


class QuarantineDecisions:
    """An operator's release or discard of quarantined rows, each decided once."""

    def __init__(self, store: Store, record: Callable[..., object]) -> None:
        self.store = store
        self.record = record  # the audit log's append, as staff changes have it

    def decide_row(self, quarantine_id: str, decision: str, reason: str, actor: str) -> str:
        """Release or discard the row ``quarantine_id`` of this node; its reference."""
        if decision not in ("release", "discard"):
            raise InvalidRequest(
                "a decision is 'release' or 'discard'", code=ErrorCode.INVALID_OPTION
            )
        reason = reason.strip()
        if not reason or len(reason) > 500:
            raise InvalidRequest(
                "give the reason for the decision (1-500 characters)",
                code=ErrorCode.INVALID_OPTION,
            )
        row = self.store.fetchone(
            f"SELECT {_REF} FROM quarantine q WHERE q.id = ?",  # noqa: S608
            [quarantine_id],
        )
        if row is None:
            raise NotFound(f"no quarantined row {quarantine_id}")
        ref = str(row[0])
        self.decide(ref, decision, reason, actor)
        return ref

    def decide(self, ref: str, decision: str, reason: str, actor: str) -> None:
        """Keep the decision on the row ``ref`` (in a cluster: a control event); audited."""
        found = self.store.fetchone(
            "SELECT decision FROM quarantine_decisions WHERE ref = ?", [ref]
        )
        if found is not None:
            raise Conflict(f"this quarantined row was already decided ({found[0]})")
        self.store.execute(
            "INSERT INTO quarantine_decisions VALUES (?, ?, ?, ?, ?)",
            [ref, decision, reason, actor, moment.now()],
        )
        self.record(
            actor=actor,
            action=f"quarantine.{decision}",
            outcome="ok",
            target=ref,
            code=None,
            detail={"reason": mask_identifiers_in(reason)},
            person=None,
        )
