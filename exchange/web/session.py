"""Console sessions: a server-side session behind an HttpOnly cookie, and CSRF tokens.

A department signs in to the console with the same credentials as the API (an access
token, or in a demo exchange its demo key). The console keeps the access token on the
server, in a :class:`SessionStore`, and gives the browser only a random session id in
a cookie that is ``HttpOnly``, ``SameSite=Strict``, scoped to ``/console`` and expires
with the token (``Secure`` when served over HTTPS).

:class:`SessionGateway` (an ASGI middleware) turns that cookie back into
``Authorization: Bearer <access token>`` on console paths only, so every console page
is authenticated by the API's own ``current_principal`` and role checks. API paths never
accept the cookie: a cookie cannot be replayed against the JSON API.

Each session carries a random CSRF token (synchronizer token); every POST form of the
console sends it back in a hidden ``csrf`` field. The sign-in form, before any session
exists, uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from exchange.departments.auth import Principal

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


@dataclass(frozen=True)
class Session:
    """One signed-in browser: whose token it holds, until when, and its CSRF token."""

    id: str
    access_token: str
    principal: Principal
    expires_at: float
    csrf: str

    @property
    def remaining_s(self) -> int:
        return max(0, int(self.expires_at - time.time()))


class SessionStore:
    """Sessions in memory (one exchange process serves the console); expired ones vanish."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, access_token: str, principal: Principal, expires_at: float) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            access_token=access_token,
            principal=principal,
            expires_at=expires_at,
            csrf=secrets.token_urlsafe(32),
        )
        now = time.time()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
            if len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session of an id, or None (unknown or expired: then it is dropped)."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= time.time():
                del self._sessions[session_id]
                return None
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


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
        session = self.store.get(session_id) if session_id else None
        if session is not None and not any(k == b"authorization" for k, _ in headers):
            headers.append((b"authorization", f"Bearer {session.access_token}".encode()))
            scope = {**scope, "headers": headers, SESSION_SCOPE_KEY: session}
        await self.app(scope, receive, send)
