"""The read hot path: ``GET /v1/resources/{code}/records/{key}`` without FastAPI's routing.

PERFORMANCE P3. Profiles of the read route showed FastAPI's per-request work (routing,
dependency solving, building a Request) costing more CPU than the read itself: token
check (cached), grant, masking and the durable audit entry. This ASGI middleware serves
the common, well-formed read directly with the *same* pieces the route uses —
:meth:`TokenService.authenticate`, the Reader role check, :meth:`Reader.read_async`,
:func:`exchange_error_response` — and hands everything else to the FastAPI app
unchanged: a missing or malformed parameter, a missing, invalid or expired token, a
caller without the role, an unusual key or query string. So every refusal that FastAPI
would answer is still answered by FastAPI, with its exact body; the OpenAPI document,
the auth dependency (A5) and the route stay where they are.

It is installed inside the audit middleware: a read appends its own entry, a refusal
the reader raises has been audited by the reader, and anything refused before that is
audited by the middleware (D4 holds either way; tests compare both paths).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange.api.deps import READER_ROLES, person_missing
from exchange.api.errors import exchange_error_response
from exchange.audit.context import current_request
from exchange.errors import AuthError, ExchangeError
from exchange.records.query import CASE_PATTERN
from exchange.service import Exchange

__all__ = ["FastReadMiddleware"]

_PATH = re.compile(r"/v1/resources/([a-z0-9_.]{1,64})/records/([A-Za-z0-9._-]{1,64})")
_CASE = re.compile(CASE_PATTERN)
_JSON_HEADERS = [(b"content-type", b"application/json")]


class FastReadMiddleware:
    """Answers well-formed, authenticated single-record reads; passes the rest on."""

    def __init__(self, app: ASGIApp, *, exchange: Exchange) -> None:
        self.app = app
        self.exchange = exchange

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        read = self._parse(scope, match.group(1), match.group(2)) if match else None
        if read is None:
            await self.app(scope, receive, send)
            return
        code, key, purpose, case_no, token = read
        try:
            principal = self.exchange.tokens.authenticate(token)
        except AuthError:
            await self.app(scope, receive, send)  # FastAPI answers and words the 401
            return
        if not any(principal.has(r) for r in READER_ROLES) or person_missing(
            self.exchange, principal
        ):
            await self.app(scope, receive, send)  # FastAPI answers the role or act refusal
            return
        scope.setdefault("state", {})["principal"] = principal
        context = current_request()
        if context is not None:
            context.person = principal.person
        try:
            record = await self.exchange.reader.read_async(
                principal.uscc, code, key, purpose=purpose, case_no=case_no
            )
        except ExchangeError as exc:  # audited already (by the reader, or by the middleware)
            await exchange_error_response(exc, scope["path"])(scope, receive, send)
            return
        body = orjson.dumps(record.model_dump())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _parse(scope: Scope, code: str, key: str) -> tuple[str, str, str, str, str] | None:
        """(code, key, purpose, case, token) of a well-formed read, else None."""
        token = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                if token:
                    return None  # two Authorization headers: let the full app decide
                scheme, _, rest = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not rest.strip():
                    return None
                token = rest.strip()
        if not token:
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
        purpose, case_no = params["purpose"], params["case"]
        if not 1 <= len(purpose) <= 200 or not _CASE.fullmatch(case_no):
            return None
        return code, key, purpose, case_no, token
