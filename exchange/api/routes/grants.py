"""Grants for conditional resources: request, list, decide (with the answer deadline)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from exchange.api.deps import CurrentDept, ExchangeDep, Publisher, Reader, protected_router
from exchange.catalog.grants import GrantDecision, GrantPublic, GrantRequest
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
    status: Annotated[Literal["pending", "approved", "refused"] | None, Query()] = None,
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
