"""What guards console routes: the API's authentication, its role checks, and CSRF.

Every console router but the sign-in page is built by :func:`console_router`, which is
the API's ``protected_router`` (so the API's deny-by-default test covers the console
too) with the console's route class. Pages that need a role depend on the API's own
``require_role``; every POST form depends on :func:`require_csrf`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request

from exchange.api.deps import protected_router, require_reader, require_role
from exchange.departments.auth import Principal
from exchange.errors import Forbidden
from exchange.web.pages import ConsoleRoute, session_of
from exchange.web.session import CONSOLE_PREFIX, Session, SessionStore, csrf_matches
from schemas.catalog import Role
from schemas.errors import ErrorCode

__all__ = [
    "Approver",
    "Auditor",
    "CsrfSession",
    "Departmental",
    "Operator",
    "Reader",
    "console_router",
    "require_csrf",
    "session_store",
]


def console_router(prefix: str = "", **kwargs: Any) -> APIRouter:
    """A router of signed-in console pages (hidden from the OpenAPI document)."""
    return protected_router(
        CONSOLE_PREFIX + prefix,
        ["console"],
        route_class=ConsoleRoute,
        include_in_schema=False,
        **kwargs,
    )


def session_store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.console_sessions
    return store


def require_csrf(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Session:
    """The session of a POST form whose ``csrf`` field matches the session's token."""
    session = session_of(request)
    if session is None or not csrf_matches(session.csrf, csrf):
        raise Forbidden(
            "this form was not sent from a page of your current console session "
            "(CSRF check failed); reload the page and try again",
            code=ErrorCode.FORBIDDEN,
        )
    return session


CsrfSession = Annotated[Session, Depends(require_csrf)]

# the API's own role checks (exchange.api.deps.require_role), one alias per page family
Reader = Annotated[Principal, Depends(require_reader)]  # and the person, where required
Departmental = Annotated[Principal, Depends(require_role(Role.DEPARTMENT))]
Approver = Annotated[Principal, Depends(require_role(Role.APPROVER))]
Auditor = Annotated[Principal, Depends(require_role(Role.AUDITOR))]
Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
