"""Dependencies shared by the routes: the exchange, the caller, role checks.

``CurrentDept`` is the authentication dependency; every router outside the public
list is built with it (``protected_router``), and a test fails if a route is not
(RELIABILITY A5: deny by default).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from exchange.audit.context import current_request
from exchange.departments.auth import Principal
from exchange.errors import AuthError, Forbidden
from exchange.service import Exchange
from schemas.catalog import Role
from schemas.errors import ErrorCode

__all__ = [
    "BEARER",
    "PUBLIC_PATHS",
    "READER_ROLES",
    "UNAUDITED_PUBLIC",
    "CurrentDept",
    "ExchangeDep",
    "api_routes",
    "bearer_token",
    "check_reader",
    "check_roles",
    "current_principal",
    "protected_router",
    "require_reader",
    "require_role",
]

# the explicit public list (RELIABILITY A1): everything else needs a token
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/docs",
        "/docs/oauth2-redirect",
        # Swagger UI's files, served by the exchange itself (exchange.api.docs)
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/favicon.png",
        "/redoc",
        "/openapi.json",
        "/v1/token",
        "/v1/keys",
        "/.well-known/govex",
        "/.well-known/oauth-authorization-server",
        # Bitstring Status Lists must be fetchable by any verifier; a list is a signed
        # bitstring of >= 131,072 random positions and reveals nothing by itself.
        "/v1/status-lists/{n}",
        # what verifiers resolve (exchange.api.routes.published): the JSON-LD context, the
        # credential schemas and the did:web documents (public keys only)
        "/ns/credentials/v1",
        "/schemas/credentials/v1/{code}.json",
        "/.well-known/did.json",
        "/did.json",
        "/departments/{uscc}/did.json",
        # the web console's sign-in page and its static files (exchange.web)
        "/console/login",
        "/console/enrol",
        "/console/static",
        # staff through their department's own provider (exchange.web.routes.signin_oidc)
        "/console/login/oidc",
        "/console/login/oidc/callback",
        # the citizen's own view (exchange.web.routes.citizen): its own session, not a token
        "/console/citizen",
        "/console/citizen/login",
        "/console/citizen/callback",
        "/console/citizen/records",
        "/console/citizen/logout",
        # the audit log as a C2SP tiled log (exchange.api.routes.log): the signed
        # checkpoint and the hash tiles carry only hashes; entry bundles need a token
        "/log/checkpoint",
        "/log/tile/{level}/{index:path}",
    }
)
# public reads left out of the audit log (fetching the log's tiles must not grow it; the
# console's styles, scripts and icons are no exchange of data)
UNAUDITED_PUBLIC = re.compile(
    r"/log/checkpoint|/log/tile/(?!entries/)[^/]+/.+|/console/static/[A-Za-z0-9._-]+"
)


async def get_exchange(request: Request) -> Exchange:
    exchange: Exchange = request.app.state.exchange
    return exchange


ExchangeDep = Annotated[Exchange, Depends(get_exchange)]


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None
    (the one parser: the read hot path uses it too)."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


# the OpenAPI security scheme of every protected operation: FastAPI documents it on each
# route that depends on current_principal, so the documentation follows the enforcement
BEARER = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="an access token from POST /v1/token (RFC 7523 client assertion)",
    auto_error=False,
)


async def current_principal(
    request: Request,
    exchange: ExchangeDep,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
) -> Principal:
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise AuthError(
            "this route needs an access token: Authorization: Bearer <token> "
            "(get one at POST /v1/token)"
        )
    principal = exchange.tokens.authenticate(token)
    request.state.principal = principal
    context = current_request()
    if context is not None:
        context.person = principal.person  # every entry of this request names the person
    return principal


CurrentDept = Annotated[Principal, Depends(current_principal)]


def check_roles(principal: Principal, roles: tuple[Role, ...]) -> Principal:
    """``principal`` if it holds one of ``roles``; raises Forbidden (403, A4) otherwise."""
    if not any(principal.has(r) for r in roles):
        names = " or ".join(r.value for r in roles)
        raise Forbidden(
            f"this function needs the {names} role; {principal.name} does not hold it",
            code=ErrorCode.ROLE_FORBIDDEN,
        )
    return principal


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through only callers holding one of ``roles`` (A4)."""

    async def check(principal: CurrentDept) -> Principal:
        return check_roles(principal, roles)

    check.__name__ = f"require_{'_or_'.join(r.value for r in roles)}"
    return check


def protected_router(prefix: str, tags: list[str], **kwargs: Any) -> APIRouter:
    """An APIRouter whose every route requires an authenticated department."""
    return APIRouter(
        prefix=prefix, tags=list(tags), dependencies=[Depends(current_principal)], **kwargs
    )


Publisher = Annotated[Principal, Depends(require_role(Role.DEPARTMENT))]
# who may read shared records (exchange.api.record_read: the read route and its hot path)
READER_ROLES = (Role.DEPARTMENT, Role.APPROVER)


def check_reader(exchange: Exchange, principal: Principal) -> Principal:
    """``principal`` if it holds a reader role and names the person where its department
    requires it (I1, ``require_act``); raises Forbidden (403) otherwise. The rule of every
    read (:func:`exchange.api.record_read.authorise_read`, the ``Reader`` dependency)."""
    check_roles(principal, READER_ROLES)
    if principal.person is None and exchange.staff.requires_act(principal.uscc):
        raise Forbidden(
            f"{principal.name} requires the person on every read: name the staff member "
            "with the 'act' claim of the client assertion (or sign in to the console as "
            "staff)",
            code=ErrorCode.ACT_REQUIRED,
        )
    return principal


async def require_reader(principal: CurrentDept, exchange: ExchangeDep) -> Principal:
    """A reader role, and the person named where the department requires it (I1)."""
    return check_reader(exchange, principal)


Reader = Annotated[Principal, Depends(require_reader)]
Auditor = Annotated[Principal, Depends(require_role(Role.AUDITOR))]
Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
Approver = Annotated[Principal, Depends(require_role(Role.APPROVER))]


def api_routes(app: Any) -> list[Any]:
    """Every API route of an app with its effective dependant (router dependencies included).

    Items have ``path``, ``methods`` and ``dependant``; routers included into the app are
    walked through, whatever FastAPI's internal representation of them.
    """
    out: list[Any] = []
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            out.extend(c for c in contexts() if getattr(c, "dependant", None) is not None)
        elif getattr(route, "dependant", None) is not None:
            out.append(route)
    return out
