"""Grants for conditional resources: request, list, decide (with the answer deadline)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from exchange.api.deps import CurrentDept, ExchangeDep, Publisher, Reader, protected_router
from exchange.audit.log import AuditEvent
from exchange.catalog.catalog import GrantDecision, GrantPublic, GrantRequest
from exchange.errors import ExchangeError, Forbidden
from schemas.base import StrictModel
from schemas.errors import ErrorCode

router = protected_router("/v1/grants", ["grants"])


class GrantsPublic(StrictModel):
    data: list[GrantPublic]
    count: int


@router.post("", summary="Request a grant on a conditional resource", status_code=201)
def request_grant(req: GrantRequest, exchange: ExchangeDep, principal: Reader) -> GrantPublic:
    event = AuditEvent(
        actor=principal.uscc,
        action="grant.request",
        outcome="ok",
        target=req.resource,
        purpose=",".join(req.purposes),
    )
    try:
        grant = exchange.catalog.request_grant(principal.uscc, req)
    except ExchangeError as exc:
        event.outcome, event.code = "refused", exc.code.value
        exchange.audit.append(event)
        raise
    event.detail = {"grant": grant.id, "fields": grant.fields}
    exchange.audit.append(event)
    return grant


@router.get("", summary="Grants you asked for and grants on resources you own")
def list_grants(
    exchange: ExchangeDep,
    principal: CurrentDept,
    status: Annotated[Literal["pending", "approved", "refused"] | None, Query()] = None,
) -> GrantsPublic:
    data = exchange.catalog.grants_for(principal.uscc, status=status)
    return GrantsPublic(data=data, count=len(data))


@router.get("/{grant_id}", summary="One grant (its consumer or the resource owner only)")
def get_grant(grant_id: str, exchange: ExchangeDep, principal: CurrentDept) -> GrantPublic:
    grant = exchange.catalog.grant(grant_id)
    if principal.uscc not in (grant.consumer, grant.owner):
        raise Forbidden(
            "only the requesting department and the owner see a grant", code=ErrorCode.FORBIDDEN
        )
    return grant


@router.post("/{grant_id}/decision", summary="The owner approves or refuses, with a reason")
def decide(
    grant_id: str, decision: GrantDecision, exchange: ExchangeDep, principal: Publisher
) -> GrantPublic:
    event = AuditEvent(
        actor=principal.uscc,
        action="grant.decide",
        outcome="approved" if decision.approve else "refused",
        target=grant_id,
    )
    try:
        grant = exchange.catalog.decide(grant_id, principal.uscc, decision)
    except ExchangeError as exc:
        event.outcome, event.code = "refused", exc.code.value
        exchange.audit.append(event)
        raise
    event.detail = {"resource": grant.resource, "consumer": grant.consumer}
    exchange.audit.append(event)
    return grant
