"""Quarantined records: what ingest refused, and why. Nothing is dropped silently."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path as PathParam
from fastapi import Query
from pydantic import Field

from exchange.api.deps import CurrentDept, ExchangeDep, protected_router
from exchange.api.paging import within_bytes
from exchange.errors import Forbidden
from exchange.records.quarantine import QuarantinePublic
from exchange.records.quarantine import list_quarantine as quarantined
from schemas.base import StrictModel
from schemas.catalog import Role
from schemas.errors import ErrorCode

router = protected_router("/v1/quarantine", ["quarantine"])


class QuarantineList(StrictModel):
    data: list[QuarantinePublic]
    count: int
    next_offset: int | None = None


@router.get(
    "",
    summary="Quarantined records (operator: all, identifiers masked; a department: its own)",
)
def list_quarantine(
    exchange: ExchangeDep,
    principal: CurrentDept,
    resource: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> QuarantineList:
    data = quarantined(
        exchange.store,
        principal.uscc,
        everyone=principal.has(Role.OPERATOR),
        resource=resource,
        limit=limit,
        offset=offset,
    )
    page = within_bytes(data, exchange.settings.api.max_page_bytes)
    more = len(page) < len(data) or len(data) == limit
    return QuarantineList(
        data=page, count=len(page), next_offset=offset + len(page) if more else None
    )


class QuarantineDecision(StrictModel):
    decision: Literal["release", "discard"]
    reason: str = Field(min_length=1, max_length=500)


class QuarantineDecided(StrictModel):
    id: str
    ref: str = Field(description="the row's reference, the same on every node of a cluster")
    decision: str


@router.post(
    "/{quarantine_id}/decision",
    summary="Release or discard a quarantined record (operator; decided once)",
)
def decide(
    quarantine_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    body: QuarantineDecision,
    exchange: ExchangeDep,
    principal: CurrentDept,
) -> QuarantineDecided:
    if not principal.has(Role.OPERATOR):
        raise Forbidden(
            "only the exchange's operator decides on quarantined records",
            code=ErrorCode.ROLE_FORBIDDEN,
        )
    ref = exchange.quarantine.decide_row(quarantine_id, body.decision, body.reason, principal.uscc)
    return QuarantineDecided(id=quarantine_id, ref=ref, decision=body.decision)
