"""Rendering console pages: templates, the navigation a role sees, errors as pages.

Console routes use :class:`ConsoleRoute`: for a browser (``Accept: text/html``) an
unauthenticated request is redirected to the sign-in page and any other refusal is
rendered as a page saying what is wrong in Chinese with English beside it. Every other
client gets the API's own RFC 9457 problem+json, so the console is refused exactly like
the API (same ``current_principal``, same role checks, same codes).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from exchange.departments.auth import Principal
from exchange.errors import AuthError, ExchangeError
from exchange.service import Exchange
from exchange.web.clock import beijing
from exchange.web.licence import check_label
from exchange.web.messages import field_title, humanise, message_for, resource_name
from exchange.web.session import CONSOLE_PREFIX, SESSION_COOKIE, SESSION_SCOPE_KEY, Session
from schemas.catalog import Role
from schemas.errors import SchemaError
from signing.errors import SigningError

__all__ = [
    "NAV",
    "ConsoleRoute",
    "NavItem",
    "render",
    "safe_next",
    "templates",
    "wants_html",
]

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

# pages are never cached, never framed, and run only our own scripts and styles
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class NavItem:
    """A console page in the navigation, shown to the roles that may open it."""

    key: str
    href: str
    zh: str
    en: str
    roles: frozenset[Role]


_ALL = frozenset(Role)
NAV: tuple[NavItem, ...] = (
    NavItem(
        "verify",
        "/console/verify",
        "证照核验",
        "Verify",
        frozenset({Role.APPROVER, Role.DEPARTMENT}),
    ),
    NavItem("cases", "/console/cases", "一件事办理", "Case", frozenset({Role.APPROVER})),
    NavItem("audit", "/console/audit", "审计追溯", "Audit", frozenset({Role.AUDITOR})),
    NavItem("dashboard", "/console/dashboard", "运行概况", "Dashboard", frozenset({Role.OPERATOR})),
    NavItem("catalog", "/console/catalog", "资源目录", "Catalog", _ALL),
    NavItem(
        "grants",
        "/console/grants",
        "共享授权",
        "Grants",
        frozenset({Role.DEPARTMENT, Role.APPROVER}),
    ),
)

ROLE_LABELS = {
    Role.DEPARTMENT: ("部门", "department"),
    Role.APPROVER: ("审批窗口", "approver"),
    Role.AUDITOR: ("审计", "auditor"),
    Role.OPERATOR: ("运维", "operator"),
}
templates.env.globals["ROLE_LABELS"] = ROLE_LABELS
templates.env.filters["beijing"] = beijing
templates.env.filters["beijing_min"] = partial(beijing, seconds=False)
templates.env.filters["field_title"] = field_title
templates.env.filters["resource_name"] = resource_name
templates.env.filters["humanise"] = humanise
templates.env.globals["message_for"] = message_for
templates.env.filters["check_name"] = lambda name: check_label(name)[0]

_STATUS_TITLES = {
    401: ("请先登录", "Sign-in needed"),
    403: ("无权访问", "Not allowed"),
    404: ("未找到", "Not found"),
    409: ("状态冲突", "Conflict"),
    413: ("内容过大", "Too large"),
    422: ("输入有误", "Invalid input"),
    503: ("暂不可用", "Unavailable"),
}


def wants_html(request: Request) -> bool:
    """A browser navigating (rather than an API client) asks for HTML."""
    return "text/html" in request.headers.get("accept", "")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if (
        value
        and value.startswith(CONSOLE_PREFIX + "/")
        and not value.startswith("//")
        and "\\" not in value
        and "://" not in value
    ):
        return value
    return f"{CONSOLE_PREFIX}/"


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [item for item in NAV if item.roles & principal.roles]


def session_of(request: Request) -> Session | None:
    session = request.scope.get(SESSION_SCOPE_KEY)
    return session if isinstance(session, Session) else None


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    active: str | None = None,
) -> HTMLResponse:
    """Render a console page with the chrome every page shares."""
    exchange: Exchange = request.app.state.exchange
    principal = getattr(request.state, "principal", None)
    session = session_of(request)
    base = {
        "request": request,
        "principal": principal,
        "session": session,
        "csrf": session.csrf if session is not None else "",
        "nav": nav_for(principal),
        "active": active,
        "exchange_name": exchange.identity.name,
        "demo": exchange.identity.demo,
    }
    response = templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """A refusal as a page: the code's Chinese message, what to do, the link that does it."""
    zh, en = _STATUS_TITLES.get(status, ("出错了", "Error"))
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title_zh": zh,
            "title_en": en,
            "code": code,
            "said": message_for(code),
            "detail": humanise(message),
        },
        status_code=status,
    )


def _login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    had_session = SESSION_COOKIE in request.cookies
    location = f"{CONSOLE_PREFIX}/login?next={quote(safe_next(target), safe='/')}"
    if had_session:
        location += "&expired=1"
    response = RedirectResponse(location, status_code=303)
    if had_session:
        response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PREFIX)
    return response


class ConsoleRoute(APIRoute):
    """An API route whose refusals a browser sees as pages (API clients: problem+json)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except AuthError:
                if not wants_html(request):
                    raise
                return _login_redirect(request)
            except ExchangeError as exc:
                if not wants_html(request):
                    raise
                return error_page(request, exc.status, exc.code.value, exc.message)
            except (SchemaError, SigningError) as exc:
                if not wants_html(request):
                    raise
                return error_page(request, 422, exc.code.value, exc.message)
            except RequestValidationError as exc:
                if not wants_html(request):
                    raise
                lines = [
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
                    for e in exc.errors()[:10]
                ]
                return error_page(request, 422, "schema.invalid_request", "; ".join(lines))

        return route
