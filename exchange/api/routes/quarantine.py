"""Quarantined records: what ingest refused, and why. Nothing is dropped silently."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from exchange.api.deps import CurrentDept, ExchangeDep, protected_router
from exchange.api.paging import within_bytes
from schemas._base import StrictModel
from schemas.catalog import Role

router = protected_router("/v1/quarantine", ["quarantine"])


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


class QuarantineList(StrictModel):
    data: list[QuarantinePublic]
    count: int
    next_offset: int | None = None


@router.get("", summary="Quarantined records (operator: all; a department: its own)")
def list_quarantine(
    exchange: ExchangeDep,
    principal: CurrentDept,
    resource: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> QuarantineList:
    everyone = principal.has(Role.OPERATOR)
    rows = exchange.store.fetchall(
        "SELECT id, received_at, resource, publisher, batch_id, record_index, key, reason_code, "
        "reason, source FROM quarantine WHERE (? OR publisher = ?) AND (? IS NULL OR resource = ?) "
        "ORDER BY received_at, record_index LIMIT ? OFFSET ?",
        [everyone, principal.uscc, resource, resource, limit, offset],
    )
    cols = list(QuarantinePublic.model_fields)
    found = [QuarantinePublic(**dict(zip(cols, r, strict=True))) for r in rows]
    data = within_bytes(found, exchange.settings.api.max_page_bytes)
    more = len(data) < len(found) or len(found) == limit
    return QuarantineList(
        data=data, count=len(data), next_offset=offset + len(data) if more else None
    )
