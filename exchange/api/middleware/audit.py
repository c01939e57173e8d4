"""ASGI middleware: every request leaves exactly one audit entry before it is answered.

RELIABILITY D4. For each HTTP request outside the public list it:

* opens a :class:`RequestContext` (method, path, query, a running SHA-256 of the
  body), so every entry a route appends carries the request's ``request_hash``;
* when the response starts and the route appended no entry itself — refused before
  any route ran (401, a role refusal, 422 validation), or a route that audits
  nothing (catalog, grant lists) — appends one ``http.<method>`` entry with the
  caller (if authenticated), the path, the status and the outcome, and only then lets
  the response go;
* when that append fails the log is closed: the response is replaced by
  ``503 exchange.audit_unavailable`` and its body is never sent (fail closed);
* records a request by its route template (``/v1/resources/{code}/records/{key}``),
  never by its raw path: a request no route matched is recorded as :data:`UNMATCHED`
  (its ``request_hash`` still identifies it), so no text of the caller's — an ID number
  in a mistyped path — reaches the log, and an unknown method is ``http.other``;
* counts anonymous refusals beyond a few per address and minute instead of writing an
  entry for each (:mod:`exchange.api.middleware.refusals`);
* answers ``503 exchange.audit_disk_full`` at once, running nothing, while the audit
  log's disk is below its free-space floor (:mod:`exchange.audit.space`);
* when the app raises an unexpected exception before answering, answers it itself
  (logged): a third-party error the boundary table knows with its code, anything else
  ``500 exchange.internal``, so that answer is audited too: Starlette's
  own handler runs outside this middleware and would leave no entry (D4, 500s included).

Install it outermost: ``app.add_middleware(AuditMiddleware, audit=…, public=…)``;
``public_pattern`` adds public paths by pattern (the log's hash tiles).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from contextlib import suppress
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.api.errors import problem_body, unexpected_error_response
from exchange.api.middleware.refusals import AnonymousRefusals
from exchange.audit.context import REQUEST, RequestContext
from exchange.audit.log import AuditEvent, AuditLog
from exchange.errors import AuditDiskFull, AuditUnavailable
from schemas.errors import Problem

__all__ = ["ANONYMOUS", "UNMATCHED", "AuditMiddleware"]

ANONYMOUS = "anonymous"
UNMATCHED = "(no route)"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


class AuditMiddleware:
    """Stamps entries with their request and audits requests no route audited."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        audit: AuditLog,
        public: Collection[str] = (),
        public_pattern: re.Pattern[str] | None = None,
        identify: Callable[[str], Any] | None = None,
    ) -> None:
        self.app = app
        self.audit = audit
        self.public = frozenset(public)
        self.public_pattern = public_pattern  # public paths by pattern (full match)
        # who a request refused at the door (limits, before any route authenticated it)
        # came from: its bearer token checked here, so the entry names the caller and a
        # caller with a valid token is never counted among anonymous refusals
        self.identify = identify
        self.refusals = AnonymousRefusals()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flushing(receive), send)
            return
        if (
            scope["type"] != "http"
            or scope["path"] in self.public
            or (self.public_pattern is not None and self.public_pattern.fullmatch(scope["path"]))
        ):
            await self.app(scope, receive, send)
            return
        due = self.refusals.due()
        if due:
            await anyio.to_thread.run_sync(self._append_counts, due)
        if not self.audit.space.ok:
            await _unavailable(send, AuditDiskFull(_FLOOR))
            return
        context = RequestContext(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
        )
        token = REQUEST.set(context)
        replaced = started = False

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                context.body.update(message.get("body", b""))
            return message

        async def audited_send(message: Message) -> None:
            nonlocal replaced, started
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
            if message["type"] == "http.response.start" and context.entries == 0:
                status = int(message["status"])
                try:
                    if self._own_entry(scope, status):
                        await anyio.to_thread.run_sync(self._audit_request, scope, context, status)
                except AuditUnavailable as exc:
                    replaced = True
                    await _unavailable(send, exc)
                    return
            await send(message)

        try:
            await self.app(scope, hashing_receive, audited_send)
        except Exception as exc:
            if started:  # too late to answer: the response went out with its entry
                raise
            # Answered here, not by Starlette's outermost ServerErrorMiddleware, so the 500
            # (or a translated third-party error, e.g. 503 exchange.store_unavailable)
            # passes through audited_send and leaves its entry like every other answer.
            response = unexpected_error_response(exc, context.path)
            await response(scope, hashing_receive, audited_send)
        finally:
            REQUEST.reset(token)

    def _own_entry(self, scope: Scope, status: int) -> bool:
        """Whether the request gets an entry now; an anonymous refusal beyond the
        address's few per minute is only counted (see :mod:`.refusals`)."""
        if status < 400 or _principal(scope) is not None:
            return True
        if self.identify is not None and self._identified(scope):
            return True
        client = scope.get("client")
        return self.refusals.admit(str(client[0]) if client else "unknown")

    def _identified(self, scope: Scope) -> bool:
        """Authenticate a door refusal's bearer token (if any) into the scope's state."""
        assert self.identify is not None
        header = next(
            (v for k, v in scope.get("headers", ()) if k == b"authorization"), b""
        ).decode("latin-1")
        try:
            principal = self.identify(header)
        except Exception:  # an invalid token: the refusal stays anonymous
            return False
        if principal is None:
            return False
        scope.setdefault("state", {})["principal"] = principal
        return True

    def _audit_request(self, scope: Scope, context: RequestContext, status: int) -> None:
        principal = _principal(scope)
        route = scope.get("route")
        method = context.method if context.method in _METHODS else "OTHER"
        self.audit.append(
            AuditEvent(
                actor=getattr(principal, "uscc", ANONYMOUS),
                action=f"http.{method.lower()}",
                outcome="ok" if status < 400 else "refused" if status < 500 else "error",
                target=getattr(route, "path", None) or UNMATCHED,
                request_hash=context.request_hash,
                detail={"status": status},
            )
        )

    def _append_counts(self, events: list[AuditEvent]) -> None:
        with suppress(AuditUnavailable):  # kept for the next request when the log refuses
            self.audit.append_many(events)
            return
        self.refusals.requeue(events)

    def _flushing(self, receive: Receive) -> Receive:
        """``receive`` of the lifespan: on shutdown, write the counts kept so far."""

        async def flushing_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                counts = self.refusals.flush()
                if counts:
                    await anyio.to_thread.run_sync(self._append_counts, counts)
            return message

        return flushing_receive


_FLOOR = "the audit log's disk is below its free-space floor: no new work until space is freed"


def _principal(scope: Scope) -> Any:
    return (scope.get("state") or {}).get("principal")


async def _unavailable(send: Send, exc: AuditUnavailable) -> None:
    problem = Problem.of(exc.code, exc.status, exc.title, exc.message)
    body = problem_body(problem)
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
