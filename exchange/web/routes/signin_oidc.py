"""通过本单位统一身份认证登录: staff sign in through their department's own identity provider.

For departments with a provider of their own (``govex staff oidc``,
:mod:`exchange.departments.staff_oidc`) the sign-in page offers one link each:

* ``GET /console/login/oidc?dept=CODE`` → the department's provider (authorization code
  + PKCE, :class:`~exchange.web.oidc_client.OidcClient`), the sign-in bound to this
  browser by a state cookie;
* ``GET /console/login/oidc/callback`` ← back: the code redeemed, the ID token validated
  by the same client as the citizens' sign-in, and the configured claim must name an
  active staff account of *that* department
  (:meth:`~exchange.departments.staff.Staff.oidc_member`).

The session is the same kind as a password sign-in (``method`` ``oidc``): it names the
person, and so does every audit entry it leaves. The callback answers a page of the
exchange's own that moves on to the person's home page (a redirect chain begun at the
provider's site would not carry the ``SameSite=Strict`` session cookie). Sign-ins and refusals are
``console.signin`` entries; failed callbacks are slowed per address.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from exchange.departments.staff_oidc import DepartmentOidc
from exchange.departments.throttle import SignInThrottle
from exchange.errors import AuthError, ExchangeError, NotFound
from exchange.service import Exchange
from exchange.web.guard import session_store
from exchange.web.oidc_client import OidcClients, take_pending
from exchange.web.pages import ConsoleRoute
from exchange.web.routes.signin import (
    _address,
    _audit_signin,
    _destination,
    _login_page,
    _set_session_cookie,
)
from exchange.web.session import CONSOLE_PREFIX
from schemas.errors import ErrorCode

__all__ = ["OIDC_LOGIN_PATH", "STAFF_OIDC_PATHS", "router"]

OIDC_LOGIN_PATH = f"{CONSOLE_PREFIX}/login/oidc"
OIDC_CALLBACK_PATH = f"{OIDC_LOGIN_PATH}/callback"
STAFF_OIDC_PATHS = frozenset({OIDC_LOGIN_PATH, OIDC_CALLBACK_PATH})
STATE_COOKIE = "govex_staff_oidc_state"

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, tags=["console"])


def _clients(request: Request) -> OidcClients[str, DepartmentOidc]:
    clients: OidcClients[str, DepartmentOidc] = request.app.state.staff_oidc
    return clients


def _redirect_uri(request: Request, exchange: Exchange) -> str:
    base = exchange.settings.citizen.redirect_base or str(request.base_url)
    return base.rstrip("/") + OIDC_CALLBACK_PATH


def _state_cookie(request: Request, response: Response, value: str | None) -> None:
    if value is None:
        response.delete_cookie(STATE_COOKIE, path=OIDC_LOGIN_PATH)
        return
    # Lax, not Strict: the provider sends the browser back here from another site
    response.set_cookie(
        STATE_COOKIE,
        value,
        max_age=600,
        path=OIDC_LOGIN_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _refused(request: Request, exc: ExchangeError) -> Response:
    page = _login_page(
        request,
        next_path=f"{CONSOLE_PREFIX}/",
        error=f"登录失败 · Sign-in refused: {exc.message}",
        status_code=exc.status,
    )
    _state_cookie(request, page, None)
    return page


@router.get(OIDC_LOGIN_PATH)
def begin(request: Request, dept: Annotated[str, Query(max_length=64)] = "") -> Response:
    """Send the browser to the department's own provider."""
    exchange: Exchange = request.app.state.exchange
    try:
        uscc = exchange.registry.by_code(dept.strip()).uscc
        client = _clients(request).client(uscc)
        if client is None:
            raise NotFound(
                f"department {dept!r} has no identity provider of its own; sign in with "
                "your staff id and password",
                code=ErrorCode.NOT_FOUND,
            )
        url, pending = client.begin(_redirect_uri(request, exchange), context=uscc)
    except ExchangeError as exc:
        return _refused(request, exc)
    response = RedirectResponse(url, status_code=303)
    _state_cookie(request, response, pending.state)
    return response


@router.get(OIDC_CALLBACK_PATH)
def callback(
    request: Request,
    state: Annotated[str, Query(max_length=256)] = "",
    code: Annotated[str, Query(max_length=4096)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """Back from the provider: the person it names, signed in (or refused, audited)."""
    exchange: Exchange = request.app.state.exchange
    throttle: SignInThrottle = request.app.state.signin_throttle
    clients = _clients(request)
    address = _address(request)
    account = f"oidc:{address}"  # failures here are forged or replayed callbacks
    uscc, person = "anonymous", None
    try:
        throttle.check(account, address)
        if error or not code:
            raise AuthError(
                f"the identity provider answered {error or 'without a code'}",
                code=ErrorCode.SIGNIN_FAILED,
            )
        pending = take_pending(
            clients.pending, state, request.cookies.get(STATE_COOKIE), ErrorCode.SIGNIN_FAILED
        )
        uscc = pending.context
        client = clients.client(uscc)
        if client is None:
            raise AuthError(
                "the department no longer signs in through its own provider",
                code=ErrorCode.SIGNIN_FAILED,
            )
        member = exchange.staff.oidc_member(client.settings, client.redeem(pending, code))
        person = member.staff_id
        session, ended = session_store(request).create(
            uscc, staff_id=person, method="oidc", address=address
        )
    except ExchangeError as exc:
        if exc.code != ErrorCode.RATE_LIMITED:
            throttle.failed(account, address)
        _audit_signin(exchange, uscc, "oidc", address, account, exc.code)
        return _refused(request, exc)
    throttle.succeeded(account)
    _audit_signin(exchange, uscc, "oidc", address, account, None, person=person, ended=ended)
    target = html.escape(_destination(exchange, f"{CONSOLE_PREFIX}/", uscc, person))
    # a page of our own site moves on, not a redirect: the session cookie is SameSite
    # Strict, and a redirect chain begun at the provider's site would not carry it
    response = HTMLResponse(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={target}"><title>已登录 Signed in</title>'
        f'</head><body><p><a id="continue" href="{target}">已登录，继续 · Signed in; '
        "continue</a></p></body></html>",
        headers={"cache-control": "no-store"},
    )
    _set_session_cookie(request, response, session)
    _state_cookie(request, response, None)
    return response
