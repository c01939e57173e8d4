"""Grant pages: request a grant, the owner's queue with answer deadlines, decisions, and
the owner's approved grants: their reads, revoke, narrow.

Requests and decisions go through the grants service, which applies the rules and writes
the audit entries for the API and the console alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from exchange.api.deps import ExchangeDep
from exchange.catalog.grants import GrantDecision, GrantPublic, GrantRequest
from exchange.catalog.grants_calendar import BEIJING
from exchange.catalog.grants_owner import GrantNarrowing
from exchange.errors import InvalidRequest
from exchange.web.guard import CsrfSession, Departmental, Reader, console_router
from exchange.web.pages import render

__all__ = ["router"]

router = console_router("/grants")


def _invalid(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return InvalidRequest(f"{where}: {first.get('msg', 'invalid')}".lstrip(": "))


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").replace("\n", ",").split(",") if p.strip()]


@router.get("", response_class=HTMLResponse)
def grants(
    request: Request,
    exchange: ExchangeDep,
    principal: Reader,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    every = exchange.grants.grants_for(principal.uscc)
    queue = [g for g in every if g.owner == principal.uscc and g.status == "pending"]
    queue.sort(key=lambda g: (g.answer_due, g.requested_at))
    decided = [g for g in every if g.owner == principal.uscc and g.status != "pending"]
    active = [g for g in decided if g.active]
    uses = {g.id: exchange.grants.uses(g.id, principal.uscc, limit=5) for g in active}
    mine = [g for g in every if g.consumer == principal.uscc]
    names = {d.uscc: d.name for d in exchange.registry.departments()}
    resources = {d.code: d for d, _ in exchange.catalog.resources()}
    today = date.today()
    return render(
        request,
        "grants.html",
        {
            "queue": queue,
            "decided": decided,
            "active": active,
            "uses": uses,
            "mine": mine,
            "names": names,
            "resources": resources,
            "today": today,
            "done": next((g for g in every if g.id == done), None) if done else None,
        },
        active="grants",
    )


@router.post("")
def request_grant(
    exchange: ExchangeDep,
    principal: Reader,
    _: CsrfSession,
    resource: Annotated[str, Form(max_length=128)],
    reason: Annotated[str, Form(max_length=1000)],
    expires_on: Annotated[date, Form()],
    fields: Annotated[list[str] | None, Form()] = None,
    purposes: Annotated[list[str] | None, Form()] = None,
) -> RedirectResponse:
    try:
        req = GrantRequest(
            resource=resource,
            fields=fields or [],
            purposes=[p for text in purposes or [] for p in _split(text)],
            reason=reason.strip(),
            expires_at=datetime.combine(expires_on, time(23, 59, 59), tzinfo=UTC),
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    grant: GrantPublic = exchange.grants.request(principal.uscc, req)
    return RedirectResponse(f"/console/grants?done={grant.id}", status_code=303)


@router.post("/{grant_id}/decision")
def decide(
    grant_id: str,
    exchange: ExchangeDep,
    principal: Departmental,
    _: CsrfSession,
    answer: Annotated[Literal["approve", "refuse"], Form()],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    try:
        decision = GrantDecision(approve=answer == "approve", reason=reason.strip())
    except ValidationError as exc:
        raise _invalid(exc) from exc
    grant = exchange.grants.decide(grant_id, principal.uscc, decision)
    return RedirectResponse(f"/console/grants?done={grant.id}", status_code=303)


@router.post("/{grant_id}/revocation")
def revoke(
    grant_id: str,
    exchange: ExchangeDep,
    principal: Departmental,
    _: CsrfSession,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    if not reason.strip():
        raise InvalidRequest("请填写撤销理由 (give a reason for revoking)")
    grant = exchange.grants.revoke(grant_id, principal.uscc, reason.strip())
    return RedirectResponse(f"/console/grants?done={grant.id}", status_code=303)


@router.post("/{grant_id}/narrowing")
def narrow(
    grant_id: str,
    exchange: ExchangeDep,
    principal: Departmental,
    _: CsrfSession,
    reason: Annotated[str, Form(max_length=1000)] = "",
    fields: Annotated[list[str] | None, Form()] = None,
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> RedirectResponse:
    try:
        until = date.fromisoformat(expires_on) if expires_on else None
        change = GrantNarrowing(
            fields=fields or None,
            expires_at=datetime.combine(until, time(23, 59, 59), tzinfo=BEIJING) if until else None,
            reason=reason.strip(),
        )
    except ValueError as exc:
        raise InvalidRequest(f"缩小授权的输入有误 (invalid narrowing): {exc}") from exc
    grant = exchange.grants.narrow(grant_id, principal.uscc, change)
    return RedirectResponse(f"/console/grants?done={grant.id}", status_code=303)
