"""Control events: one state change of the control plane, as every node applies it.

An event names its kind (``grant.decide``), carries the arguments of the change as JSON,
and everything the apply would otherwise take from the node it runs on: the time of the
command and a random seed (ids, status-list indexes; :mod:`exchange.moment`). Its id lets
the node that took the command find the result of its own event.

The topics of a cluster derive from the record topics' prefix (``kafka.topic_prefix``):
``govex.records.`` → ``govex.control`` (the events: one partition, one total order, kept
forever so a node can be rebuilt from it) and ``govex.nodes`` (each node's heartbeat,
compacted by node id).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from exchange.errors import ExchangeError
from schemas.errors import ErrorCode

__all__ = [
    "ApplyFailed",
    "ControlEvent",
    "ControlTopics",
    "ControlUnavailable",
    "EventUnreadable",
    "NodeBehind",
    "Refused",
    "published",
    "requested",
]

VERSION = 1

# the offsets of the control events a request published (read by the API middleware)
published: ContextVar[list[int] | None] = ContextVar("govex_control_published", default=None)


@contextmanager
def requested() -> Iterator[list[int]]:
    """Collect the offsets of the control events published within the block."""
    marks: list[int] = []
    token = published.set(marks)
    try:
        yield marks
    finally:
        published.reset(token)


class EventUnreadable(ValueError):
    """A message on the control topic that is not a control event of this version."""


@dataclass(frozen=True)
class ControlTopics:
    """The names of a cluster's topics beside its record topics."""

    control: str
    nodes: str

    @classmethod
    def for_prefix(cls, record_prefix: str) -> ControlTopics:
        base = record_prefix.rstrip(".")
        base = base.removesuffix(".records") if base != "records" else "govex"
        return cls(control=f"{base}.control", nodes=f"{base}.nodes")


@dataclass(frozen=True)
class ControlEvent:
    """One control-plane change: kind, JSON arguments, time, seed, origin node, id."""

    kind: str
    args: Any
    at: datetime
    seed: bytes
    origin: str
    id: str

    @classmethod
    def new(cls, kind: str, args: Any, origin: str) -> ControlEvent:
        return cls(
            kind=kind,
            args=args,
            at=datetime.now(UTC),
            seed=secrets.token_bytes(32),
            origin=origin,
            id=uuid.uuid4().hex,
        )

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": VERSION,
                "id": self.id,
                "kind": self.kind,
                "args": self.args,
                "at": self.at.isoformat(),
                "seed": self.seed.hex(),
                "origin": self.origin,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> ControlEvent:
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or data.get("v") != VERSION:
                raise EventUnreadable(f"not a version-{VERSION} control event")
            at = datetime.fromisoformat(str(data["at"]))
            if at.tzinfo is None:
                raise EventUnreadable("the event's time has no time zone")
            return cls(
                kind=str(data["kind"]),
                args=data["args"],
                at=at,
                seed=bytes.fromhex(str(data["seed"])),
                origin=str(data["origin"]),
                id=str(data["id"]),
            )
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, EventUnreadable):
                raise
            raise EventUnreadable(f"unreadable control event: {exc}") from exc


class NodeBehind(ExchangeError):
    """This node has not applied the control event a request depends on (yet)."""

    code = ErrorCode.NODE_BEHIND
    status = 503
    title = "Node behind"


class ControlUnavailable(ExchangeError):
    """The control event could not be published: nothing changed."""

    code = ErrorCode.CONTROL_UNAVAILABLE
    status = 503
    title = "Control plane unavailable"


class ApplyFailed(Exception):
    """An event's apply failed on this node for a reason of its own (its store, a bug), not
    as a refusal every node makes alike: it is not applied here, and this node applies no
    further event until it is started again (its caches then come from its store)."""


class Refused(Exception):
    """An apply refused alike on every node: its writes roll back, its mark stays."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error
