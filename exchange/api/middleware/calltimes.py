"""Call volumes and response times per department (调用量, 响应时长), kept in memory.

:class:`CallTimes` counts every authenticated request by the calling department and keeps
its last durations (a bounded ring per department) for the median and the 95th
percentile; :class:`CallTimesMiddleware` measures each request from its first byte in to
its last byte out. The figures cover this process since it started (the operator's
console says so); the durable count of exchanges is the audit log's.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CallFigures", "CallTimes", "CallTimesMiddleware"]


@dataclass(frozen=True)
class CallFigures:
    """One department's calls since the process started (times in milliseconds)."""

    uscc: str
    calls: int
    refused: int
    p50_ms: float
    p95_ms: float
    max_ms: float


class CallTimes:
    """Per-department call counts and recent durations (``keep`` per department)."""

    def __init__(self, keep: int = 2_000) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._calls: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._durations: dict[str, deque[float]] = {}

    def record(self, uscc: str, seconds: float, status: int) -> None:
        with self._lock:
            self._calls[uscc] = self._calls.get(uscc, 0) + 1
            if status >= 400:
                self._refused[uscc] = self._refused.get(uscc, 0) + 1
            ring = self._durations.setdefault(uscc, deque(maxlen=self._keep))
            ring.append(seconds * 1000)

    def figures(self) -> list[CallFigures]:
        """Every department that called, most calls first."""
        with self._lock:
            snapshot = {
                u: (n, self._refused.get(u, 0), sorted(self._durations[u]))
                for u, n in self._calls.items()
            }
        out = []
        for uscc, (calls, refused, ordered) in snapshot.items():

            def at(fraction: float, ordered: list[float] = ordered) -> float:
                return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)

            out.append(CallFigures(uscc, calls, refused, at(0.5), at(0.95), round(ordered[-1], 1)))
        return sorted(out, key=lambda f: (-f.calls, f.uscc))


class CallTimesMiddleware:
    """Times each request and records it under the department that made it."""

    def __init__(self, app: ASGIApp, *, times: CallTimes) -> None:
        self.app = app
        self.times = times

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                principal: Any = (scope.get("state") or {}).get("principal")
                uscc = getattr(principal, "uscc", None)
                if isinstance(uscc, str):
                    self.times.record(uscc, perf_counter() - started, status)

        await self.app(scope, receive, timed_send)
