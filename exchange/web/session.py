"""Console sessions: a server-side session behind an HttpOnly cookie, and CSRF tokens.

A staff member signs in to the console with their staff id and password (and TOTP code
where their roles need one); a department may also paste an access token, and in a
demo exchange bound to loopback pick a demo department. The session lives in the
exchange's store (:class:`~exchange.web.sessions_store.SessionStore`: sliding and
absolute expiry, per-person limits, survives a restart); the browser holds only a random
session id in a cookie that is ``HttpOnly``, ``SameSite=Strict`` and scoped to
``/console`` (``Secure`` when served over HTTPS).

:class:`SessionGateway` (an ASGI middleware) turns that cookie into
``Authorization: Bearer <access token>`` on console paths only — a token the session
store mints for the session's department and person and keeps fresh — so every console
page is authenticated by the API's own ``current_principal`` and role checks, and every
entry it writes names the person. API paths never accept the cookie: a cookie cannot be
replayed against the JSON API.

Each session carries a random CSRF token (synchronizer token); every POST form of the
console sends it back in a hidden ``csrf`` field. The sign-in form, before any session
exists, uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
import logging
from http.cookies import SimpleCookie

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange.web.sessions_store import Session, SessionStore

__all__ = [
    "CONSOLE_PREFIX",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_SCOPE_KEY",
    "Session",
    "SessionGateway",
    "SessionStore",
    "csrf_matches",
]

_LOG = logging.getLogger("govex.console")

CONSOLE_PREFIX = "/console"
SESSION_COOKIE = "govex_session"
LOGIN_CSRF_COOKIE = "govex_login_csrf"
SESSION_SCOPE_KEY = "govex.console_session"
_STATIC_PREFIX = f"{CONSOLE_PREFIX}/static/"


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token; an absent one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception as exc:  # a malformed cookie header is ignored
                _LOG.debug("malformed cookie header ignored: %s", exc)
                continue
            morsel = jar.get(name)
            if morsel is not None:
                return morsel.value
    return None


class SessionGateway:
    """On console paths, turn the session cookie into the API's bearer credential."""

    def __init__(self, app: ASGIApp, *, store: SessionStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(CONSOLE_PREFIX) or path.startswith(_STATIC_PREFIX):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        session_id = _cookie(headers, SESSION_COOKIE)
        if session_id and not any(k == b"authorization" for k, _ in headers):
            found = await anyio.to_thread.run_sync(self._resolve, session_id)
            if found is not None:
                session, token = found
                headers.append((b"authorization", f"Bearer {token}".encode()))
                # in place, not a copy: the audit middleware outside reads the route the
                # router records in this scope (its entry's target)
                scope["headers"] = headers
                scope[SESSION_SCOPE_KEY] = session
        await self.app(scope, receive, send)

    def _resolve(self, session_id: str) -> tuple[Session, str] | None:
        session = self.store.get(session_id)
        if session is None:
            return None
        return session, self.store.access_token(session)
