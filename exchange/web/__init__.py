"""The web console: pages for approvers, auditors, operators and departments.

Modules: :mod:`.pages` (rendering, the console route class), :mod:`.session` (staff
sessions, CSRF), :mod:`.guard` (role checks), :mod:`.trail` (entries with their proofs),
:mod:`.citizen` (the citizen's own view: sessions and report rows), :mod:`.oidc_client`
(OpenID Connect sign-in: the citizen's, and staff through their department's
provider), :mod:`.charts`, :mod:`.figures`, :mod:`.licence`;
:mod:`.messages` (every problem a person reads: error codes and case reasons in Chinese
with English beside and the action's link; fields by catalog title, codes decoded),
:mod:`.clock` (Beijing time for people, one helper), :mod:`.qrscan` (a QR code read from
an uploaded picture), :mod:`.operations` (the operator's tables: departments, quarantine,
grant backlog, connector freshness, call figures); :mod:`.routes` — one router per page
family (``signin_oidc``: 通过本单位统一身份认证登录).

Served by the exchange itself under ``/console`` (no CDN: templates, styles, scripts,
charts and QR codes all come from govex). Pages call the exchange's services in
process and are guarded exactly like the API (see :mod:`exchange.web.guard`).

- :mod:`.session` — the session cookie, CSRF tokens, the gateway from cookie to token;
- :mod:`.sessions_store` — sessions in the store, the staff's and the citizens' (expiry,
  per-person limits);
- :mod:`.guard`, :mod:`.pages`, :mod:`.routes` — guards, rendering, the pages.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from exchange.departments.throttle import SignInThrottle
from exchange.web.citizen import CitizenSessions
from exchange.web.oidc_client import OidcClient, OidcClients
from exchange.web.pages import HERE
from exchange.web.routes.citizen import CITIZEN_PATHS
from exchange.web.routes.signin_oidc import STAFF_OIDC_PATHS
from exchange.web.session import CONSOLE_PREFIX, SessionGateway
from exchange.web.sessions_store import SessionStore
from schemas.errors import ErrorCode

__all__ = ["CONSOLE_PREFIX", "CONSOLE_PUBLIC_PATHS", "install_console"]

STATIC_PATH = f"{CONSOLE_PREFIX}/static"
# the staff's sign-in (also through their department's provider) and enrolment, static
# files, and the citizen's pages (guarded by their own session)
CONSOLE_PUBLIC_PATHS = (
    frozenset({f"{CONSOLE_PREFIX}/login", f"{CONSOLE_PREFIX}/enrol", STATIC_PATH})
    | CITIZEN_PATHS
    | STAFF_OIDC_PATHS
)


def install_console(app: FastAPI, *, demo_picker: bool = True) -> None:
    """Mount the console's routers, its static files and its session gateway on ``app``.

    ``demo_picker``: whether a demo exchange offers its department picker (only when it
    is bound to loopback; :func:`exchange.server.build_app` decides)."""
    from exchange.web.routes import (
        audit,
        cases,
        catalog,
        citizen,
        dashboard,
        grants,
        signin,
        signin_oidc,
        verify,
    )

    exchange = app.state.exchange
    app.state.console_sessions = SessionStore(
        exchange.store, exchange.tokens, exchange.settings.console
    )
    app.state.demo_picker = demo_picker and bool(exchange.identity.demo)
    app.state.signin_throttle = SignInThrottle(
        window_s=exchange.settings.console.signin_window_s,
        per_account=exchange.settings.console.signin_failures_per_account,
        per_address=exchange.settings.console.signin_failures_per_address,
    )
    settings = exchange.settings.citizen
    app.state.citizen_oidc = OidcClient(settings)
    app.state.citizen_sessions = CitizenSessions(exchange.store, settings)
    app.state.staff_oidc = OidcClients(
        exchange.staff.oidc.get, refused_code=ErrorCode.SIGNIN_FAILED
    )
    app.include_router(signin.public_router)
    app.include_router(signin_oidc.router)
    app.include_router(citizen.router)
    for module in (signin, verify, cases, audit, catalog, grants, dashboard):
        app.include_router(module.router)
    app.mount(STATIC_PATH, StaticFiles(directory=str(HERE / "static")), name="console-static")
    app.add_middleware(SessionGateway, store=app.state.console_sessions)
