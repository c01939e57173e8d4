"""Which nodes are in a cluster: heartbeats, joining, draining and removing a node.

Every node publishes a :class:`Heartbeat` on the nodes topic (compacted by node id); it
names the data directory it serves from (:func:`data_home`). A node that starts with a
``--node-id`` whose newest heartbeat is live and comes from another directory is
refused (``exchange.node_id_taken``): two processes under one id would each read their
own commands' results as the other's. The same directory started again (a restart, a
crash) keeps its id.

:func:`drain_node` (``govex cluster drain``) takes a serving node out: from then on its
``/healthz`` answers 503 ``draining`` (a load balancer stops sending to it) and every
other request is refused with 503 ``exchange.node_draining`` (:class:`Drain`, counted by
:mod:`exchange.api.middleware.drain`); the requests in flight finish, the node applies
the control topic to the end it knows and its audit entries are indexed, it publishes a
last heartbeat saying it leaves, and ``govex serve`` exits 0.

:func:`remove_node` (``govex cluster remove``) forgets a node that is no longer live (it
left, or fell silent): a tombstone for its id on the nodes topic, so no node lists it
any more. A live node is refused (``exchange.node_live``): drain it first. A removed node
that beats again (it was only cut off) is listed again, as ``removed …, then heard again``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from exchange.bus.kafka_tuning import FAILOVER
from exchange.cluster.status import STALE_S
from exchange.errors import Conflict, InvalidRequest, NotFound
from schemas.errors import ErrorCode

if TYPE_CHECKING:
    from exchange.cluster.plane import ControlPlane
    from exchange.service import Exchange

__all__ = [
    "FAILOVER",
    "Drain",
    "Heartbeat",
    "check_node_free",
    "data_home",
    "drain_node",
    "hear",
    "remove_node",
]

log = logging.getLogger("govex.cluster")

DRAIN_BOUND_S = 60.0  # in-flight requests and the control topic's end, each at most this long
REMOVE_BOUND_S = 10.0
END_S = 2.0  # how long the applier asks for the control topic's end (then polls on)


@dataclass(frozen=True)
class Heartbeat:
    """What a node says of itself on the nodes topic."""

    node: str
    at: float
    applied: int
    control_end: int
    record_lag: int | None
    leaving: bool = False
    home: str = ""  # the data directory it serves from (host, device, inode)

    def encode(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def decode(cls, raw: bytes) -> Heartbeat:
        return cls(**orjson.loads(raw))

    def live(self, now: float) -> bool:
        return not self.leaving and now - self.at < STALE_S


def data_home(data: Path) -> str:
    """The data directory as a heartbeat names it: host, device and inode."""
    stat = Path(data).stat()
    return f"{socket.gethostname()}:{stat.st_dev}:{stat.st_ino}"


def check_node_free(node: str, home: str, heard: dict[str, Heartbeat]) -> None:
    """Refuse to join as ``node`` when a live node of that id serves another directory."""
    beat = heard.get(node)
    if beat is None or not beat.live(time.time()) or beat.home in ("", home):
        return
    raise Conflict(
        f"node id {node!r} is live on another data directory (heard "
        f"{max(0.0, time.time() - beat.at):.1f}s ago): give this node a new --node-id, "
        "or stop that node first",
        code=ErrorCode.NODE_ID_TAKEN,
    )


def hear(nodes: dict[str, Heartbeat], removed: dict[str, float], record: Any) -> None:
    """One record of the nodes topic into ``nodes``: a heartbeat, or a tombstone (the node
    was removed: when, into ``removed``). A node heard again after its removal stays in
    ``removed``, so ``govex cluster status`` says so rather than list it as if never
    removed (until the topic's compaction drops the tombstone: ``delete.retention.ms``)."""
    if record.value is None:
        node = bytes(record.key or b"").decode("utf-8", "replace")
        nodes.pop(node, None)
        stamp = getattr(record, "timestamp", None)
        removed[node] = stamp / 1000 if isinstance(stamp, int) and stamp > 0 else time.time()
        return
    try:
        beat = Heartbeat.decode(record.value)
    except (orjson.JSONDecodeError, TypeError):
        return
    nodes[beat.node] = beat


def end_of(
    consumer: Any, partition: Any, known: int | None = None, *, bound_s: float = END_S
) -> int:
    """``partition``'s end offset, asked for at most ``bound_s``: kafka-python's own bound
    is the consumer's request timeout (30 s), all of it spent on a leader that has just
    died. With ``known``, an error is logged and ``known`` returned (the applier polls on);
    without, it is raised (``KafkaTimeoutError`` after the bound)."""
    from kafka.errors import KafkaError

    try:
        return int(consumer.end_offsets([partition], int(bound_s * 1000))[partition])
    except KafkaError as exc:
        if known is None:
            raise
        log.warning("the end of %s: %s", partition.topic, exc)
        return known


def read_nodes(consumer: Any, control: Any, nodes: Any, heard: Callable[[Any], None]) -> None:
    """Read the nodes topic to its end (``consumer`` assigned both topics, not yet polled
    by anyone else), handing each record to ``heard``; the control topic stays where it is."""
    consumer.pause(control)
    try:
        end = end_of(consumer, nodes, bound_s=30.0)
        deadline = time.monotonic() + 30.0
        while consumer.position(nodes) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    heard(record)
    finally:
        consumer.resume(control)


class Drain:
    """Whether this node drains, and the API requests in flight (the middleware's count)."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._cv = threading.Condition()

    def enter(self) -> bool:
        """Count one request in; False (not counted) once draining."""
        with self._cv:
            if self.draining:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._cv:
            self.in_flight -= 1
            self._cv.notify_all()

    def start(self) -> None:
        with self._cv:
            self.draining = True

    def wait_idle(self, timeout_s: float) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self.in_flight <= 0, timeout_s)


def drain_node(exchange: Exchange, plane: ControlPlane, grace_s: float = 0.0) -> dict[str, Any]:
    """Take this serving node out of the cluster (see the module's docstring); ``grace_s``:
    how long it goes on answering 503 once idle (a load balancer's health-check interval)."""
    stop_serving = exchange.stop_serving
    if stop_serving is None:
        raise InvalidRequest(
            "this node is not serving (govex serve): there is nothing to drain",
            code=ErrorCode.NOT_A_CLUSTER,
        )
    plane.drain.start()
    idle = plane.drain.wait_idle(DRAIN_BOUND_S)
    end = plane.control_end
    applied = plane.wait_applied(end - 1, DRAIN_BOUND_S)
    exchange.audit.wait_indexed()
    time.sleep(max(0.0, grace_s))
    plane.stop()  # its last heartbeat says it leaves
    stop_serving()
    return {
        "node": plane.node,
        "applied": plane.applied,
        "control_end": end,
        "caught_up": applied,
        "in_flight_left": 0 if idle else plane.drain.in_flight,
    }


def remove_node(plane: ControlPlane, node: str) -> dict[str, Any]:
    """Forget ``node`` (not live) on the nodes topic; no node lists it any more."""
    if node == plane.node:
        raise Conflict(
            f"node {node!r} is the node you ask: drain it (govex cluster drain), then remove "
            "it through another node",
            code=ErrorCode.NODE_LIVE,
        )
    beat = plane.nodes.get(node)
    if beat is None:
        raise NotFound(
            f"no node {node!r} in the cluster (known: {', '.join(sorted(plane.nodes)) or '-'})",
            code=ErrorCode.NODE_UNKNOWN,
        )
    if beat.live(time.time()):
        raise Conflict(
            f"node {node!r} is live (heard {max(0.0, time.time() - beat.at):.1f}s ago): drain "
            f"it first (govex cluster drain --data ITS-DATA), or stop it",
            code=ErrorCode.NODE_LIVE,
        )
    plane.publish_node(node, None)
    deadline = time.monotonic() + REMOVE_BOUND_S
    while node in plane.nodes and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"removed": node, "state": "removed" if node not in plane.nodes else beat_state(beat)}


def beat_state(beat: Heartbeat) -> str:
    return "left" if beat.leaving else "silent"
