"""Request limits enforced before any route runs (RELIABILITY A6).

- bodies larger than ``max_body_bytes`` get 413;
- JSON bodies nested deeper than ``max_json_depth``, with duplicate keys, NaN or
  integers beyond ±(2^53-1) get 422 — they never reach a parser that could crash;
- a body that is JSON text under any other content type (``text/plain``, none, …)
  gets the same depth limit, since a route may still parse it as JSON;
- JSON text whose strings hold a lone surrogate escape gets 422 ``schema.invalid_text``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.errors import ErrorCode, Problem
from schemas.text import find_non_unicode
from signing.canonical import parse_strict
from signing.errors import CanonicalizationError

__all__ = ["LimitsMiddleware", "json_depth"]

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_depth(body: bytes, limit: int) -> int:
    """Maximum nesting depth of a JSON text (strings skipped); stops early past ``limit``."""
    brackets = _STRING.sub(b"", body).translate(None, _BRACKETS)
    depth = deepest = 0
    for ch in brackets:
        if ch in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _check_unicode(body: bytes) -> tuple[ErrorCode, str, str] | None:
    """422 for a JSON text whose strings hold a lone surrogate (a ``\\udXXX`` escape
    without its pair): DuckDB, pyarrow, signing and the response encoder cannot hold it."""
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON after all: the route's own parser answers
    where = find_non_unicode(value)
    if where is None:
        return None
    return (
        ErrorCode.INVALID_TEXT,
        "Invalid text",
        f"text at {where} is not valid Unicode (a lone surrogate escape); send UTF-8 text",
    )


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._refuse(
                send,
                413,
                ErrorCode.PAYLOAD_TOO_LARGE,
                "Payload too large",
                f"request body is larger than {self.max_body_bytes} bytes; send smaller batches",
            )
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(
                    send,
                    413,
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    "Payload too large",
                    f"request body is larger than {self.max_body_bytes} bytes",
                )
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        problem = None
        if not body:
            pass
        elif content_type == b"application/json" or content_type.endswith(b"+json"):
            problem = self._check_json(body)
        elif body.lstrip()[:1] in (b"{", b"["):
            # a JSON text under another content type (text/plain, none…) may still be
            # parsed as JSON by a route: its depth and its text are bounded all the same
            problem = self._check_depth(body) or _check_unicode(body)
        if problem is not None:
            await self._refuse(send, 422, *problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check_depth(self, body: bytes) -> tuple[ErrorCode, str, str] | None:
        if json_depth(body, self.max_json_depth) > self.max_json_depth:
            return (
                ErrorCode.MALFORMED_JSON,
                "JSON too deep",
                f"JSON nesting deeper than {self.max_json_depth} levels is refused",
            )
        return None

    def _check_json(self, body: bytes) -> tuple[ErrorCode, str, str] | None:
        problem = self._check_depth(body)
        if problem is not None:
            return problem
        try:
            parse_strict(body)
        except CanonicalizationError as exc:
            return (ErrorCode.MALFORMED_JSON, "Malformed JSON", exc.message)
        return _check_unicode(body)

    @staticmethod
    async def _refuse(send: Send, status: int, code: ErrorCode, title: str, detail: str) -> None:
        body = Problem.of(code, status, title, detail).model_dump_json(exclude_none=True).encode()
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        start: dict[str, Any] = {
            "type": "http.response.start",
            "status": status,
            "headers": headers,
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})
