"""The HTTP API: FastAPI app factory (OpenAPI at /docs)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from exchange.api.deps import PUBLIC_PATHS, UNAUDITED_PUBLIC, bearer_token
from exchange.api.docs import install_docs
from exchange.api.errors import install_error_handlers
from exchange.api.middleware.audit import AuditMiddleware
from exchange.api.middleware.calltimes import CallTimes, CallTimesMiddleware
from exchange.api.middleware.catchup import CatchUpMiddleware
from exchange.api.middleware.drain import DrainMiddleware
from exchange.api.middleware.fastread import FastReadMiddleware
from exchange.api.middleware.limits import LimitsMiddleware
from exchange.api.openapi import install_openapi
from exchange.api.routes import (
    admin,
    audit,
    cases,
    catalog,
    catalog_admin,
    certificates,
    departments,
    grants,
    log,
    public,
    published,
    quarantine,
    records,
    staff,
)
from exchange.departments.auth import Principal
from exchange.service import Exchange

__all__ = ["create_app"]

DESCRIPTION = """
govex — government data-sharing and e-certificate (电子证照) exchange.

Every route except the public list (`/healthz`, `/docs`, `/openapi.json`, `/v1/token`,
`/v1/keys`, `/.well-known/govex`, `/.well-known/oauth-authorization-server`, the audit
log's `/log/checkpoint` and hash tiles `/log/tile/…`) needs
`Authorization: Bearer <access token>` (the `bearerAuth` scheme); get one at
`POST /v1/token`, an OAuth 2.0 token endpoint (client credentials with an RFC 7523
client assertion signed by your department's key, `private_key_jwt`).
Errors are RFC 9457 `application/problem+json` with a stable `code`; the token endpoint
answers RFC 6749 errors (`error`, `error_description`) with the same `code` beside them.
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
        docs_url=None,  # served offline by exchange.api.docs
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        **_NO_TELEMETRY,
    )
    app.state.exchange = exchange
    install_error_handlers(app)
    install_openapi(app)
    install_docs(app, title=app.title)
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
        admin,
        published,
    ):
        app.include_router(module.router)
    app.include_router(public.token_router)
    app.include_router(log.entries_router)  # before the public tiles: /log/tile/entries/…
    app.include_router(log.router)
    for install in extensions:
        install(app)  # e.g. the web console under /console (exchange.web)
    if exchange.settings.api.fast_read if fast_read is None else fast_read:
        # innermost: the read hot path (P3) skips FastAPI's routing for well-formed reads
        app.add_middleware(FastReadMiddleware, exchange=exchange)
    # reads while the node catches up on the bus say so, or are refused (kafka.catchup_*)
    app.add_middleware(CatchUpMiddleware, exchange=exchange)
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=exchange.settings.api.max_body_bytes,
        max_json_depth=exchange.settings.api.max_json_depth,
    )

    # call volumes and response times per department, for the operator's console
    app.state.call_times = CallTimes()
    app.add_middleware(CallTimesMiddleware, times=app.state.call_times)

    # outermost: every request outside the public list leaves exactly one audit entry (D4)
    def identify(authorization: str) -> Principal | None:
        token = bearer_token(authorization)
        return None if token is None else exchange.tokens.authenticate(token)

    app.add_middleware(
        AuditMiddleware,
        audit=exchange.audit,
        public=PUBLIC_PATHS,
        public_pattern=UNAUDITED_PUBLIC,
        identify=identify,
    )
    # outside even the audit: a draining cluster node refuses at its door (govex cluster drain)
    app.add_middleware(DrainMiddleware, exchange=exchange)
    return app
