"""Audit pages (auditor): search the trail, prove each entry, the "who used my data" report.

A subject's ID number never goes into a URL: the search by subject and the report are
POST forms (with the session's CSRF token); a GET naming a subject is refused (405,
``exchange.subject_in_url``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse

from exchange.api.deps import ExchangeDep
from exchange.audit.reports import Kind
from exchange.catalog.masking import mask_identifier
from exchange.certificates.vocabulary import CHINA_TIME
from exchange.departments.auth import Principal
from exchange.errors import InvalidRequest, MethodNotAllowed
from exchange.records.query import CASE_PATTERN
from exchange.service import Exchange
from exchange.web.clock import now_beijing
from exchange.web.guard import Auditor, CsrfSession, console_router
from exchange.web.pages import render
from exchange.web.trail import (
    ACTION_LABELS,
    READ_ACTIONS,
    checkpoint_view,
    current_checkpoint,
    trail,
)
from schemas.certificates import load_certificate_types
from schemas.errors import ErrorCode
from schemas.matters import load_matters

__all__ = ["PAGE_SIZE", "router"]

router = console_router("/audit")

PAGE_SIZE = 200
RECENT = 50


def _local(value: str | None, name: str) -> datetime | None:
    """A ``datetime-local`` form value, read as China Standard Time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} must be a date and time, e.g. 2026-01-31T09:00", code=ErrorCode.INVALID_DATE
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TIME)
    return moment.astimezone(UTC)


def _subject_in_url() -> MethodNotAllowed:
    """An ID number never travels in a URL (proxies and logs keep URLs): the refusal."""
    return MethodNotAllowed(
        "a subject's ID number is never sent in a URL: search with the form "
        "(POST /console/audit, field subject; the report: POST /console/audit/subject)",
        code=ErrorCode.SUBJECT_IN_URL,
    )


@router.get("", response_class=HTMLResponse)
def audit(
    request: Request,
    exchange: ExchangeDep,
    principal: Auditor,
    subject: Annotated[str, Query(max_length=64, include_in_schema=False)] = "",
    case: Annotated[str, Query(max_length=64)] = "",
    dept: Annotated[str, Query(max_length=18)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    if subject:
        raise _subject_in_url()
    return _search(request, exchange, principal, "", case, dept, action, since, until)


@router.post("", response_class=HTMLResponse)
def audit_search(
    request: Request,
    exchange: ExchangeDep,
    principal: Auditor,
    _session: CsrfSession,
    subject: Annotated[str, Form(max_length=64)] = "",
    case: Annotated[str, Form(max_length=64)] = "",
    dept: Annotated[str, Form(max_length=18)] = "",
    action: Annotated[str, Form(max_length=64)] = "",
    since: Annotated[str, Form(max_length=32)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
) -> HTMLResponse:
    """The search form (POST: a subject's ID number stays out of every URL)."""
    return _search(request, exchange, principal, subject, case, dept, action, since, until)


def _search(
    request: Request,
    exchange: Exchange,
    principal: Principal,
    subject: str,
    case: str,
    dept: str,
    action: str,
    since: str,
    until: str,
) -> HTMLResponse:
    searched = any((subject, case, dept, action, since, until))
    if case and not re.match(CASE_PATTERN, case):
        raise InvalidRequest(
            "a case number has letters, digits and . _ : / - only",
            code=ErrorCode.INVALID_CASE_NUMBER,
        )
    # the service the API answers with: the same visibility, and the read is itself audited
    found = exchange.audit_reports.entries(
        principal,
        subject=subject.strip().upper() or None,
        dept=dept or None,
        case=case or None,
        action=action or None,
        since=_local(since, "since"),
        until=_local(until, "until"),
        limit=PAGE_SIZE if searched else RECENT,
        offset=0 if searched else max(0, exchange.audit.size - RECENT - 1),
    )
    entries = list(found.entries)
    if not searched:
        entries.reverse()
    checkpoint = current_checkpoint(exchange)
    rows = trail(exchange, entries, checkpoint)
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "checkpoint": checkpoint,
            "searched": searched,
            "unknown_subject": bool(subject) and not rows,
            "truncated": searched and found.next_offset is not None,
            "form": {
                "subject": subject,
                "case": case,
                "dept": dept,
                "action": action,
                "since": since,
                "until": until,
            },
            "departments": exchange.registry.departments(),
            "actions": ACTION_LABELS,
            "verified": sum(1 for r in rows if r.proof.status == "verified"),
        },
        active="audit",
    )


@router.get("/subject", response_class=HTMLResponse)
def who_used_my_data_by_url(principal: Auditor) -> HTMLResponse:
    """Refused: the report is asked for with the form (POST), never with an ID in the URL."""
    raise _subject_in_url()


@router.post("/subject", response_class=HTMLResponse)
def who_used_my_data(
    request: Request,
    exchange: ExchangeDep,
    principal: Auditor,
    _session: CsrfSession,
    subject: Annotated[str, Form(min_length=1, max_length=64)],
    kind: Annotated[Kind, Form()] = "reads",
    before: Annotated[int | None, Form(ge=0, le=2**53 - 1)] = None,
) -> HTMLResponse:
    # the API's report: audited, newest first a page at a time, each entry proven in the
    # latest signed checkpoint (newer ones pending); report lookups on a page of their own
    report = exchange.audit_reports.subject_accesses(
        principal, subject.strip().upper(), view="data", limit=PAGE_SIZE, before=before, kind=kind
    )
    checkpoint = checkpoint_view(exchange, report.checkpoint.note, report.checkpoint.created_at)
    reads = [
        (e, proof)
        for e, proof in report.accesses
        if kind == "lookups" or e.entry.action in READ_ACTIONS
    ]
    rows = trail(exchange, [e for e, _ in reads], checkpoint, [proof for _, proof in reads])
    resources = {d.code: d.name for d, _ in exchange.catalog.resources()}
    resources |= {t.code: t.name for t in load_certificate_types().values()}
    matters = {m.code: m.name for m in load_matters().values()}
    departments = sorted({r.actor_name for r in rows})
    masked = subject.strip().upper()
    masked = mask_identifier(masked, "cn-id" if masked[:6].isdigit() else "uscc")
    return render(
        request,
        "subject_report.html",
        {
            "rows": rows,
            "checkpoint": checkpoint,
            "subject_masked": masked,
            "subject": subject,
            "resources": resources,
            "matters": matters,
            "departments": departments,
            "generated": now_beijing(),
            "known": report.subject_hash is not None,
            "kind": kind,
            "next_before": report.next_before,
            "first_page": before is None,
        },
        active="audit",
    )
