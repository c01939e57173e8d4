"""Audit pages (auditor): search the trail, prove each entry, the "who used my data" report.

The timeline is a dense table, a page of :data:`TIMELINE_PAGE` entries at a time, sortable
by its columns, with its filters, sort and page in the URL (bookmarkable) and exported as
CSV or JSON exactly as filtered. The console's own page loads (each has its entry:
RELIABILITY D4) are left out of the timeline and its export unless the auditor ticks
显示页面访问 (``pages=1`` in the URL): what the auditor reads are the real uses. A subject's
ID number never goes into a URL: the search by subject, its pages, its export and the
report are POST forms (with the session's CSRF token); a GET naming a subject is refused
(405, ``exchange.subject_in_url``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from exchange.api.deps import ExchangeDep
from exchange.audit.query import StoredEntry
from exchange.audit.reports import Kind
from exchange.catalog.masking import mask_identifier
from exchange.certificates.vocabulary import CHINA_TIME
from exchange.departments.auth import Principal
from exchange.errors import InvalidRequest, MethodNotAllowed
from exchange.records.query import CASE_PATTERN
from exchange.service import Exchange
from exchange.web.clock import beijing, now_beijing
from exchange.web.guard import Auditor, CsrfSession, console_router
from exchange.web.pages import render
from exchange.web.trail import (
    ACTION_LABELS,
    READ_ACTIONS,
    TrailEntry,
    checkpoint_view,
    current_checkpoint,
    trail,
)
from schemas.certificates import load_certificate_types
from schemas.errors import ErrorCode
from schemas.matters import load_matters

__all__ = ["EXPORT_COLUMNS", "PAGE_SIZE", "TIMELINE_PAGE", "router"]

router = console_router("/audit")

PAGE_SIZE = 200  # the subject report's page
TIMELINE_PAGE = 50
EXPORT_LIMIT = 100_000


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


@dataclass(frozen=True)
class Filters:
    """A timeline search: everything but the subject travels in the URL."""

    subject: str = ""
    case: str = ""
    dept: str = ""
    action: str = ""
    since: str = ""
    until: str = ""
    pages: str = ""  # "1": the console's page loads too

    @property
    def searched(self) -> bool:
        return any(astuple(self)[:-1])

    @property
    def page_views(self) -> bool | None:
        """The query's page-load filter: all entries (``None``) or none of the page loads."""
        return None if self.pages else False

    def query(self, **extra: str | int) -> str:
        """The URL query of these filters (never the subject) plus ``extra``."""
        values = {k: v for k, v in asdict(self).items() if v and k != "subject"}
        values |= {k: str(v) for k, v in extra.items() if v not in ("", None)}
        return urlencode(values)


def _entries(
    exchange: Exchange,
    principal: Principal,
    f: Filters,
    *,
    limit: int,
    offset: int | None,
) -> tuple[list[StoredEntry], int | None, int]:
    """One page of the entries matching ``f`` (the API's service: same visibility, audited)."""
    if f.case and not re.match(CASE_PATTERN, f.case):
        raise InvalidRequest(
            "a case number has letters, digits and . _ : / - only",
            code=ErrorCode.INVALID_CASE_NUMBER,
        )
    found = exchange.audit_reports.entries(
        principal,
        subject=f.subject.strip().upper() or None,
        dept=f.dept or None,
        case=f.case or None,
        action=f.action or None,
        since=_local(f.since, "since"),
        until=_local(f.until, "until"),
        limit=limit,
        offset=offset or 0,
        page_views=f.page_views,
        newest=offset is None,
    )
    start = (offset or 0) if found.matched is None else max(0, found.matched - limit)
    return list(found.entries), found.next_offset, start


Subject = Annotated[str, Query(max_length=64, include_in_schema=False)]
Case = Annotated[str, Query(max_length=64)]
Dept = Annotated[str, Query(max_length=18)]
Action = Annotated[str, Query(max_length=64)]
Moment = Annotated[str, Query(max_length=32)]
Pages = Annotated[str, Query(max_length=1)]  # "1": show the console's page loads too
Sort = Annotated[str, Query(max_length=16)]
Offset = Annotated[int | None, Query(ge=0, le=2**53 - 1)]


@router.get("", response_class=HTMLResponse)
def audit(
    request: Request,
    exchange: ExchangeDep,
    principal: Auditor,
    subject: Subject = "",
    case: Case = "",
    dept: Dept = "",
    action: Action = "",
    since: Moment = "",
    until: Moment = "",
    pages: Pages = "",
    sort: Sort = "-seq",
    offset: Offset = None,
) -> HTMLResponse:
    if subject:
        raise _subject_in_url()
    filters = Filters("", case, dept, action, since, until, pages)
    return _search(request, exchange, principal, filters, sort, offset)


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
    pages: Annotated[str, Form(max_length=1)] = "",
    sort: Annotated[str, Form(max_length=16)] = "-seq",
    offset: Annotated[int | None, Form(ge=0, le=2**53 - 1)] = None,
) -> Response:
    """The search form. Without a subject it goes to the URL (bookmarkable, shareable);
    with one it stays a POST, so the ID number never reaches a URL."""
    filters = Filters(subject, case, dept, action, since, until, pages)
    if not subject.strip():
        return RedirectResponse(f"/console/audit?{filters.query(sort=sort)}", status_code=303)
    return _search(request, exchange, principal, filters, sort, offset)


_SORTS: dict[str, Callable[[TrailEntry], Any]] = {
    "seq": lambda r: r.entry.seq,
    "actor": lambda r: (r.actor_name, r.entry.seq),
    "action": lambda r: (r.entry.action, r.entry.seq),
    "outcome": lambda r: (r.entry.outcome, r.entry.seq),
}


def _search(
    request: Request,
    exchange: Exchange,
    principal: Principal,
    filters: Filters,
    sort: str,
    offset: int | None,
) -> HTMLResponse:
    key = sort.lstrip("-")
    if key not in _SORTS:
        key, sort = "seq", "-seq"
    # the newest page first: without filters the log's size says where it is; a search
    # starts at its first match and pages on
    if offset is None and filters.searched:
        offset = 0
    entries, next_offset, offset = _entries(
        exchange, principal, filters, limit=TIMELINE_PAGE, offset=offset
    )
    checkpoint = current_checkpoint(exchange)
    rows = sorted(
        trail(exchange, entries, checkpoint), key=_SORTS[key], reverse=sort.startswith("-")
    )
    previous = max(0, offset - TIMELINE_PAGE) if offset > 0 else None
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "checkpoint": checkpoint,
            "searched": filters.searched,
            "unknown_subject": bool(filters.subject) and not rows,
            "form": filters,
            "sort": sort,
            "offset": offset,
            "previous": previous,
            "next": next_offset,
            "page_size": TIMELINE_PAGE,
            "departments": exchange.registry.departments(),
            "actions": ACTION_LABELS,
            "verified": sum(1 for r in rows if r.proof.status == "verified"),
        },
        active="audit",
    )


EXPORT_COLUMNS = (
    "seq", "ts_beijing", "ts", "actor", "actor_name", "person", "action", "outcome", "code",
    "target", "purpose", "case_no", "subject_hash", "request_hash",
)  # fmt: skip


def _export(
    exchange: Exchange, principal: Principal, filters: Filters, kind: Literal["csv", "json"]
) -> Response:
    """Every entry of the filtered view (up to :data:`EXPORT_LIMIT`), as CSV or JSON."""
    names = {d.uscc: d.name for d in exchange.registry.departments()}
    rows: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None and len(rows) < EXPORT_LIMIT:
        entries, offset, _ = _entries(exchange, principal, filters, limit=1000, offset=offset)
        for stored in entries:
            e = stored.entry
            rows.append(
                {
                    "seq": e.seq,
                    "ts_beijing": beijing(e.ts),
                    "ts": e.ts,
                    "actor": e.actor,
                    "actor_name": names.get(e.actor, ""),
                    "person": e.person or "",
                    "action": e.action,
                    "outcome": e.outcome,
                    "code": e.code or "",
                    "target": e.target or "",
                    "purpose": e.purpose or "",
                    "case_no": e.case_no or "",
                    "subject_hash": e.subject_hash or "",
                    "request_hash": e.request_hash or "",
                }
            )
    rows = rows[:EXPORT_LIMIT]
    stamp = datetime.now(UTC).astimezone(CHINA_TIME).strftime("%Y%m%d-%H%M%S")
    if kind == "json":
        body = json.dumps(rows, ensure_ascii=False, indent=1).encode()
        media = "application/json"
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        body = ("\ufeff" + out.getvalue()).encode()  # BOM: Excel opens UTF-8 as such
        media = "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{kind}"'},
    )


@router.get("/export.{kind}")
def audit_export(
    exchange: ExchangeDep,
    principal: Auditor,
    kind: Literal["csv", "json"],
    subject: Subject = "",
    case: Case = "",
    dept: Dept = "",
    action: Action = "",
    since: Moment = "",
    until: Moment = "",
    pages: Pages = "",
) -> Response:
    """The filtered view as a file (the filters of the URL; a subject: the POST form)."""
    if subject:
        raise _subject_in_url()
    filters = Filters("", case, dept, action, since, until, pages)
    return _export(exchange, principal, filters, kind)


@router.post("/export.{kind}")
def audit_export_subject(
    exchange: ExchangeDep,
    principal: Auditor,
    _session: CsrfSession,
    kind: Literal["csv", "json"],
    subject: Annotated[str, Form(max_length=64)] = "",
    case: Annotated[str, Form(max_length=64)] = "",
    dept: Annotated[str, Form(max_length=18)] = "",
    action: Annotated[str, Form(max_length=64)] = "",
    since: Annotated[str, Form(max_length=32)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
    pages: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """The export of a search by subject (POST: the ID number stays out of the URL)."""
    filters = Filters(subject, case, dept, action, since, until, pages)
    return _export(exchange, principal, filters, kind)


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
