"""Grants for conditional resources: request, list, decide (with the answer deadline); the
owner revokes or narrows an approved grant and sees the reads made under it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from exchange.api.deps import CurrentDept, ExchangeDep, Publisher, Reader, protected_router
from exchange.catalog.grants import GrantDecision, GrantPublic, GrantRequest
from exchange.catalog.grants_owner import GrantChange, GrantNarrowing, GrantRevocation, GrantUses
from schemas.base import StrictModel

router = protected_router("/v1/grants", ["grants"])


class GrantsPublic(StrictModel):
    data: list[GrantPublic]
    count: int


@router.post("", summary="Request a grant on a conditional resource", status_code=201)
def request_grant(req: GrantRequest, exchange: ExchangeDep, principal: Reader) -> GrantPublic:
    return exchange.grants.request(principal.uscc, req)


@router.get("", summary="Grants you asked for and grants on resources you own")
def list_grants(
    exchange: ExchangeDep,
    principal: CurrentDept,
    status: Annotated[Literal["pending", "approved", "refused", "revoked"] | None, Query()] = None,
) -> GrantsPublic:
    data = exchange.grants.grants_for(principal.uscc, status=status)
    return GrantsPublic(data=data, count=len(data))


@router.get("/{grant_id}", summary="One grant (its consumer or the resource owner only)")
def get_grant(grant_id: str, exchange: ExchangeDep, principal: CurrentDept) -> GrantPublic:
    return exchange.grants.visible(grant_id, principal.uscc)


@router.post("/{grant_id}/decision", summary="The owner approves or refuses, with a reason")
def decide(
    grant_id: str, decision: GrantDecision, exchange: ExchangeDep, principal: Publisher
) -> GrantPublic:
    return exchange.grants.decide(grant_id, principal.uscc, decision)


@router.post(
    "/{grant_id}/revocation",
    summary="The owner revokes an approved grant: the next read under it is refused",
)
def revoke(
    grant_id: str, body: GrantRevocation, exchange: ExchangeDep, principal: Publisher
) -> GrantPublic:
    return exchange.grants.revoke(grant_id, principal.uscc, body.reason)


@router.post(
    "/{grant_id}/narrowing",
    summary="The owner narrows an approved grant: fewer fields or purposes, earlier expiry",
)
def narrow(
    grant_id: str, body: GrantNarrowing, exchange: ExchangeDep, principal: Publisher
) -> GrantPublic:
    return exchange.grants.narrow(grant_id, principal.uscc, body)


@router.get("/{grant_id}/uses", summary="The reads made under a grant (owner or consumer)")
def grant_uses(
    grant_id: str,
    exchange: ExchangeDep,
    principal: CurrentDept,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> GrantUses:
    return exchange.grants.uses(grant_id, principal.uscc, limit=limit)


@router.get("/{grant_id}/history", summary="A grant's request, decision and changes (audited)")
def grant_history(
    grant_id: str, exchange: ExchangeDep, principal: CurrentDept
) -> list[GrantChange]:
    return exchange.grants.history(grant_id, principal.uscc)
