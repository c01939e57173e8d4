"""Reads while this node catches up on the bus say so, or are refused (issue 22, 6).

A node back after an outage serves reads at once but holds only what it has ingested: a
record published meanwhile answers 404, an updated one its old version. While the Kafka
consumer's lag is above ``kafka.catchup_lag`` records, every record read
(``GET /v1/resources/…``) either carries ``Govex-Lag: <records>`` and
``Govex-Catching-Up: true`` — and a JSON answer (a record, the records about a subject)
the field ``"catching_up": {"lag": <records>}`` — (``kafka.catchup_reads = "flag"``, the
default) or is answered
503 ``exchange.catching_up`` with the lag and ``Retry-After`` (``"refuse"``). A node that
does not consume Kafka (the embedded bus) is never behind.

On a cluster node (``govex serve --node-id``, :mod:`exchange.cluster`) the same holds for
the control plane: an answer to a request that changed state through the control topic
carries ``Govex-Control-Offset: <offset>`` of its (last) event, and a request that sends
``Govex-After: <offset>`` is answered only once this node applied that offset — waited
for up to a few seconds, else 503 ``exchange.node_behind`` with the node's applied offset
and ``Retry-After`` (ask again, or ask the node that answered the change).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.api.errors import problem_response
from exchange.service import Exchange
from schemas.errors import ErrorCode, Problem

if TYPE_CHECKING:
    from exchange.cluster.plane import ControlPlane

__all__ = ["AFTER_HEADER", "OFFSET_HEADER", "READ_PREFIX", "CatchUpMiddleware"]

READ_PREFIX = "/v1/resources/"
AFTER_HEADER = b"govex-after"
OFFSET_HEADER = b"govex-control-offset"


class CatchUpMiddleware:
    """Flags or refuses record reads while the node's bus lag is above the setting."""

    def __init__(self, app: ASGIApp, *, exchange: Exchange) -> None:
        self.app = app
        self.exchange = exchange

    def _lag(self, scope: Scope) -> int | None:
        """The lag when this read is behind the setting, else None."""
        consumer = self.exchange.consumer
        limit = self.exchange.settings.kafka.catchup_lag
        if consumer is None or limit is None or scope["type"] != "http":
            return None
        if scope["method"] not in ("GET", "HEAD") or not scope["path"].startswith(READ_PREFIX):
            return None
        lag = consumer.lag
        return lag if lag is not None and lag > limit else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plane = self.exchange.cluster
        if plane is None or scope["type"] != "http":
            await self._records(scope, receive, send)
            return
        after = dict(scope.get("headers", [])).get(AFTER_HEADER)
        if after is not None:
            refusal = await _wait_after(plane, after.decode("latin-1"), str(scope["path"]))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        with plane.requested() as offsets:
            await self._records(scope, receive, _Offsets(send, offsets))

    async def _records(self, scope: Scope, receive: Receive, send: Send) -> None:
        lag = self._lag(scope)
        if lag is None:
            await self.app(scope, receive, send)
            return
        if self.exchange.settings.kafka.catchup_reads == "refuse":
            problem = Problem.of(
                ErrorCode.CATCHING_UP,
                503,
                "Catching up",
                f"this node is {lag} record(s) behind the bus; ask again shortly or ask "
                "another node",
                instance=str(scope["path"]),
                lag=lag,
            )
            response = problem_response(problem, {"Retry-After": "5", "Govex-Lag": str(lag)})
            await response(scope, receive, send)
            return

        await self.app(scope, receive, _Flagged(send, lag))


async def _wait_after(plane: ControlPlane, raw: str, path: str) -> Any:
    """None once ``plane`` applied the offset ``raw`` names, else the problem to answer."""
    try:
        offset = int(raw.strip())
    except ValueError:
        offset = -2
    if offset < -1:
        problem = Problem.of(
            ErrorCode.INVALID_REQUEST,
            400,
            "Bad request",
            f"Govex-After must be a control offset (a whole number), not {raw[:40]!r}",
            instance=path,
        )
        return problem_response(problem)
    if await anyio.to_thread.run_sync(plane.wait_applied, offset, plane.after_wait_s):
        return None
    problem = Problem.of(
        ErrorCode.NODE_BEHIND,
        503,
        "Node behind",
        f"this node applied control events up to offset {plane.applied}, not yet {offset} "
        f"(waited {plane.after_wait_s:g}s): ask again shortly or ask another node",
        instance=path,
        applied=plane.applied,
        after=offset,
    )
    return problem_response(
        problem, {"Retry-After": "1", "Govex-Control-Offset": str(plane.applied)}
    )


class _Offsets:
    """Sends the answer with the offset of the control event the request published."""

    def __init__(self, send: Send, offsets: list[int]) -> None:
        self.send = send
        self.offsets = offsets

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and self.offsets:
            headers = list(message.get("headers", []))
            headers.append((OFFSET_HEADER, str(max(self.offsets)).encode()))
            message = {**message, "headers": headers}
        await self.send(message)


class _Flagged:
    """Sends the answer with the lag in its headers and, for a JSON object, in its body."""

    def __init__(self, send: Send, lag: int) -> None:
        self.send = send
        self.lag = lag
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((b"govex-lag", str(self.lag).encode()))
            headers.append((b"govex-catching-up", b"true"))
            self.start = {**message, "headers": headers}
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        sent = b"".join(self.chunks)
        body = self._with_field(sent)
        headers = self.start["headers"]
        if body is not sent:  # the body grew: its length too (a HEAD answer keeps its own)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    def _with_field(self, body: bytes) -> bytes:
        """The JSON object answer with ``catching_up``; any other body unchanged."""
        kind = dict(self.start["headers"] if self.start else []).get(b"content-type", b"")
        if b"json" not in kind or not body.startswith(b"{"):
            return body
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if not isinstance(answer, dict):
            return body
        answer["catching_up"] = {"lag": self.lag}
        return orjson.dumps(answer)
