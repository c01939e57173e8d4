"""The HTTP request an audit entry belongs to (set by the audit middleware).

:class:`RequestContext` travels in a context variable from the ASGI middleware to
the route (FastAPI copies the context into the thread that runs a sync route).
:meth:`exchange.audit.log.AuditLog.append` stamps entries with its ``request_hash`` and
the person acting (once the caller is authenticated) and counts them, so the middleware
knows whether the request was audited already.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["REQUEST", "RequestContext", "current_request"]


@dataclass
class RequestContext:
    """One request: what identifies it, its body digest, and the entries it wrote."""

    method: str
    path: str
    query: str
    body: hashlib._Hash = field(default_factory=hashlib.sha256)
    entries: int = 0
    last_seq: int | None = None
    person: str | None = None  # staff id of the person acting (set once authenticated)

    @property
    def request_hash(self) -> str:
        """``SHA-256(method ‖ LF ‖ path ‖ LF ‖ query ‖ LF ‖ SHA-256(body))``, hex.

        The body digest covers the bytes received so far: FastAPI reads the whole
        body before it runs a route, so inside a route this is the whole request.
        """
        digest = hashlib.sha256()
        for part in (self.method, self.path, self.query):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\n")
        digest.update(self.body.digest())
        return digest.hexdigest()


REQUEST: ContextVar[RequestContext | None] = ContextVar("govex_audit_request", default=None)


def current_request() -> RequestContext | None:
    """The request being served in this context, if any."""
    return REQUEST.get()
