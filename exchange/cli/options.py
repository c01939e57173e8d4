"""Options every operator command shares, and the one call that runs its operation.

- :data:`DataOpt` — ``--data``/``-d`` (or ``GOVEX_DATA``), resolved once to an absolute path;
- :class:`Target` — the global ``--url``, ``--uscc``, ``--key`` and ``-v`` of ``govex``
  (or ``GOVEX_URL``, ``GOVEX_USCC``, ``GOVEX_KEY``; ``GOVEX_KEY_PASSPHRASE`` for the key);
- :func:`operate` — run a registered operation (:mod:`exchange.admin`) on the exchange the
  command names: through ``--url``, the admin socket of a running ``govex serve``, or the
  data directory opened directly. A command builds the params, calls this, renders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from exchange.admin.channel import CallParams, open_channel
from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["DataOpt", "Target", "absolute", "operate", "require_data"]

err = Console(stderr=True)


def absolute(value: Path | None) -> Path | None:
    """``value`` as an absolute path (``~`` expanded), resolved once."""
    return None if value is None else value.expanduser().resolve()


DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        "-d",
        help="data directory of the exchange",
        envvar="GOVEX_DATA",
        callback=absolute,
    ),
]


def require_data(data: Path | None) -> Path:
    resolved = absolute(data)
    if resolved is None:
        raise InvalidRequest(
            "give the data directory: --data DIR (or GOVEX_DATA)", code=ErrorCode.INVALID_OPTION
        )
    return resolved


@dataclass(frozen=True)
class Target:
    """Where operator commands go when they do not open ``--data`` themselves."""

    url: str | None = None
    uscc: str | None = None
    key: Path | None = None
    verbose: bool = False

    @classmethod
    def current(cls) -> Target:
        """What ``govex``'s global options said for this invocation."""
        return _current[0]

    def use(self) -> None:
        """Make this the target of the commands of this invocation (``govex``'s callback)."""
        _current[0] = self


_current: list[Target] = [Target()]


def operate(data: Path | None, name: str, params: CallParams = None) -> Any:
    """Run operation ``name`` with ``params`` on the exchange the command names; its result."""
    target = Target.current()
    secret = os.environ.get("GOVEX_KEY_PASSPHRASE")
    channel = open_channel(
        data=None if target.url else require_data(data),
        url=target.url,
        uscc=target.uscc,
        key=absolute(target.key),
        passphrase=secret.encode() if secret is not None else None,
    )
    if target.verbose:
        where = {
            "remote": f"the exchange at {target.url}",
            "socket": "the running govex serve (admin socket)",
            "direct": f"the data directory {data} (no server holds it)",
        }[channel.via]
        err.print(f"{name} through {where}", markup=False, highlight=False)
    return channel.call(name, params)
