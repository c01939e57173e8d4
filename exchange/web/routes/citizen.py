"""我的数据使用记录: a citizen signs in through the identity provider and sees who read their data.

These pages are outside the staff's sign-in (public to the API's guard, like the sign-in
page) and each checks the citizen's own session instead. What a citizen can do:

* ``GET /console/citizen`` — their report (newest first, ``?before=`` pages back), or
  the sign-in page;
* ``GET /console/citizen/login`` → the provider; ``GET /console/citizen/callback`` ← back;
* ``POST /console/citizen/records`` — the report by form; naming any other subject is
  refused (``exchange.not_your_data``) and audited;
* ``POST /console/citizen/logout``.

Sign-ins (ok or refused) and refusals are audit entries (``citizen.sign_in``,
``audit.subject_report``); the report itself is audited by :class:`AuditReports`.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from exchange.audit.log import AuditEvent
from exchange.catalog.masking import mask_identifier
from exchange.config import CitizenSettings
from exchange.errors import AuthError, ExchangeError, Forbidden
from exchange.service import Exchange
from exchange.web.citizen import (
    CITIZEN_COOKIE,
    CITIZEN_PREFIX,
    CITIZEN_STATE_COOKIE,
    CitizenSession,
    CitizenSessions,
    citizen_actor,
    citizen_report,
)
from exchange.web.clock import now_beijing
from exchange.web.oidc_client import OidcClient, citizen_of
from exchange.web.pages import ConsoleRoute, render
from exchange.web.session import csrf_matches
from schemas.errors import ErrorCode

__all__ = ["CITIZEN_PATHS", "PAGE_SIZE", "router"]

PAGE_SIZE = 50
CALLBACK = f"{CITIZEN_PREFIX}/callback"
CITIZEN_PATHS = frozenset(
    {
        CITIZEN_PREFIX,
        f"{CITIZEN_PREFIX}/login",
        CALLBACK,
        f"{CITIZEN_PREFIX}/records",
        f"{CITIZEN_PREFIX}/logout",
    }
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, tags=["console"])


def _oidc(request: Request) -> OidcClient[CitizenSettings]:
    client: OidcClient[CitizenSettings] = request.app.state.citizen_oidc
    return client


def _sessions(request: Request) -> CitizenSessions:
    sessions: CitizenSessions = request.app.state.citizen_sessions
    return sessions


def _exchange(request: Request) -> Exchange:
    exchange: Exchange = request.app.state.exchange
    return exchange


def _session(request: Request) -> CitizenSession | None:
    return _sessions(request).get(request.cookies.get(CITIZEN_COOKIE))


def _redirect_uri(request: Request) -> str:
    base = _oidc(request).settings.redirect_base or str(request.base_url)
    return base.rstrip("/") + CALLBACK


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    # Lax, not Strict: the provider sends the browser back here from another site
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=CITIZEN_PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _signin_page(request: Request, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    return render(
        request,
        "citizen_signin.html",
        {"enabled": _oidc(request).enabled, "error": error},
        status_code=status,
    )


@router.get(f"{CITIZEN_PREFIX}/login")
def begin(request: Request) -> Response:
    """Send the browser to the identity provider (authorization code + PKCE)."""
    try:
        url, pending = _oidc(request).begin(_redirect_uri(request))
    except ExchangeError as exc:
        return _signin_page(request, error=exc.message, status=exc.status)
    response = RedirectResponse(url, status_code=303)
    _cookie(request, response, CITIZEN_STATE_COOKIE, pending.state, 600)
    return response


@router.get(CALLBACK)
def callback(
    request: Request,
    state: Annotated[str, Query(max_length=256)] = "",
    code: Annotated[str, Query(max_length=4096)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    exchange = _exchange(request)
    try:
        if error or not code:
            raise AuthError(
                f"the identity provider answered {error or 'without a code'}",
                code=ErrorCode.CITIZEN_SIGN_IN_FAILED,
            )
        oidc = _oidc(request)
        claims = oidc.finish(state, code, request.cookies.get(CITIZEN_STATE_COOKIE))
        citizen = citizen_of(claims, oidc.settings.id_claim)
    except ExchangeError as exc:
        exchange.audit.append(
            AuditEvent(
                actor="citizen",
                action="citizen.sign_in",
                outcome="refused",
                target="oidc",
                code=exc.code.value,
            )
        )
        response = _signin_page(request, error=exc.message, status=exc.status)
        response.delete_cookie(CITIZEN_STATE_COOKIE, path=CITIZEN_PREFIX)
        return response
    exchange.audit.append(
        AuditEvent(
            actor=citizen_actor(citizen),
            action="citizen.sign_in",
            outcome="ok",
            target="oidc",
            subject_hash=exchange.audit.find_subject_hash(citizen.id_number),
            detail={"issuer": citizen.issuer},
        )
    )
    address = request.client.host if request.client is not None else None
    session = _sessions(request).create(citizen, address=address)
    signed_in = RedirectResponse(CITIZEN_PREFIX, status_code=303)
    lifetime = max(1, int(session.expires_at - time.time()))  # idle ends are the server's
    _cookie(request, signed_in, CITIZEN_COOKIE, session.id, lifetime)
    signed_in.delete_cookie(CITIZEN_STATE_COOKIE, path=CITIZEN_PREFIX)
    return signed_in


def _report_page(request: Request, session: CitizenSession, before: int | None) -> HTMLResponse:
    exchange = _exchange(request)
    citizen = session.citizen
    report = exchange.audit_reports.own_accesses(
        citizen_actor(citizen), citizen.id_number, limit=PAGE_SIZE, before=before
    )
    return render(
        request,
        "citizen.html",
        {
            "citizen": citizen,
            "citizen_session": session,
            "subject_masked": mask_identifier(citizen.id_number, "cn-id"),
            "report": citizen_report(exchange, report),
            "generated": now_beijing(),
            "first_page": before is None,
        },
    )


@router.get(CITIZEN_PREFIX, response_class=HTMLResponse)
def my_records(
    request: Request,
    before: Annotated[int | None, Query(ge=0, le=2**53 - 1)] = None,
) -> HTMLResponse:
    session = _session(request)
    if session is None:
        return _signin_page(request)
    return _report_page(request, session, before)


@router.post(f"{CITIZEN_PREFIX}/records", response_class=HTMLResponse)
def records(
    request: Request,
    csrf: Annotated[str, Form(max_length=128)] = "",
    subject: Annotated[str, Form(alias="id", max_length=64)] = "",
    before: Annotated[int | None, Form(ge=0, le=2**53 - 1)] = None,
) -> HTMLResponse:
    """The report by form. A citizen sees only their own: any other subject is refused,
    and the refusal is an audit entry about the subject asked for."""
    session = _session(request)
    if session is None:
        return _signin_page(request, status=401)
    if not csrf_matches(session.csrf, csrf):
        raise Forbidden(
            "this form was not sent from your page (CSRF check failed); reload and try again"
        )
    asked = subject.strip().upper()
    if asked and asked != session.citizen.id_number:
        exchange = _exchange(request)
        exchange.audit.append(
            AuditEvent(
                actor=citizen_actor(session.citizen),
                action="audit.subject_report",
                outcome="refused",
                target="subject",
                subject_hash=exchange.audit.find_subject_hash(asked),
                code=ErrorCode.NOT_YOUR_DATA.value,
                detail={"kind": "reads"},
            )
        )
        raise Forbidden(
            "你只能查看本人的数据使用记录 · You can see only your own data's uses",
            code=ErrorCode.NOT_YOUR_DATA,
        )
    return _report_page(request, session, before)


@router.post(f"{CITIZEN_PREFIX}/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    session = _session(request)
    if session is not None and csrf_matches(session.csrf, csrf):
        _sessions(request).drop(session.id)
    response = RedirectResponse(CITIZEN_PREFIX, status_code=303)
    response.delete_cookie(CITIZEN_COOKIE, path=CITIZEN_PREFIX)
    return response
