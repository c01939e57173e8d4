"""The time and the randomness of a state change, fixed while a control event applies.

Alone, an exchange takes ``now`` from the clock and ids and status-list indexes from the
OS CSPRNG. In a cluster every node applies the same control event
(:mod:`exchange.cluster`), and each must compute the same grant id, the same timestamps
and the same status-list index: the event carries its time and a random seed, and the
applier runs the change inside :func:`fixed`. Outside :func:`fixed` (one node, or any
read) these are the clock and ``secrets`` as before.

This module imports nothing of ours: the services that change state read it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = [
    "echo_origin",
    "echoing",
    "fixed",
    "is_echo",
    "is_fixed",
    "name_hex",
    "now",
    "random_bytes",
    "token_hex",
]


@dataclass
class _Moment:
    at: datetime
    seed: bytes
    counter: int = field(default=0)
    named: int = field(default=0)

    def draw(self, n: int) -> bytes:
        """``n`` bytes of an HMAC-SHA256 stream keyed by the event's seed."""
        out = b""
        while len(out) < n:
            self.counter += 1
            out += hmac.new(self.seed, self.counter.to_bytes(8, "big"), hashlib.sha256).digest()
        return out[:n]

    def name(self, n: int) -> bytes:
        """The next of a stream of names apart from :meth:`draw`'s: a node may take names
        the others do not (its own audit messages) without changing what they draw."""
        self.named += 1
        label = b"name" + self.named.to_bytes(8, "big")
        return hmac.new(self.seed, label, hashlib.sha256).digest()[:n]


_current: ContextVar[_Moment | None] = ContextVar("govex_moment", default=None)


@contextmanager
def fixed(at: datetime, seed: bytes) -> Iterator[None]:
    """Within the block, :func:`now` is ``at`` and randomness is drawn from ``seed``."""
    token = _current.set(_Moment(at.astimezone(UTC), seed))
    try:
        yield
    finally:
        _current.reset(token)


_echo: ContextVar[str | None] = ContextVar("govex_moment_echo", default=None)


@contextmanager
def echoing(origin: str = "") -> Iterator[None]:
    """Within the block, this node applies a change another node (``origin``) made: the
    cluster's one audit log already holds (or will hold) that change's entries from the
    node that made it, so this node records them nowhere but in its own state."""
    token = _echo.set(origin)
    try:
        yield
    finally:
        _echo.reset(token)


def is_echo() -> bool:
    """True while this node applies a control event another node published."""
    return _echo.get() is not None


def echo_origin() -> str | None:
    """The node whose control event this node applies (None: its own, or none)."""
    return _echo.get() or None


def is_fixed() -> bool:
    """True while a control event applies."""
    return _current.get() is not None


def now() -> datetime:
    """The current time (UTC), or the applying event's."""
    moment = _current.get()
    return datetime.now(UTC) if moment is None else moment.at


def random_bytes(n: int) -> bytes:
    """``n`` random bytes: the OS's, or the applying event's stream."""
    moment = _current.get()
    return os.urandom(n) if moment is None else moment.draw(n)


def name_hex(nbytes: int) -> str | None:
    """A name the same each time this node applies the same event (None outside one)."""
    moment = _current.get()
    return None if moment is None else moment.name(nbytes).hex()


def token_hex(nbytes: int) -> str:
    """A random hex token as :func:`secrets.token_hex`, or from the applying event's stream."""
    moment = _current.get()
    return secrets.token_hex(nbytes) if moment is None else moment.draw(nbytes).hex()
