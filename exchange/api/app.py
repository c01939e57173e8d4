"""The HTTP API: FastAPI app factory (OpenAPI at /docs)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from exchange.api.deps import PUBLIC_PATHS, UNAUDITED_PUBLIC
from exchange.api.errors import install_error_handlers
from exchange.api.middleware.audit import AuditMiddleware
from exchange.api.middleware.fastread import FastReadMiddleware
from exchange.api.middleware.limits import LimitsMiddleware
from exchange.api.routes import (
    audit,
    cases,
    catalog,
    catalog_admin,
    certificates,
    departments,
    grants,
    log,
    public,
    quarantine,
    records,
    staff,
)
from exchange.service import Exchange

__all__ = ["create_app"]

DESCRIPTION = """
govex — government data-sharing and e-certificate (电子证照) exchange.

Every route except the public list (`/healthz`, `/docs`, `/openapi.json`, `/v1/token`,
`/v1/keys`, `/.well-known/govex`, the audit log's `/log/checkpoint` and hash tiles
`/log/tile/…`) needs `Authorization: Bearer <access token>`; get one at
`POST /v1/token` with an RFC 7523 client assertion signed by your department's key.
Errors are RFC 9457 `application/problem+json` with a stable `code`.
"""


# sync routes wait for their durable audit entry in a worker thread; more threads let more
# requests share one group commit (the default pool has 40)
WORKER_THREADS = 256


# govex exports no OpenTelemetry (the audit log is the record of what happened); FastAPI
# versions with built-in telemetry would otherwise look up the global providers per request
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


def create_app(
    exchange: Exchange,
    *,
    fast_read: bool | None = None,
    extensions: Sequence[Callable[[FastAPI], None]] = (),
) -> FastAPI:
    """The API app. ``fast_read`` (default: the ``api.fast_read`` setting) serves
    well-formed single-record reads on the hot path; False leaves them to the FastAPI
    route alone (tests compare the two paths answer for answer). ``extensions`` install
    more routes and middleware inside the API's own (the composition root,
    :func:`exchange.server.build_app`, passes the web console's installer)."""
    app = FastAPI(
        title="govex",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        **_NO_TELEMETRY,
    )
    app.state.exchange = exchange
    install_error_handlers(app)
    for module in (
        public,
        catalog,
        catalog_admin,
        records,
        grants,
        departments,
        quarantine,
        audit,
        certificates,
        cases,
        staff,
    ):
        app.include_router(module.router)
    app.include_router(log.entries_router)  # before the public tiles: /log/tile/entries/…
    app.include_router(log.router)
    for install in extensions:
        install(app)  # e.g. the web console under /console (exchange.web)
    if exchange.settings.api.fast_read if fast_read is None else fast_read:
        # innermost: the read hot path (P3) skips FastAPI's routing for well-formed reads
        app.add_middleware(FastReadMiddleware, exchange=exchange)
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=exchange.settings.api.max_body_bytes,
        max_json_depth=exchange.settings.api.max_json_depth,
    )
    # outermost: every request outside the public list leaves exactly one audit entry (D4)
    app.add_middleware(
        AuditMiddleware, audit=exchange.audit, public=PUBLIC_PATHS, public_pattern=UNAUDITED_PUBLIC
    )
    return app
