"""The operator's channel to an exchange: the CLI side.

:func:`open_channel` picks the path and every path runs the same registered operation
(:mod:`exchange.admin.operations`) and gives back the same JSON-able result:

- :class:`DirectChannel` — no server holds the data directory: open it, run, close;
- :class:`SocketChannel` — ``govex serve`` runs on it: send the call over ``DATA/admin.sock``
  (HTTP over the Unix socket); the server runs it against its live exchange;
- :class:`RemoteChannel` — ``--url``: ``POST /v1/admin/ops/{name}`` with an access token
  got with an operator department's ``auth`` key (RFC 7523 client assertion,
  :class:`exchange.client.TokenClient`).

Errors come back as RFC 9457 problem+json and are raised as :class:`RemoteProblem`
(an :class:`~exchange.errors.ExchangeError` with the server's code), which the CLI prints
as its one line.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from exchange.admin.operations import Operator, run_operation
from exchange.config import Settings
from exchange.errors import AuthError, ExchangeError, InvalidRequest
from schemas.errors import ErrorCode

__all__ = [
    "ADMIN_SOCKET",
    "Channel",
    "DirectChannel",
    "RemoteChannel",
    "RemoteProblem",
    "SocketChannel",
    "admin_socket_path",
    "open_channel",
    "server_listening",
]

ADMIN_SOCKET = "admin.sock"  # in the data directory, while govex serve runs on it
CallParams = Mapping[str, Any] | BaseModel | None
# an operation may take long (a backup): the answer is awaited, the connection is not
_TIMEOUT = httpx.Timeout(3600.0, connect=10.0)


def admin_socket_path(data: Path) -> Path:
    return Path(data) / ADMIN_SOCKET


class Channel(Protocol):
    via: str  # "direct" | "socket" | "remote"

    def call(self, name: str, params: CallParams = None) -> Any: ...


class RemoteProblem(ExchangeError):
    """An operation refused by the exchange at the other end of a channel (its problem+json)."""

    def __init__(self, message: str, code: ErrorCode, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


def _json(params: CallParams) -> dict[str, Any]:
    if isinstance(params, BaseModel):
        return dict(params.model_dump(mode="json"))
    return dict(to_jsonable_python(dict(params or {})))


def _answer(response: httpx.Response, where: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        try:
            code = ErrorCode(body["code"])
        except ValueError:
            code = ErrorCode.INTERNAL
        detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
        raise RemoteProblem(detail, code, response.status_code)
    raise RemoteProblem(
        f"{where} answered {response.status_code} {response.reason_phrase}",
        ErrorCode.ADMIN_UNREACHABLE,
        response.status_code,
    )


@dataclass
class DirectChannel:
    """Open the data directory in this process (no server holds it)."""

    data: Path
    via: str = "direct"

    def call(self, name: str, params: CallParams = None) -> Any:
        from exchange.service import Exchange

        operator = Operator.local_user(getpass.getuser(), "direct", os.getuid())
        with Exchange.open(Settings(data=self.data)) as exchange:
            return run_operation(exchange, name, params, operator)


@dataclass
class SocketChannel:
    """The running ``govex serve``'s admin socket in the data directory."""

    path: Path
    via: str = "socket"

    def call(self, name: str, params: CallParams = None) -> Any:
        transport = httpx.HTTPTransport(uds=str(self.path))
        try:
            with httpx.Client(
                transport=transport, base_url="http://govex-admin", timeout=_TIMEOUT
            ) as client:
                response = client.post(f"/ops/{name}", json=_json(params))
        except httpx.HTTPError as exc:
            raise ExchangeError(
                f"the running exchange's admin socket {self.path} failed: {exc}; is govex "
                "serve still running?",
                code=ErrorCode.ADMIN_UNREACHABLE,
            ) from exc
        return _answer(response, f"admin socket {self.path}")


@dataclass
class RemoteChannel:
    """An exchange at ``url``, as operator department ``uscc`` with its ``auth`` key."""

    url: str
    uscc: str
    key_file: Path
    passphrase: bytes | None
    via: str = "remote"
    _token: str | None = field(default=None, repr=False)

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url.rstrip("/"), timeout=_TIMEOUT)

    def token(self, client: httpx.Client) -> str:
        from exchange.client import TokenClient
        from signing.keys import kid_of, load_private_key

        if self._token is None:
            if self.passphrase is None:
                raise AuthError(
                    f"the key {self.key_file} is encrypted: set GOVEX_KEY_PASSPHRASE",
                    code=ErrorCode.CREDENTIAL_REQUIRED,
                )
            key = load_private_key(self.key_file, self.passphrase)
            tokens = TokenClient(
                client, uscc=self.uscc, auth_key=key, auth_kid=kid_of(key.public_key())
            )
            self._token = tokens.request().access_token
        return self._token

    def call(self, name: str, params: CallParams = None) -> Any:
        try:
            with self._client() as client:
                token = self.token(client)
                response = client.post(
                    f"/v1/admin/ops/{name}",
                    json=_json(params),
                    headers={"Authorization": f"Bearer {token}"},
                )
        except httpx.HTTPError as exc:
            raise ExchangeError(
                f"cannot reach the exchange at {self.url}: {exc}",
                code=ErrorCode.ADMIN_UNREACHABLE,
            ) from exc
        return _answer(response, self.url)


def server_listening(path: Path) -> bool:
    """Whether a running exchange answers on the admin socket ``path``."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False  # a stale socket of a stopped server, or not ours to open
    return True


def open_channel(
    *,
    data: Path | None = None,
    url: str | None = None,
    uscc: str | None = None,
    key: Path | None = None,
    passphrase: bytes | None = None,
) -> Channel:
    """The channel to use: ``url`` (with ``uscc`` and ``key``) for a remote exchange, else the
    admin socket of a ``govex serve`` running on ``data``, else ``data`` opened directly."""
    if url is not None:
        if uscc is None or key is None:
            raise AuthError(
                "--url needs an operator's key: --uscc USCC --key auth.pem "
                "(or GOVEX_USCC, GOVEX_KEY)",
                code=ErrorCode.CREDENTIAL_REQUIRED,
            )
        return RemoteChannel(url, uscc, key, passphrase)
    if data is None:
        raise InvalidRequest(
            "which exchange? give --data DIR (or GOVEX_DATA), or --url URL (or GOVEX_URL)",
            code=ErrorCode.INVALID_OPTION,
        )
    path = admin_socket_path(data)
    if server_listening(path):
        return SocketChannel(path)
    return DirectChannel(data)
