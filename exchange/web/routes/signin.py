"""Signing in and out of the console, and the home page of a signed-in department.

Two ways in, both with the API's credentials:

* paste an access token (from ``POST /v1/token`` or ``govex token``): checked by
  ``TokenService.authenticate``, the session lives until the token expires;
* in a demo exchange only, pick a demo department: the console signs a client
  assertion with that department's demo key and exchanges it like any client would.

The sign-in form is protected against login CSRF by a double-submit cookie.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

import jwt
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from exchange.departments.auth import AccessToken, Principal
from exchange.errors import AuthError, ExchangeError
from exchange.service import Exchange
from exchange.web.guard import CsrfSession, console_router, session_store
from exchange.web.pages import ConsoleRoute, nav_for, render, safe_next
from exchange.web.session import CONSOLE_PREFIX, LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_matches

__all__ = ["LOGIN_PATH", "public_router", "router"]

LOGIN_PATH = f"{CONSOLE_PREFIX}/login"

public_router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, tags=["console"])
router = console_router()


def _demo_departments(exchange: Exchange) -> list[dict[str, object]]:
    return [
        {"code": d.code, "name": d.name, "roles": list(d.roles)}
        for d in exchange.demo_keys.departments()
    ]


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
            "departments": _demo_departments(exchange),
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


@public_router.post(LOGIN_PATH, response_class=HTMLResponse)
def login(
    request: Request,
    method: Annotated[Literal["token", "demo"], Form()],
    csrf: Annotated[str, Form(max_length=128)] = "",
    access_token: Annotated[str, Form(max_length=8192)] = "",
    department: Annotated[str, Form(max_length=64)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = "",
) -> Response:
    exchange: Exchange = request.app.state.exchange
    target = safe_next(next_path)
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        return _login_page(
            request,
            next_path=target,
            error="登录表单已失效，请重试 · The sign-in form expired or was not sent from this "
            "page; try again.",
            status_code=403,
        )
    try:
        if method == "demo":
            token = _demo_token(exchange, department).access_token
        else:
            token = access_token.strip()
            if not token:
                raise AuthError("paste an access token (from POST /v1/token or `govex token`)")
        principal = exchange.tokens.authenticate(token)
        expires_at = _expiry_of(token)
    except ExchangeError as exc:
        return _login_page(
            request,
            next_path=target,
            error=f"登录失败 · Sign-in refused: {exc.message}",
            status_code=exc.status,
        )
    session = session_store(request).create(token, principal, expires_at)
    destination = target if target != f"{CONSOLE_PREFIX}/" else _home_of(principal)
    response = RedirectResponse(destination, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=max(1, session.remaining_s),
        path=CONSOLE_PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


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
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PREFIX)
    return response
