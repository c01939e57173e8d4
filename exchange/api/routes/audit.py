"""Audit entries (auditor: everything; a department: its own actions)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from schemas._base import StrictModel
from schemas.catalog import Role

from ..deps import CurrentDept, ExchangeDep, protected_router

router = protected_router("/v1/audit", ["audit"])


class AuditEntryPublic(StrictModel):
    seq: int
    ts: str
    actor: str
    action: str
    outcome: str
    target: str | None
    subject_hash: str | None
    purpose: str | None
    case_no: str | None
    code: str | None
    request_hash: str | None
    detail: dict[str, Any] | None
    leaf_hash: str


class AuditEntries(StrictModel):
    data: list[AuditEntryPublic]
    count: int
    tree_size: int


@router.get("/entries", summary="Search the audit log")
def entries(
    exchange: ExchangeDep,
    principal: CurrentDept,
    subject: Annotated[
        str | None, Query(max_length=64, description="raw ID number or USCC; hashed server-side")
    ] = None,
    dept: Annotated[str | None, Query(max_length=18)] = None,
    case: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditEntries:
    everyone = principal.has(Role.AUDITOR)
    subject_hash = exchange.audit.subject_hash(subject) if subject else None
    rows = exchange.store.fetchall(
        "SELECT seq, ts_text, actor, action, outcome, target, subject_hash, purpose, case_no, "
        "code, request_hash, detail, leaf_hash FROM audit_entries "
        "WHERE (? OR actor = ?) AND (? IS NULL OR subject_hash = ?) AND (? IS NULL OR actor = ?) "
        "AND (? IS NULL OR case_no = ?) AND (? IS NULL OR action = ?) "
        "AND (? IS NULL OR ts >= ?) AND (? IS NULL OR ts < ?) ORDER BY seq LIMIT ? OFFSET ?",
        [
            everyone,
            principal.uscc,
            subject_hash,
            subject_hash,
            dept,
            dept,
            case,
            case,
            action,
            action,
            since,
            since,
            until,
            until,
            limit,
            offset,
        ],
    )
    data = [
        AuditEntryPublic(
            seq=r[0],
            ts=r[1],
            actor=r[2],
            action=r[3],
            outcome=r[4],
            target=r[5],
            subject_hash=r[6],
            purpose=r[7],
            case_no=r[8],
            code=r[9],
            request_hash=r[10],
            detail=json.loads(r[11]) if r[11] else None,
            leaf_hash=bytes(r[12]).hex(),
        )
        for r in rows
    ]
    return AuditEntries(data=data, count=len(data), tree_size=exchange.audit.size)
