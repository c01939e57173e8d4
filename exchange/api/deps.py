"""Dependencies shared by the routes: the exchange, the caller, role checks.

``CurrentDept`` is the authentication dependency; every router outside the public
list is built with it (``protected_router``), and a test fails if a route is not
(RELIABILITY A5: deny by default).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from exchange.audit.context import current_request
from exchange.departments.auth import Principal
from exchange.errors import AuthError, Forbidden
from exchange.service import Exchange
from schemas.catalog import Role
from schemas.errors import ErrorCode

__all__ = [
    "PUBLIC_PATHS",
    "READER_ROLES",
    "CurrentDept",
    "ExchangeDep",
    "api_routes",
    "current_principal",
    "person_missing",
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
        "/redoc",
        "/openapi.json",
        "/v1/token",
        "/v1/keys",
        "/.well-known/govex",
        # Bitstring Status Lists must be fetchable by any verifier; a list is a signed
        # bitstring of >= 131,072 random positions and reveals nothing by itself.
        "/v1/status-lists/{n}",
        # the web console's sign-in page and its static files (exchange.web)
        "/console/login",
        "/console/enrol",
        "/console/static",
    }
)


async def get_exchange(request: Request) -> Exchange:
    exchange: Exchange = request.app.state.exchange
    return exchange


ExchangeDep = Annotated[Exchange, Depends(get_exchange)]


async def current_principal(request: Request, exchange: ExchangeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(
            "this route needs an access token: Authorization: Bearer <token> "
            "(get one at POST /v1/token)"
        )
    principal = exchange.tokens.authenticate(token.strip())
    request.state.principal = principal
    context = current_request()
    if context is not None:
        context.person = principal.person  # every entry of this request names the person
    return principal


CurrentDept = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through only callers holding one of ``roles`` (A4)."""

    async def check(principal: CurrentDept) -> Principal:
        if not any(principal.has(r) for r in roles):
            names = " or ".join(r.value for r in roles)
            raise Forbidden(
                f"this function needs the {names} role; {principal.name} does not hold it",
                code=ErrorCode.ROLE_FORBIDDEN,
            )
        return principal

    check.__name__ = f"require_{'_or_'.join(r.value for r in roles)}"
    return check


def protected_router(prefix: str, tags: list[str], **kwargs: Any) -> APIRouter:
    """An APIRouter whose every route requires an authenticated department."""
    return APIRouter(
        prefix=prefix, tags=list(tags), dependencies=[Depends(current_principal)], **kwargs
    )


Publisher = Annotated[Principal, Depends(require_role(Role.DEPARTMENT))]
# who may read shared records (the read route and its hot path, exchange.api.middleware.fastread)
READER_ROLES = (Role.DEPARTMENT, Role.APPROVER)


def person_missing(exchange: Exchange, principal: Principal) -> bool:
    """Whether a read must be refused: the department requires ``act`` and none is named."""
    return principal.person is None and exchange.staff.requires_act(principal.uscc)


async def require_reader(
    principal: Annotated[Principal, Depends(require_role(*READER_ROLES))], exchange: ExchangeDep
) -> Principal:
    """A reader role, and the person named where the department requires it (I1)."""
    if person_missing(exchange, principal):
        raise Forbidden(
            f"{principal.name} requires the person on every read: name the staff member "
            "with the 'act' claim of the client assertion (or sign in to the console as "
            "staff)",
            code=ErrorCode.ACT_REQUIRED,
        )
    return principal


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
