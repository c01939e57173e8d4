"""The read hot path: ``GET /v1/resources/{code}/records/{key}`` without FastAPI's routing.

Performance P3 (README.md). Profiles of the read route showed FastAPI's per-request work (routing,
dependency solving, building a Request) costing more CPU than the read itself: token
check (cached), grant, masking and the durable audit entry. This ASGI middleware serves
the common, well-formed read directly with the *same* functions the route calls — the
read contract of :mod:`exchange.api.record_read` (path, Bearer parsing, role check,
parameter rules, read and rendering) and :func:`exchange_error_response` — and hands
everything else to the FastAPI app unchanged: a missing, repeated or extra parameter, a
missing, invalid or expired token, a caller without the role (or without the person its
department requires), a parameter that breaks a rule. So every refusal before the read
is answered by FastAPI, with its exact body; the OpenAPI document, the auth dependency
(A5) and the route stay where they are.

It is installed inside the audit middleware: a read appends its own entry, a refusal
the reader raises has been audited by the reader, and anything refused before that is
audited by the middleware (D4 holds either way; tests compare both paths).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange.api.errors import exchange_error_response
from exchange.api.record_read import (
    MEDIA_TYPE,
    READ_PATH,
    RecordRead,
    answer_read,
    authorise_read,
    bearer_token,
    parse_read,
)
from exchange.audit.context import current_request
from exchange.errors import ExchangeError
from exchange.service import Exchange
from schemas.errors import SchemaError

__all__ = ["FastReadMiddleware"]

# the route's own path, compiled as Starlette compiles it for routing
_PATH = compile_path(READ_PATH)[0]
_JSON_HEADERS = [(b"content-type", MEDIA_TYPE.encode())]


class FastReadMiddleware:
    """Answers well-formed, authenticated single-record reads; passes the rest on."""

    def __init__(self, app: ASGIApp, *, exchange: Exchange) -> None:
        self.app = app
        self.exchange = exchange

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        match = _PATH.match(scope["path"])
        parsed = self._parse(scope, match["code"], match["key"]) if match else None
        if parsed is None:
            await self.app(scope, receive, send)
            return
        read, token = parsed
        try:
            principal = authorise_read(self.exchange, self.exchange.tokens.authenticate(token))
        except ExchangeError:  # unauthenticated (401), without the role or the person (403)
            await self.app(scope, receive, send)  # FastAPI answers and words the refusal
            return
        scope.setdefault("state", {})["principal"] = principal
        context = current_request()
        if context is not None:
            context.person = principal.person  # as the route's authentication does
        try:
            body = await answer_read(self.exchange, principal, read)
        except ExchangeError as exc:  # audited already (by the reader, or by the middleware)
            await exchange_error_response(exc, scope["path"])(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _parse(scope: Scope, code: str, key: str) -> tuple[RecordRead, str] | None:
        """The read and the token of a well-formed request, else None (the route answers)."""
        token: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if token is not None:
                    return None  # two Authorization headers: let the full app decide
                token = bearer_token(value.decode("latin-1"))
                if token is None:
                    return None
        if token is None:
            return None
        try:
            pairs = parse_qsl(
                scope.get("query_string", b"").decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=True,
            )
        except (UnicodeDecodeError, ValueError):
            return None
        params = dict(pairs)
        if len(params) != len(pairs) or set(params) != {"purpose", "case"}:
            return None  # repeated or extra parameters: the full app's rules apply
        try:
            read = parse_read(code, key, params["purpose"], params["case"])
        except (ExchangeError, SchemaError):
            return None
        return read, token
