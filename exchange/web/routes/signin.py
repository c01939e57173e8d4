"""Signing in and out of the console, enrolment, and the home page of a signed-in person.

Three ways in:

* **staff**: a staff member's id and password, and a TOTP code where their roles need
  one (:meth:`exchange.departments.staff.Staff.check_password`); the session names the
  person, and so does every audit entry it leaves;
* paste an access token (from the token endpoint or ``govex token``): checked by
  ``TokenService.authenticate``, the session ends when the token would have;
* in a demo exchange bound to loopback only, pick a demo department: the console signs
  a client assertion with that department's demo key and exchanges it like any client.

(And staff of a department with its own identity provider sign in through it:
:mod:`exchange.web.routes.signin_oidc`, offered on this page.)

Failed attempts are slowed per account and per address
(:class:`~exchange.departments.throttle.SignInThrottle`); every sign-in, failed sign-in
and sign-out is audited (``console.signin``, ``console.signout``; never a secret). The
sign-in and enrolment forms are protected against login CSRF by a double-submit cookie.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

import jwt
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from exchange.audit.log import AuditEvent
from exchange.departments.auth import AccessToken, Principal
from exchange.departments.staff import Enrolled
from exchange.departments.throttle import SignInThrottle
from exchange.errors import AuthError, ExchangeError, Forbidden
from exchange.service import Exchange
from exchange.web.guard import CsrfSession, console_router, session_store
from exchange.web.pages import ConsoleRoute, nav_for, render, safe_next
from exchange.web.session import CONSOLE_PREFIX, LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_matches
from schemas.errors import ErrorCode

__all__ = ["ENROL_PATH", "LOGIN_PATH", "oidc_departments", "public_router", "router"]

LOGIN_PATH = f"{CONSOLE_PREFIX}/login"
ENROL_PATH = f"{CONSOLE_PREFIX}/enrol"

public_router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, tags=["console"])
router = console_router()


def _demo_picker(request: Request) -> bool:
    return bool(getattr(request.app.state, "demo_picker", False))


def _demo_departments(request: Request, exchange: Exchange) -> list[dict[str, object]]:
    """The picker's departments: those with a demo key, on a demo exchange on loopback."""
    if not _demo_picker(request):
        return []
    return [
        {"code": d.code, "name": d.name, "roles": list(d.roles)}
        for d in exchange.demo_keys.departments()
    ]


def oidc_departments(exchange: Exchange) -> list[dict[str, str]]:
    """The departments whose staff sign in through their own identity provider
    (:mod:`exchange.web.routes.signin_oidc`)."""
    found = [exchange.registry.department(s.uscc) for s in exchange.staff.oidc.configured()]
    return [{"code": d.code, "name": d.name} for d in found]


def _login_page(
    request: Request,
    *,
    next_path: str,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    exchange: Exchange = request.app.state.exchange
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next": next_path,
            "error": error,
            "notice": notice,
            "departments": _demo_departments(request, exchange),
            "oidc_departments": oidc_departments(exchange),
            "demo_exchange": exchange.identity.demo,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=1800,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@public_router.get(LOGIN_PATH, response_class=HTMLResponse)
def login_form(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=512)] = None,
    expired: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    notice = "会话已过期，请重新登录 · Your session expired; sign in again." if expired else None
    return _login_page(request, next_path=safe_next(next_path), notice=notice)


def _expiry_of(access_token: str) -> float:
    """The ``exp`` of a token that ``authenticate`` has already verified."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return float(claims["exp"])


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@public_router.post(LOGIN_PATH, response_class=HTMLResponse)
def login(
    request: Request,
    method: Annotated[Literal["staff", "token", "demo"], Form()],
    csrf: Annotated[str, Form(max_length=128)] = "",
    access_token: Annotated[str, Form(max_length=8192)] = "",
    department: Annotated[str, Form(max_length=64)] = "",
    staff_id: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    totp: Annotated[str, Form(max_length=16)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = "",
) -> Response:
    exchange: Exchange = request.app.state.exchange
    throttle: SignInThrottle = request.app.state.signin_throttle
    target = safe_next(next_path)
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        return _login_page(
            request,
            next_path=target,
            error="登录表单已失效，请重试 · The sign-in form expired or was not sent from this "
            "page; try again.",
            status_code=403,
        )
    address = _address(request)
    account = {"staff": staff_id.strip(), "token": "token:", "demo": f"demo:{department}"}[method]
    uscc, person = "anonymous", None
    try:
        throttle.check(account, address)
        if method == "staff":
            member = exchange.staff.check_password(staff_id.strip(), password, totp)
            uscc, person, expires_at = member.uscc, member.staff_id, None
        else:
            if method == "demo":
                if not _demo_picker(request):
                    raise Forbidden(
                        "the demo department picker works only on a demo exchange served on "
                        "loopback; sign in as staff or paste an access token",
                        code=ErrorCode.FORBIDDEN,
                    )
                token = _demo_token(exchange, department).access_token
            else:
                token = access_token.strip()
                if not token:
                    raise AuthError("paste an access token (from `govex token`)")
            principal = exchange.tokens.authenticate(token)
            uscc, person, expires_at = principal.uscc, principal.person, _expiry_of(token)
        session, ended = session_store(request).create(
            uscc, staff_id=person, method=method, address=address, expires_at=expires_at
        )
    except ExchangeError as exc:
        if exc.code != ErrorCode.RATE_LIMITED:
            throttle.failed(account, address)
        _audit_signin(exchange, uscc, method, address, account, exc.code)
        return _login_page(
            request,
            next_path=target,
            error=f"登录失败 · Sign-in refused: {exc.message}",
            status_code=exc.status,
        )
    throttle.succeeded(account)
    _audit_signin(exchange, uscc, method, address, account, None, person=person, ended=ended)
    response = RedirectResponse(_destination(exchange, target, uscc, person), status_code=303)
    _set_session_cookie(request, response, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


def _audit_signin(
    exchange: Exchange,
    uscc: str,
    method: str,
    address: str,
    account: str,
    code: str | None,
    *,
    person: str | None = None,
    ended: list[str] | None = None,
) -> None:
    """One ``console.signin`` entry: who, how, from where; never a password or token."""
    detail: dict[str, object] = {"method": method, "address": address}
    if ended:
        detail["ended_own_sessions"] = len(ended)
    exchange.audit.append(
        AuditEvent(
            actor=uscc,
            action="console.signin",
            outcome="refused" if code else "ok",
            target=account[:64] if method == "staff" else None,
            code=code,
            detail=detail,
            person=person,
        )
    )


def _destination(exchange: Exchange, target: str, uscc: str, person: str | None) -> str:
    if target != f"{CONSOLE_PREFIX}/":
        return target
    department = exchange.registry.department(uscc)
    roles = frozenset(department.roles)
    member = exchange.staff.member(person) if person else None
    if member is not None:
        roles = member.department_roles(roles)
    return _home_of(Principal(uscc, department.code, department.name, roles, "", person))


def _demo_token(exchange: Exchange, code: str) -> AccessToken:
    assertion = exchange.demo_keys.assertion(code, exchange.tokens.token_endpoint)
    return exchange.tokens.exchange_assertion(assertion)


def _home_of(principal: Principal) -> str:
    pages = nav_for(principal)
    return pages[0].href if pages else f"{CONSOLE_PREFIX}/"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html", {"pages": nav_for(request.state.principal)})


@router.post("/logout")
def logout(request: Request, session: CsrfSession) -> Response:
    session_store(request).drop(session.id)
    exchange: Exchange = request.app.state.exchange
    exchange.audit.append(
        AuditEvent(
            actor=session.uscc,
            action="console.signout",
            outcome="ok",
            detail={"method": session.method},
            person=session.staff_id,
        )
    )
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PREFIX)
    return response


def _enrol_page(
    request: Request,
    *,
    error: str | None = None,
    enrolled: Enrolled | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "enrol.html",
        {"login_csrf": token, "error": error, "enrolled": enrolled},
        status_code=status_code,
    )
    response.headers["cache-control"] = "no-store"
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=1800,
        path=ENROL_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@public_router.get(ENROL_PATH, response_class=HTMLResponse)
def enrol_form(request: Request) -> HTMLResponse:
    return _enrol_page(request)


@public_router.post(ENROL_PATH, response_class=HTMLResponse)
def enrol(
    request: Request,
    csrf: Annotated[str, Form(max_length=128)] = "",
    staff_id: Annotated[str, Form(max_length=64)] = "",
    code: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set the password with the one-time enrolment code; show a TOTP secret once."""
    exchange: Exchange = request.app.state.exchange
    throttle: SignInThrottle = request.app.state.signin_throttle
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        return _enrol_page(
            request, error="表单已失效，请重试 · The form expired; try again.", status_code=403
        )
    account, address = f"enrol:{staff_id.strip()}", _address(request)
    try:
        throttle.check(account, address)
        enrolled = exchange.staff.enrol(staff_id.strip(), code, password)
    except ExchangeError as exc:
        if exc.code != ErrorCode.RATE_LIMITED:
            throttle.failed(account, address)
        return _enrol_page(
            request, error=f"注册失败 · Enrolment refused: {exc.message}", status_code=exc.status
        )
    throttle.succeeded(account)
    response = _enrol_page(request, enrolled=enrolled)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=ENROL_PATH)
    return response


def _set_session_cookie(request: Request, response: Response, session: Any) -> None:
    """The console session's cookie: this path only, HTTP-only, same-site strict."""
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=max(1, int(session.expires_at - session.created_at)),
        path=CONSOLE_PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
