"""Quarantined records: what ingest refused, and why. Nothing is dropped silently."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from exchange.api.deps import CurrentDept, ExchangeDep, protected_router
from exchange.api.paging import within_bytes
from exchange.records.quarantine import QuarantinePublic
from exchange.records.quarantine import list_quarantine as quarantined
from schemas.base import StrictModel
from schemas.catalog import Role

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
