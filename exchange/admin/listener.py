"""The local admin channel's server side: ``DATA/admin.sock`` inside ``govex serve``.

While ``govex serve`` runs on a data directory it also listens on the Unix socket
``DATA/admin.sock``: created with mode 0600 (the umask is tightened around ``bind``), a
stale one from a killed server removed first, removed again on stop. No TCP port, no
password: whoever can open the socket owns the data directory and acts as its operator.
The caller is audited as ``local-operator`` with the OS user the kernel names for the
connection (``SO_PEERCRED``, where the platform has it).

:func:`admin_app` is a small ASGI app served only on that socket (a second uvicorn server
in the same event loop, :func:`serve_with_admin`): ``POST /ops/{name}`` with the params as
a JSON object runs :func:`exchange.admin.operations.run_operation` against the live
exchange in a worker thread and answers its JSON result, or RFC 9457 problem+json.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import socket
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from exchange.admin.channel import admin_socket_path
from exchange.admin.operations import Operator, operations, run_operation
from exchange.api.errors import install_error_handlers
from exchange.errors import InvalidRequest
from exchange.service import Exchange
from schemas.errors import ErrorCode

__all__ = ["AdminProtocol", "admin_app", "bind_admin_socket", "serve_with_admin"]


def bind_admin_socket(data: Path) -> socket.socket:
    """A listening Unix socket at ``DATA/admin.sock``, mode 0600, a stale one replaced.

    The caller holds the data directory's lock, so a socket file already there belongs
    to no running exchange.
    """
    path = admin_socket_path(data)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(64)
    sock.setblocking(False)
    return sock


def _peer(sock: socket.socket | None) -> tuple[str, int] | None:
    """(OS user, uid) of the process at the other end, from ``SO_PEERCRED``."""
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", raw)
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return user, uid


class AdminProtocol(H11Protocol):
    """uvicorn's h11 protocol for the admin socket: the ASGI scope's ``client`` is the
    peer's (OS user, uid) from ``SO_PEERCRED`` (a Unix socket has no address)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client = _peer(transport.get_extra_info("socket"))


def admin_app(exchange: Exchange) -> FastAPI:
    """The ASGI app of the admin socket (never mounted on a TCP port)."""
    app = FastAPI(title="govex admin", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)

    @app.get("/ops")
    async def names() -> dict[str, str]:
        return {name: op.summary for name, op in sorted(operations().items())}

    @app.post("/ops/{name}")
    async def run(name: str, request: Request) -> Any:
        try:
            params = await request.json()
        except ValueError as exc:
            raise InvalidRequest(
                "the operation's params must be a JSON object", code=ErrorCode.MALFORMED_JSON
            ) from exc
        if not isinstance(params, dict):
            raise InvalidRequest(
                "the operation's params must be a JSON object", code=ErrorCode.INVALID_OPTION
            )
        client = request.scope.get("client")
        user, uid = (str(client[0]), int(client[1])) if client else (None, None)
        operator = Operator.local_user(user, "socket", uid)
        return await anyio.to_thread.run_sync(run_operation, exchange, name, params, operator)

    return app


def _quiet_server(config: Any) -> Any:
    """A uvicorn server that leaves the process's signals to the main server."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


def _main_server(config: Any, before_exit: Callable[[], None]) -> Any:
    """uvicorn's server, with ``before_exit`` run before it re-raises a captured SIGTERM or
    SIGINT (which ends the process at once)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    before_exit()

    return Server(config)


def serve_with_admin(exchange: Exchange, config: Any) -> bool:
    """Run a uvicorn server of ``config`` and the admin socket of ``exchange`` in one event
    loop until the server stops. The socket is bound once the server has started (and
    handles the signals), and removed on the way out. Returns whether the server started."""
    import uvicorn

    path = admin_socket_path(Path(exchange.settings.data))
    bound: list[socket.socket] = []

    def remove_socket() -> None:
        for sock in bound:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        bound.clear()

    admin = _quiet_server(
        uvicorn.Config(
            admin_app(exchange),
            http=AdminProtocol,
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
        )
    )
    main = _main_server(config, remove_socket)

    def stop_serving() -> None:  # a drained cluster node (govex cluster drain): exit 0
        main.should_exit = True

    exchange.stop_serving = stop_serving

    async def both() -> None:
        serving = asyncio.create_task(main.serve())
        while not main.started and not serving.done():
            await asyncio.sleep(0.02)
        if serving.done() or main.should_exit:
            await serving
            return
        bound.append(bind_admin_socket(path.parent))
        admin_task = asyncio.create_task(admin.serve(sockets=bound[:]))
        try:
            await serving
        finally:
            admin.should_exit = True
            await admin_task

    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(both())
    finally:
        remove_socket()
    return bool(main.started)
