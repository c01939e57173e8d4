"""The control plane of a cluster: publish a command as an event, apply every event in order.

``govex serve --node-id N --bus kafka://…`` joins a cluster (:func:`join_cluster`). The
node then replaces the state-changing methods of its services (:mod:`.kinds`) by ones
that publish a :class:`~exchange.cluster.events.ControlEvent` on the control topic
(``acks=all``) and wait, bounded, until this node's applier has applied that very event;
they return what the apply returned, or raise what it raised. One applier thread per
node reads the control topic's single partition in order and calls the original methods
under the event's time and seed (:mod:`exchange.moment`), so two conflicting commands
taken on two nodes resolve the same way everywhere: the first applied wins.

The node marks each event's id applied in its store, in the apply's own transaction
(seen twice, it applies once; a crash leaves it applied and marked, or neither), and keeps
the offset it applied last in ``DATA/cluster/control.json`` (read only
for a store from before the ids); started again, it goes on from the next one. An apply
that fails for a reason of this node's own (not a refusal) stops its applying until it
is started again (:class:`ApplyFailed`). Before it answers requests it applies the topic
up to its end (a node rebuilt from a fresh copy of the provisioned directory replays
everything). Every few seconds it publishes a heartbeat (applied offset, record lag) on
the nodes topic, which ``govex cluster status`` reads (:mod:`.status`).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson

from exchange import moment
from exchange.audit.segments import crash_point
from exchange.cluster import membership
from exchange.cluster.cases import CaseNumbers, claiming
from exchange.cluster.events import (
    ApplyFailed,
    ControlEvent,
    ControlTopics,
    ControlUnavailable,
    EventUnreadable,
    NodeBehind,
    Refused,
    published,
    requested,
)
from exchange.cluster.kinds import KINDS, Kind, kind_of
from exchange.cluster.membership import Drain, Heartbeat, data_home
from exchange.cluster.sealed import Sealer
from exchange.errors import ExchangeError, InvalidRequest
from schemas.errors import ErrorCode, SchemaError
from signing.errors import SigningError

if TYPE_CHECKING:
    from exchange.bus.kafka_security import KafkaSecurity
    from exchange.service import Exchange

__all__ = [
    "ApplyFailed",
    "ControlPlane",
    "ControlUnavailable",
    "NodeBehind",
    "claim_node",
    "join_cluster",
]

log = logging.getLogger("govex.cluster")

HEARTBEAT_S = 2.0
CATCH_UP_S = 300.0
STATE_FILE = Path("cluster") / "control.json"
# the events this node applied, by id: an event the topic holds twice (a producer's retry)
# applies once, and a node whose offset file was lost or is behind its store goes on
# from the store's offset (the file is written after the store commits)
_APPLIED = (
    "CREATE TABLE IF NOT EXISTS cluster_control_applied ("
    "id VARCHAR PRIMARY KEY, topic VARCHAR NOT NULL, at_offset BIGINT NOT NULL)"
)


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class ControlPlane:
    """One node's side of the control topic: publisher, applier, heartbeat."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        bootstrap: str,
        security: KafkaSecurity,
        tls: bool,
        node: str,
        topics: ControlTopics,
        wait_s: float = 10.0,
        after_wait_s: float = 5.0,
    ) -> None:
        self.exchange = exchange
        self.bootstrap = bootstrap
        self.options = {**security.client_options(tls=tls), **membership.FAILOVER}
        self.node = node
        self.topics = topics
        self.wait_s = wait_s
        self.after_wait_s = after_wait_s
        self.applied = -1  # the offset of the last control event applied here
        self.control_end = 0  # the control topic's end offset, as last seen
        self.nodes: dict[str, Heartbeat] = {}
        self.removed: dict[str, float] = {}  # node → when it was removed (a tombstone read)
        self.sealer = Sealer(exchange.keyring)  # the secret arguments of events
        self.skipped = 0  # unreadable events (counted, applied as nothing)
        self.duplicates = 0  # events seen again (applied as nothing)
        self.failure: str | None = None  # why this node stopped applying (ApplyFailed)
        self.drain = Drain()  # govex cluster drain (exchange.cluster.membership)
        self.home = data_home(Path(exchange.settings.data))
        exchange.store.execute(_APPLIED)
        self.case_numbers = CaseNumbers(exchange.store)
        self._state = Path(exchange.settings.data) / STATE_FILE
        self._originals: dict[str, Callable[..., Any]] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._applied_cv = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._applier: threading.Thread | None = None
        self._producer: Any = None
        self._consumer: Any = None

    # -- starting and stopping ------------------------------------------------
    def claim(self) -> ControlPlane:
        """Create the topics if needed and refuse a node id a live node holds on another
        data directory (``exchange.node_id_taken``), before this node consumes anything."""
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        from exchange.cluster.status import ensure_topics

        ensure_topics(self.bootstrap, self.options, self.topics)
        self.applied = self._load_applied()
        self._producer = KafkaProducer(
            bootstrap_servers=self.bootstrap.split(","),
            client_id=f"govex-control-{self.node}",
            acks="all",
            enable_idempotence=True,  # a retry after a lost acknowledgement: no second copy
            retries=5,
            linger_ms=0,
            max_in_flight_requests_per_connection=1,
            **self.options,
        )
        self._consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap.split(","),
            client_id=f"govex-control-{self.node}",
            group_id=None,
            enable_auto_commit=False,
            **self.options,
        )
        control = TopicPartition(self.topics.control, 0)
        nodes = TopicPartition(self.topics.nodes, 0)
        self._consumer.assign([control, nodes])
        self._consumer.seek(control, self.applied + 1)
        self._consumer.seek_to_beginning(nodes)
        membership.read_nodes(self._consumer, control, nodes, self._heard)
        membership.check_node_free(self.node, self.home, self.nodes)
        return self

    def start(self) -> ControlPlane:
        """Apply the control topic to its end (claimed first, if not yet), then serve."""
        from kafka import TopicPartition

        if self._consumer is None:
            self.claim()
        control = TopicPartition(self.topics.control, 0)
        self.control_end = membership.end_of(self._consumer, control, bound_s=30.0)
        self.install()
        self._applier = threading.Thread(target=self._run, name="govex-control", daemon=True)
        self._threads = [
            self._applier,
            threading.Thread(target=self._beat, name="govex-heartbeat", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if not self.wait_applied(self.control_end - 1, CATCH_UP_S):
            raise NodeBehind(
                f"node {self.node} applied control events up to {self.applied} of "
                f"{self.control_end} within {CATCH_UP_S:g}s"
            )
        return self

    def stop(self) -> None:
        if self._stop.is_set():
            return  # drained already
        self._stop.set()
        try:
            self._send_beat(leaving=True)
        except Exception:
            log.debug("no last heartbeat", exc_info=True)
        for thread in self._threads:
            thread.join(timeout=15)
        self.close_clients()

    def close_clients(self) -> None:
        for client in (self._producer, self._consumer):
            if client is not None:
                client.close()

    # -- the command side -----------------------------------------------------
    def install(self) -> None:
        """Send every kind's method of the live services through the topic."""
        for kind in KINDS.values():
            target = kind.target(self.exchange)
            original = getattr(target, kind.method)
            self._originals[kind.name] = original
            setattr(target, kind.method, self._command(kind, original))
        self.exchange.cases.resolve = claiming(self.exchange, self.case_numbers)  # type: ignore[method-assign]
        self.exchange.certificates.issue_many = _not_in_cluster(  # type: ignore[method-assign]
            "bulk issuance numbers its serials on one node; issue one at a time "
            "(POST /v1/certificates) on a cluster node"
        )

    def _command(self, kind: Kind, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)

        def command(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is self._applier:
                return original(*args, **kwargs)  # a change within an apply: already ordered
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return self.submit(kind, tuple(bound.arguments.values()))

        command.__doc__ = original.__doc__
        return command

    def submit(self, kind: Kind, args: tuple[Any, ...]) -> Any:
        """Publish one event and return the result of its apply on this node."""
        from kafka.errors import KafkaError, KafkaTimeoutError

        if self.failure is not None:
            raise NodeBehind(
                f"node {self.node} stopped applying control events ({self.failure}); "
                "nothing was published: restart it, or ask another node"
            )
        event = self.sealer.seal(kind, ControlEvent.new(kind.name, kind.encode(args), self.node))
        waiter = self._waiters[event.id] = _Waiter()
        try:
            try:
                sent = self._producer.send(  # the partition every node applies
                    self.topics.control, value=event.encode(), key=event.id.encode(), partition=0
                ).get(timeout=self.wait_s)
            except KafkaTimeoutError as exc:  # the producer may still deliver it
                raise ControlUnavailable(
                    f"the control event {kind.name} was not acknowledged within "
                    f"{self.wait_s:g}s; it may still take effect: look before you retry"
                ) from exc
            except KafkaError as exc:
                raise ControlUnavailable(
                    f"the control event {kind.name} could not be published ({exc}); "
                    "nothing changed: retry"
                ) from exc
            offset = int(sent.offset)
            marks = published.get()
            if marks is not None:
                marks.append(offset)
            if not waiter.done.wait(self.wait_s):
                raise NodeBehind(
                    f"the control event {kind.name} is at offset {offset} but this node "
                    f"applied only up to {self.applied} within {self.wait_s:g}s; it will "
                    f"take effect: ask with Govex-After: {offset}",
                    extra={"offset": offset, "applied": self.applied},
                )
        finally:
            self._waiters.pop(event.id, None)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def wait_applied(self, offset: int, timeout_s: float) -> bool:
        """True once this node applied ``offset`` (waiting up to ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self._applied_cv:
            while self.applied < offset:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._applied_cv.wait(left)
        return True

    @staticmethod
    def requested() -> AbstractContextManager[list[int]]:
        """Collect the offsets of the control events published within the block."""
        return requested()

    # -- the apply side -------------------------------------------------------
    def _run(self) -> None:
        from kafka import TopicPartition
        from kafka.errors import KafkaError

        control = TopicPartition(self.topics.control, 0)
        next_end = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_end:  # asked apart: its error never stops the poll
                next_end = time.monotonic() + 1.0
                self.control_end = membership.end_of(self._consumer, control, self.control_end)
            try:
                batches = self._consumer.poll(timeout_ms=200)
            except KafkaError as exc:
                log.warning("control topic: %s", exc)
                self._stop.wait(1.0)
                continue
            for partition, records in batches.items():
                for record in records:
                    if partition.topic == self.topics.nodes:
                        self._heard(record)
                        continue
                    try:
                        self.apply(int(record.offset), record.value)
                    except ApplyFailed as exc:  # stay behind, never go on past it
                        log.exception("control event at offset %d not applied", record.offset)
                        self.failure = f"offset {record.offset}: {exc}"
                        self._consumer.pause(control)
                        break
                    self.control_end = max(self.control_end, int(record.offset) + 1)

    def _heard(self, record: Any) -> None:
        membership.hear(self.nodes, self.removed, record)

    def apply(self, offset: int, raw: bytes) -> None:
        waiter: _Waiter | None = None
        try:
            event = ControlEvent.decode(raw)
            kind = kind_of(event)
            if self._seen(event.id):
                self.duplicates += 1
                log.warning("control event %s seen again at offset %d: dropped", event.id, offset)
                result, error = None, None
            else:
                waiter = self._waiters.get(event.id)
                result, error = self._apply_marked(kind, event, offset)
        except EventUnreadable as exc:
            self.skipped += 1
            log.warning("control event at offset %d skipped: %s", offset, exc)
            result, error = None, None
        with self._applied_cv:
            self.applied = offset
            self._save_applied()
            self._applied_cv.notify_all()
        if waiter is not None:
            waiter.result, waiter.error = result, error
            waiter.done.set()

    def _apply_marked(
        self, kind: Kind, event: ControlEvent, offset: int
    ) -> tuple[Any, BaseException | None]:
        """The event's writes and its applied-mark in one transaction: a crash leaves the
        event either applied and marked or neither (the services' transactions join it,
        :meth:`exchange.store.Store.transaction`). A refusal writes nothing but the mark."""
        try:
            with self.exchange.store.transaction():
                result, error = self._call(kind, event)
                if error is not None:
                    raise Refused(error)  # noqa: TRY301 - rolls its writes back
                self._mark(event.id, offset)
                crash_point("control")
        except Refused as refused:
            self._mark(event.id, offset)
            return None, refused.error
        except duckdb.Error as exc:  # the commit itself failed: nothing of it stays
            raise ApplyFailed(f"the control event {event.id} ({event.kind}): {exc}") from exc
        return result, None

    def _call(self, kind: Kind, event: ControlEvent) -> tuple[Any, BaseException | None]:
        try:
            args = kind.decode(self.sealer.open(kind, event))
        except ValueError as exc:
            raise EventUnreadable(f"{event.kind}: bad arguments ({exc})") from exc
        try:
            with moment.fixed(event.at, event.seed), ExitStack() as stack:
                if event.origin != self.node:
                    stack.enter_context(moment.echoing(event.origin))
                return self._originals[kind.name](*args), None
        except (ExchangeError, SchemaError, SigningError) as exc:
            return None, exc  # refused the same way on every node
        except Exception as exc:  # this node's own failure: applying on would diverge
            raise ApplyFailed(f"the control event {event.id} ({event.kind}): {exc}") from exc

    def _seen(self, event_id: str) -> bool:
        try:
            found = self.exchange.store.fetchone(
                "SELECT 1 FROM cluster_control_applied WHERE id = ?", [event_id]
            )
        except duckdb.Error as exc:
            raise ApplyFailed(f"the applied events cannot be read: {exc}") from exc
        return found is not None

    def _mark(self, event_id: str, offset: int) -> None:
        try:
            self.exchange.store.execute(
                "INSERT INTO cluster_control_applied VALUES (?, ?, ?)",
                [event_id, self.topics.control, offset],
            )
        except duckdb.Error as exc:
            raise ApplyFailed(f"the event {event_id} was not marked applied: {exc}") from exc

    # -- the applied offset, kept beside the store ----------------------------
    def _load_applied(self) -> int:
        row = self.exchange.store.fetchone(
            "SELECT coalesce(max(at_offset), -1) FROM cluster_control_applied WHERE topic = ?",
            [self.topics.control],
        )
        marked = int(row[0]) if row is not None else -1
        if marked >= 0:  # the store's own word: a file restored apart from it may be ahead
            return marked  # (what follows the mark, unreadable or seen again, reads again)
        try:  # a store from before the marks
            kept = orjson.loads(self._state.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return -1
        if not isinstance(kept, dict) or kept.get("topic") != self.topics.control:
            return -1
        return int(kept.get("applied", -1))

    def _save_applied(self) -> None:
        """Keep the offset beside the store (which knows it too: a failure here must not
        end the applier, or the node would stop applying while it beats as live)."""
        try:
            self._state.parent.mkdir(exist_ok=True)
            tmp = self._state.with_name(f".{self._state.name}.{os.getpid()}")
            tmp.write_bytes(orjson.dumps({"topic": self.topics.control, "applied": self.applied}))
            os.replace(tmp, self._state)
        except OSError as exc:
            log.warning("control offset %d not written to %s: %s", self.applied, self._state, exc)

    # -- heartbeats -----------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(0 if not self.nodes.get(self.node) else HEARTBEAT_S):
            try:
                self._send_beat()
            except Exception:
                log.debug("heartbeat not sent", exc_info=True)
                self._stop.wait(HEARTBEAT_S)

    def _send_beat(self, *, leaving: bool = False) -> None:
        consumer = self.exchange.consumer
        beat = Heartbeat(
            node=self.node,
            at=time.time(),
            applied=self.applied,
            control_end=self.control_end,
            record_lag=consumer.lag if consumer is not None else None,
            leaving=leaving,
            home=self.home,
        )
        self.publish_node(self.node, beat.encode())
        self.nodes[self.node] = beat

    def publish_node(self, node: str, value: bytes | None) -> None:
        """A heartbeat of ``node`` on the nodes topic (None: a tombstone, it was removed)."""
        self._producer.send(self.topics.nodes, value=value, key=node.encode(), partition=0).get(
            timeout=5
        )


def _not_in_cluster(why: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise InvalidRequest(f"not on a cluster node: {why}", code=ErrorCode.NOT_IN_CLUSTER)

    return refused


def join_cluster(exchange: Exchange, bootstrap: str, *, tls: bool = False) -> ControlPlane:
    """Make ``exchange`` a node of the cluster on ``bootstrap`` (``govex serve --node-id``)."""
    return claim_node(exchange, bootstrap, tls=tls).start()


def claim_node(exchange: Exchange, bootstrap: str, *, tls: bool = False) -> ControlPlane:
    """Check that this node's id is free in the cluster, before it consumes anything;
    :meth:`ControlPlane.start` then applies the control topic and serves."""
    kafka = exchange.settings.kafka
    plane = ControlPlane(
        exchange,
        bootstrap=bootstrap,
        security=kafka,
        tls=tls,
        node=exchange.node_id(),
        topics=ControlTopics.for_prefix(kafka.topic_prefix),
    )
    try:
        plane.claim()
    except BaseException:
        plane.close_clients()  # no last heartbeat under an id another node holds
        raise
    exchange.cluster = plane
    return plane
