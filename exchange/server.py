"""The HTTP server: the API with its web console, run by uvicorn with guards against
slow clients.

:func:`exchange.api.app.create_app` builds the API and knows nothing of the console;
:mod:`exchange.web` builds on the API's dependencies (the console is guarded exactly
like the API). :func:`build_app` is the one place that joins the two, so the dependency
runs one way only: web → api, and this module → both. It also decides what only the
address served can decide: a demo exchange offers its department picker on loopback only
(:func:`is_loopback`), and is not served beyond loopback unless asked
(:func:`demo_exposed`, ``govex serve --allow-demo-exposure``).

:func:`serve` runs the app (``govex serve``) with :class:`GuardedHttpToolsProtocol`,
uvicorn's HTTP/1.1 protocol on the C parser llhttp, with what uvicorn lacks (RELIABILITY,
slow clients): a deadline for the request line and headers, a deadline for the body, a
cap on the request head and a cap on the connections one client address holds. The
settings are in :class:`exchange.config.ApiSettings`. Beside it runs the local admin
channel on ``DATA/admin.sock`` (:mod:`exchange.admin.listener`). Before serving it
freezes the heap of startup (:func:`settle_heap`), so that the garbage collector's full
collections while serving walk only what serving made, and it lets a thread waiting for
the GIL have it sooner (:data:`GIL_SWITCH_S`).
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from exchange.admin.route import install_admin_routes
from exchange.api.app import create_app
from exchange.api.errors import problem_body
from exchange.config import ApiSettings
from exchange.service import Exchange
from exchange.web import install_console
from schemas.errors import ErrorCode, Problem

__all__ = [
    "GC_YOUNG",
    "GIL_SWITCH_S",
    "ClientGuard",
    "GuardedHttpToolsProtocol",
    "build_app",
    "demo_exposed",
    "is_loopback",
    "serve",
    "settle_heap",
]


def is_loopback(host: str) -> bool:
    """Whether an address to listen on reaches only this machine (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def demo_exposed(exchange: Exchange, host: str) -> bool:
    """Whether serving on ``host`` would expose a demo exchange (demo keys, the documented
    demo passphrase) beyond this machine."""
    return bool(exchange.identity.demo) and not is_loopback(host)


def build_app(
    exchange: Exchange, *, fast_read: bool | None = None, bind_host: str = "127.0.0.1"
) -> FastAPI:
    """The API app with the web console under ``/console`` and the operator's
    ``/v1/admin/ops`` (what ``govex serve`` runs).

    ``bind_host`` is the address served: a demo exchange offers its department picker
    only on loopback."""
    picker = is_loopback(bind_host)

    def console(app: FastAPI) -> None:
        install_console(app, demo_picker=picker)

    return create_app(exchange, fast_read=fast_read, extensions=(console, install_admin_routes))


GIL_SWITCH_S = 0.001
"""How often CPython offers the GIL to a waiting thread while serving (its default: 5 ms).
A read hands off between the event loop, the audit writer and the audit syncer, and each
hand-off waited up to one interval whenever another thread was computing (the audit
indexer, a DuckDB result). At half the P3 rate, alternating runs of the code before and
after: p50 2.4–11.6 ms → 1.0–1.3 ms (README, Performance)."""


GC_YOUNG = 10_000
"""Tracked objects (allocations less deallocations) that start a young collection while
serving (CPython's default: 700). A request or an audit append makes a few dozen
containers that die young; at 700 the audit appends of P6 ran ~280 young collections per
100,000 entries, at 10,000 two to five: the collector's time 130 → 45 ms a run and
~106k → ~116k appends/s in alternating runs (README, Performance). A young collection
walks at most this many objects, a middle one (every tenth) up to ten times as many."""


def settle_heap() -> None:
    """Move every object alive now (modules, the exchange, the app) out of the cyclic
    garbage collector's reach before serving, and collect the young objects less often.

    A full (generation 2) collection walks every tracked object: on a served exchange,
    well over 100,000 of them, nearly all made at startup and alive until exit. Each such
    collection stopped the process for tens of milliseconds of CPU (the tail of the
    read latency, README Performance P3-p99). Frozen, they are never walked again; the
    objects made while serving are collected as before, a young collection every
    :data:`GC_YOUNG` of them.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


@dataclass
class ClientGuard:
    """The limits on slow and greedy clients, and the open connections per address."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections_per_address: int
    open: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, api: ApiSettings) -> ClientGuard:
        return cls(api.header_timeout_s, api.body_timeout_s, api.max_connections_per_address)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (llhttp, a C parser) with what uvicorn lacks.

    A connection that has not sent a whole request head ``header_timeout_s`` after
    connecting (or after its first byte of a next request on a kept-alive connection) is
    closed, as is one whose body has not arrived ``body_timeout_s`` after its head. A
    connection beyond ``max_connections_per_address`` from one address is closed at once.
    A request head beyond ``max_header_bytes`` is answered 431 and the connection closed.
    What the parser refuses is answered in RFC 9457 problem+json as every other refusal
    (:meth:`send_400_response`): 431 ``exchange.request_head_too_large`` for a head or a
    trailer beyond the cap, 400 ``exchange.malformed_request`` for bytes that are not an
    HTTP/1.1 request (uvicorn answers those in plain text).

    The parser says where a request is through its callbacks: a head is read from a
    request's first byte until ``on_headers_complete``; its body until
    ``on_message_complete``. The head cap holds for a head that came whole (its target
    and header lines as parsed) and for one still coming (the bytes received since the
    parser last took a head or a body part: httptools would otherwise gather a header it
    has not seen the end of); the same holds for a chunked body's trailer. A request
    queued behind a response (pipelined) is not read meanwhile, so its body deadline
    starts when its turn comes.
    """

    guard: ClientGuard  # set on the subclass :func:`serve` makes
    max_head: int  # set on the subclass :func:`serve` makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._address: str | None = None  # counted in guard.open while set
        self._in_head = True  # the next bytes belong to a request head
        self._unparsed = 0  # bytes received since the parser last took a head or body part
        self._head_size = 0  # the head's (or trailer's) target and header lines, as parsed
        self._too_large = False  # the parser's refusal is of a head beyond the cap

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if self.guard.open[address] >= self.guard.max_connections_per_address:
            self.transport = transport
            transport.abort()  # refused before any byte is read
            return
        self.guard.open[address] += 1
        self._address = address
        super().connection_made(transport)
        self._arm(self.guard.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is None:
            return  # refused by the cap: never served
        self._disarm()
        self.guard.open[self._address] -= 1
        if self.guard.open[self._address] <= 0:
            del self.guard.open[self._address]
        self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head and self._deadline is None:
            self._arm(self.guard.header_timeout_s)  # a next request on a kept-alive connection
        self._unparsed += len(data)
        super().data_received(data)
        if self._unparsed > self.max_head and not self.transport.is_closing():
            # a head (or a chunked body's trailer) still coming, beyond the cap
            self._disarm()
            self._too_large = True
            self.send_400_response("Invalid HTTP request received.")

    # -- the parser's callbacks ------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_size > self.max_head:  # a head (or trailer) beyond the cap, parsed
            self._too_large = True
            raise ValueError("request head too large")  # the parser's error: 431, closed
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._head_size > self.max_head:  # a long target, in one piece
            self._too_large = True
            raise ValueError("request head too large")
        self._in_head, self._unparsed, self._head_size = False, 0, 0
        super().on_headers_complete()
        if self.pipeline:  # queued behind a response: not read meanwhile, so not timed
            self._disarm()
        else:
            self._arm(self.guard.body_timeout_s)  # disarmed when it ends

    def on_body(self, body: bytes) -> None:
        self._unparsed = 0
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()  # the whole request is in
        self._in_head, self._unparsed, self._head_size = True, 0, 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._in_head and self._deadline is None and not self.transport.is_closing():
            # a queued request whose body is still to come is read from now on
            self._arm(self.guard.body_timeout_s)

    # -- the parser's refusal ------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        """Answer what the parser refused in problem+json with a stable code and close."""
        status, body = _parser_refusal(too_large=self._too_large, max_head=self.max_head)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    # -- deadlines ------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()  # the app, if it is waiting for the body, sees a disconnect


def _parser_refusal(*, too_large: bool, max_head: int) -> tuple[int, bytes]:
    """The status and problem+json body of a request the HTTP parser refused."""
    if too_large:
        problem = Problem.of(
            ErrorCode.REQUEST_HEAD_TOO_LARGE,
            431,
            "Request head too large",
            f"the request line and headers (or a chunked body's trailer) exceed {max_head} "
            "bytes: send fewer or shorter headers",
        )
    else:
        problem = Problem.of(
            ErrorCode.MALFORMED_REQUEST,
            400,
            "Bad request",
            "the bytes received are not a valid HTTP/1.1 request",
        )
    return problem.status, problem_body(problem)


def serve(exchange: Exchange, *, host: str, port: int, allow_demo_exposure: bool = False) -> None:
    """Run :func:`build_app` on ``host:port`` until interrupted, with the slow-client guards,
    and the local admin channel on ``DATA/admin.sock`` (:mod:`exchange.admin.listener`).

    A demo exchange is served beyond loopback only with ``allow_demo_exposure`` (and
    then without its department picker); ``govex serve`` checks :func:`demo_exposed`
    first and words the refusal."""
    import sys

    import uvicorn

    from exchange.admin.listener import serve_with_admin

    if demo_exposed(exchange, host) and not allow_demo_exposure:
        raise ValueError(f"a demo exchange is served on loopback only, not on {host}")
    api = exchange.settings.api
    protocol = type(
        "GovexHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"guard": ClientGuard.of(api), "max_head": api.max_header_bytes},
    )
    config = uvicorn.Config(
        build_app(exchange, bind_host=host),
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=int(api.keep_alive_s),
        log_level="warning",
        # every request is in the audit log already: no second, unsigned access log
        access_log=False,
        server_header=False,
        ws="none",  # no WebSocket routes: an upgrade request is an ordinary request
    )
    settle_heap()
    sys.setswitchinterval(GIL_SWITCH_S)
    if not serve_with_admin(exchange, config):
        sys.exit(3)  # as uvicorn.run: the server did not start (e.g. the port is taken)
