"""What the owner of a resource does with a grant after approving it, and what it sees.

- revoke (撤销): an approved grant ends now; the next read under it is refused;
- narrow (缩小): fewer fields (the others are masked from the next read), fewer purposes,
  or an earlier expiry — never wider: a wider grant is a new request;
- uses: the reads made under the grant, from the audit index (each read's entry names
  the grant it used);
- history: the request, the decision and every change, from the audit index.

Each change, allowed or refused, is one audit entry (``grant.revoke``, ``grant.narrow``)
whose detail says what changed. A change is conditional on the grant still approved, so
of two concurrent changes each applies to what the other left.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import duckdb
import orjson
from pydantic import Field

from exchange import moment
from exchange.audit.log import AuditEvent
from exchange.audit.query import entries_source
from exchange.errors import Conflict, ExchangeError, Forbidden, InvalidRequest
from schemas.base import StrictModel
from schemas.errors import ErrorCode

if TYPE_CHECKING:
    from exchange.catalog.grants import GrantPublic, Grants

__all__ = [
    "GrantChange",
    "GrantNarrowing",
    "GrantRevocation",
    "GrantUse",
    "GrantUses",
    "history",
    "narrow",
    "revoke",
    "uses",
]

READ_ACTIONS = ("query", "query.subject")
GRANT_ACTIONS = ("grant.request", "grant.decide", "grant.revoke", "grant.narrow")


class GrantRevocation(StrictModel):
    reason: str = Field(min_length=1, max_length=1000, description="why the grant ends now")


class GrantNarrowing(StrictModel):
    fields: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=64, description="the fields kept (a subset)"
    )
    purposes: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, min_length=1, max_length=16, description="the purposes kept (a subset)"
    )
    expires_at: datetime | None = Field(default=None, description="an earlier expiry")
    reason: str = Field(min_length=1, max_length=1000)


class GrantUse(StrictModel):
    seq: int
    ts: str
    action: str
    purpose: str | None
    case_no: str | None
    outcome: str
    masked: list[str] = Field(default_factory=list)


class GrantUses(StrictModel):
    grant: str
    count: int = Field(description="reads made under the grant (all of them)")
    data: list[GrantUse] = Field(description="the newest reads, newest first")


class GrantChange(StrictModel):
    seq: int
    ts: str
    action: str
    actor: str
    outcome: str
    code: str | None = None
    detail: dict[str, Any] | None = None


def _not_approved(grant: GrantPublic, verb: str) -> Conflict:
    return Conflict(
        f"grant {grant.id} is {grant.status}: only an approved grant can be {verb}",
        code=ErrorCode.GRANT_NOT_APPROVED,
    )


def _owned(grants: Grants, grant_id: str, owner: str) -> GrantPublic:
    grant = grants.grant(grant_id)
    if grant.owner != owner:
        raise Forbidden(
            "only the resource's owner revokes or narrows its grants", code=ErrorCode.NOT_OWNER
        )
    return grant


def _audited(grants: Grants, event: AuditEvent, change: Any, *args: Any) -> GrantPublic:
    try:
        grant, detail = change(*args)
    except ExchangeError as exc:
        event.outcome, event.code = "refused", exc.code.value
        grants.audit.append(event)
        raise
    event.detail = detail
    grants.audit.append(event)
    return grant  # type: ignore[no-any-return]


def _update(grants: Grants, grant: GrantPublic, verb: str, sql: str, params: list[Any]) -> None:
    try:
        won = grants.store.fetchone(
            f"UPDATE grants SET {sql} WHERE id = ? AND status = 'approved' RETURNING id",  # noqa: S608
            [*params, grant.id],
        )
    except duckdb.TransactionException:
        won = None
    grants.forget()
    if won is None:
        raise _not_approved(grants.grant(grant.id), verb)


def revoke(grants: Grants, grant_id: str, owner: str, reason: str) -> GrantPublic:
    """Withdraw an approved grant at once; audited (``grant.revoke``)."""
    body = GrantRevocation(reason=reason)
    event = AuditEvent(actor=owner, action="grant.revoke", outcome="revoked", target=grant_id)

    def change() -> tuple[GrantPublic, dict[str, Any]]:
        grant = _owned(grants, grant_id, owner)
        if grant.status != "approved":
            raise _not_approved(grant, "revoked")
        _update(
            grants,
            grant,
            "revoked",
            "status = 'revoked', decided_at = ?, decided_by = ?, decision_reason = ?",
            [moment.now(), owner, body.reason],
        )
        detail = {
            "resource": grant.resource,
            "consumer": grant.consumer,
            "reason": body.reason,
            "approval": grant.decision_reason,
        }
        return grants.grant(grant_id), detail

    return _audited(grants, event, change)


def narrow(grants: Grants, grant_id: str, owner: str, change: GrantNarrowing) -> GrantPublic:
    """Narrow an approved grant; audited (``grant.narrow``, with what changed)."""
    event = AuditEvent(actor=owner, action="grant.narrow", outcome="narrowed", target=grant_id)

    def apply() -> tuple[GrantPublic, dict[str, Any]]:
        grant = _owned(grants, grant_id, owner)
        if grant.status != "approved":
            raise _not_approved(grant, "narrowed")
        fields = sorted(set(change.fields)) if change.fields is not None else grant.fields
        purposes = sorted(set(change.purposes)) if change.purposes is not None else grant.purposes
        expires = change.expires_at or grant.expires_at
        wider = sorted(set(fields) - set(grant.fields)) + sorted(
            set(purposes) - set(grant.purposes)
        )
        if wider:
            raise InvalidRequest(
                f"a narrowing keeps a subset of the grant: not in it: {', '.join(wider)}; "
                "more needs a new request",
                code=ErrorCode.GRANT_NOT_NARROWER,
            )
        if expires.tzinfo is None or expires > grant.expires_at:
            raise InvalidRequest(
                f"expires_at must have a time zone and be no later than the grant's "
                f"{grant.expires_at.isoformat()}",
                code=ErrorCode.GRANT_NOT_NARROWER,
            )
        if expires <= moment.now():
            raise InvalidRequest(
                "expires_at is past: to end the grant now, revoke it",
                code=ErrorCode.INVALID_EXPIRY,
            )
        if (fields, purposes, expires) == (grant.fields, grant.purposes, grant.expires_at):
            raise InvalidRequest(
                "the narrowing changes nothing: keep fewer fields or purposes, or an earlier "
                "expiry",
                code=ErrorCode.GRANT_NOT_NARROWER,
            )
        _update(
            grants,
            grant,
            "narrowed",
            "fields = ?, purposes = ?, expires_at = ?",
            [fields, purposes, expires],
        )
        detail: dict[str, Any] = {"resource": grant.resource, "consumer": grant.consumer}
        detail["reason"] = change.reason
        if fields != grant.fields:
            detail["fields_removed"] = sorted(set(grant.fields) - set(fields))
        if purposes != grant.purposes:
            detail["purposes_removed"] = sorted(set(grant.purposes) - set(purposes))
        if expires != grant.expires_at:
            detail["expires_at"] = [grant.expires_at.isoformat(), expires.isoformat()]
        return grants.grant(grant_id), detail

    return _audited(grants, event, apply)


def _detail(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = orjson.loads(raw)
    return value if isinstance(value, dict) else None


def uses(grants: Grants, grant: GrantPublic, *, limit: int = 100) -> GrantUses:
    """The reads its consumer made under ``grant``, newest first, and their count."""
    source, params = entries_source(grants.store, archived=True)
    where = (
        "actor = ? AND target = ? AND list_contains(?, action) "
        "AND json_extract_string(detail, '$.grant') = ?"
    )
    args = [*params, grant.consumer, grant.resource, list(READ_ACTIONS), grant.id]
    row = grants.store.fetchone(f"SELECT count(*) FROM {source} WHERE {where}", args)  # noqa: S608
    rows = grants.store.fetchall(
        f"SELECT seq, ts_text, action, purpose, case_no, outcome, detail FROM {source} "  # noqa: S608
        f"WHERE {where} ORDER BY seq DESC LIMIT ?",
        [*args, limit],
    )
    data = []
    for seq, ts, action, purpose, case_no, outcome, raw in rows:
        detail = _detail(raw) or {}
        masked = detail.get("masked")
        data.append(
            GrantUse(
                seq=int(seq),
                ts=str(ts),
                action=str(action),
                purpose=purpose,
                case_no=case_no,
                outcome=str(outcome),
                masked=[str(m) for m in masked] if isinstance(masked, list) else [],
            )
        )
    return GrantUses(grant=grant.id, count=int(row[0]) if row else 0, data=data)


def history(grants: Grants, grant: GrantPublic) -> list[GrantChange]:
    """The grant's request, decision and changes (ok or refused), oldest first."""
    source, params = entries_source(grants.store, archived=True)
    rows = grants.store.fetchall(
        f"SELECT seq, ts_text, action, actor, outcome, code, detail FROM {source} "  # noqa: S608
        "WHERE list_contains(?, action) AND (target = ? OR "
        "(action = 'grant.request' AND json_extract_string(detail, '$.grant') = ?)) "
        "ORDER BY seq",
        [*params, list(GRANT_ACTIONS), grant.id, grant.id],
    )
    return [
        GrantChange(
            seq=int(seq),
            ts=str(ts),
            action=str(action),
            actor=str(actor),
            outcome=str(outcome),
            code=code,
            detail=_detail(raw),
        )
        for seq, ts, action, actor, outcome, code, raw in rows
    ]
