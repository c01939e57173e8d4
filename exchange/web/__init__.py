"""The web console: pages for approvers, auditors, operators and departments.

Served by the exchange itself under ``/console`` (no CDN: templates, styles, scripts,
charts and QR codes all come from govex). Pages call the exchange's services in
process and are guarded exactly like the API (see :mod:`exchange.web.guard`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from exchange.web.pages import HERE
from exchange.web.session import CONSOLE_PREFIX, SessionGateway, SessionStore

__all__ = ["CONSOLE_PREFIX", "CONSOLE_PUBLIC_PATHS", "install_console"]

STATIC_PATH = f"{CONSOLE_PREFIX}/static"
CONSOLE_PUBLIC_PATHS = frozenset({f"{CONSOLE_PREFIX}/login", STATIC_PATH})


def install_console(app: FastAPI) -> None:
    """Mount the console's routers, its static files and its session gateway on ``app``."""
    from exchange.web.routes import audit, cases, catalog, dashboard, grants, signin, verify

    app.state.console_sessions = SessionStore()
    app.include_router(signin.public_router)
    for module in (signin, verify, cases, audit, catalog, grants, dashboard):
        app.include_router(module.router)
    app.mount(STATIC_PATH, StaticFiles(directory=str(HERE / "static")), name="console-static")
    app.add_middleware(SessionGateway, store=app.state.console_sessions)
