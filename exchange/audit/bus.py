"""The audit topic of a cluster: one partition, one total order of the exchange's audit events.

A :class:`Partition` is what :mod:`exchange.audit.cluster` needs of the topic: append a
message and learn its offset once it is durable (``acks=all``), and read the messages
from an offset on, in order. :class:`KafkaPartition` is partition 0 of the audit topic
(``kafka.audit_topic``, created with one partition, the cluster's replication factor
and unlimited retention when it is missing); :class:`MemoryPartition` is the same
order in one process (several replicas in one test, the benchmark). An :class:`Outbox`
publishes the calls of one node's threads that queue while its last message is being
acknowledged as one message (group commit at the producer).

``kafka`` is imported only when a :class:`KafkaPartition` opens.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from exchange.bus.kafka_tuning import FAILOVER
from exchange.errors import AuditUnavailable

if TYPE_CHECKING:
    from exchange.config import KafkaSettings

__all__ = ["KafkaPartition", "MemoryPartition", "Outbox", "Partition"]

Message = tuple[int, bytes]
"""(offset, value) of one message."""

_SEND_TIMEOUT_S = 30.0
_FETCH_MIN_BYTES = 16 * 1024
_FETCH_MAX_WAIT_MS = 5
_TOPIC_VISIBLE_S = 15.0  # a topic just made is described by every broker within this


class Partition(Protocol):
    """One totally ordered, durable sequence of messages shared by every node."""

    def append(self, value: bytes) -> int:
        """Append ``value``; return its offset once the partition holds it durably."""
        ...

    def read(self, offset: int, limit: int, timeout_s: float) -> list[Message]:
        """Up to ``limit`` messages from ``offset`` on, in order (waits ``timeout_s`` at
        most for the first one; an empty list when there is none yet)."""
        ...

    def close(self) -> None: ...


class MemoryPartition:
    """A partition in this process: appends are ordered under a lock."""

    def __init__(self) -> None:
        self._values: list[bytes] = []
        self._cond = threading.Condition()

    def append(self, value: bytes) -> int:
        with self._cond:
            self._values.append(value)
            self._cond.notify_all()
            return len(self._values) - 1

    def read(self, offset: int, limit: int, timeout_s: float) -> list[Message]:
        with self._cond:
            self._cond.wait_for(lambda: len(self._values) > offset, timeout_s)
            return list(enumerate(self._values[offset : offset + limit], start=offset))

    def reader(self) -> MemoryPartition:
        """The same partition (each replica reads it with its own position)."""
        return self

    def close(self) -> None:
        return None


class KafkaPartition:
    """Partition 0 of the audit topic: a producer (``acks=all``, idempotent) and a
    consumer assigned the partition (no consumer group: every node reads all of it)."""

    def __init__(self, bootstrap: str, settings: KafkaSettings) -> None:
        from kafka.errors import KafkaError

        self.topic = settings.audit_topic
        try:
            self._open(bootstrap, settings)
        except KafkaError as exc:
            raise AuditUnavailable(
                f"cannot open the audit topic {self.topic} on {bootstrap}: {exc}"
            ) from exc

    def _open(self, bootstrap: str, settings: KafkaSettings) -> None:
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        options = {**settings.client_options(), **FAILOVER}
        servers = bootstrap.split(",")
        self._ensure_topic(servers, options)
        self._producer = KafkaProducer(
            bootstrap_servers=servers,
            client_id="govex-audit-producer",
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            max_request_size=8 * 1024 * 1024,
            request_timeout_ms=15_000,
            metrics_enabled=False,  # its sensors cost CPU on every request; nothing reads them
            **options,
        )
        self._tp = TopicPartition(self.topic, 0)
        self._consumer = KafkaConsumer(
            bootstrap_servers=servers,
            client_id="govex-audit-replica",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",  # never jump over entries (a gap): fail instead
            # a caught-up replica's fetch waits for a few messages (or 5 ms) instead of
            # one fetch per message arriving: far fewer requests per entry under load
            fetch_min_bytes=_FETCH_MIN_BYTES,
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
            fetch_max_bytes=64 * 1024 * 1024,
            metrics_enabled=False,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            **options,
        )
        self._consumer.assign([self._tp])
        self._position: int | None = None

    def _ensure_topic(self, servers: list[str], options: dict[str, Any]) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(
            bootstrap_servers=servers, client_id="govex-audit-admin", **options
        )
        try:
            brokers = len(admin.describe_cluster()["brokers"])
            replicas = max(1, min(3, brokers))
            topic = NewTopic(
                self.topic,
                num_partitions=1,
                replication_factor=replicas,
                topic_configs={
                    "min.insync.replicas": str(min(2, replicas)),
                    "retention.ms": "-1",  # a new node rebuilds the log from offset 0
                    "unclean.leader.election.enable": "false",
                },
            )
            with suppress(TopicAlreadyExistsError):
                admin.create_topics([topic])
            # a broker other than the controller may describe a topic made a moment ago
            # with no partition yet (another node made it, or this one): ask again, bounded
            deadline = time.monotonic() + _TOPIC_VISIBLE_S
            while True:
                found = admin.describe_topics([self.topic])
                partitions = found[0].get("partitions", []) if found else []
                if partitions or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if len(partitions) != 1:
                raise AuditUnavailable(
                    f"the audit topic {self.topic} has {len(partitions)} partitions; a "
                    "cluster's audit log needs exactly one (one total order)"
                )
        finally:
            admin.close()

    def append(self, value: bytes) -> int:
        from kafka.errors import KafkaError

        try:
            metadata = self._producer.send(self.topic, value=value, partition=0).get(
                timeout=_SEND_TIMEOUT_S
            )
        except KafkaError as exc:
            raise AuditUnavailable(
                f"the audit event was not acknowledged by Kafka ({type(exc).__name__})"
            ) from exc
        return int(metadata.offset)

    def read(self, offset: int, limit: int, timeout_s: float) -> list[Message]:
        if self._position != offset:
            self._consumer.seek(self._tp, offset)
            self._position = offset
        polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=limit)
        found = [(int(r.offset), bytes(r.value)) for r in polled.get(self._tp, [])]
        if found:
            self._position = found[-1][0] + 1
        return found

    def close(self) -> None:
        self._producer.close(timeout=5)
        self._consumer.close()


class Outbox:
    """One node's calls, published in few messages: a sender thread takes every call
    queued while the last message was being acknowledged and appends them as one
    message ``head + b",".join(calls) + tail`` (each call a JSON value). Each caller
    learns the offset of the message holding its call once the partition holds it
    durably, or the error that kept it out: the same answer as its own append."""

    MAX_CALLS = 1024
    MAX_BYTES = 1024 * 1024

    def __init__(self, partition: Partition, head: bytes, tail: bytes) -> None:
        self.partition = partition
        self.head, self.tail = head, tail
        self._cond = threading.Condition()
        self._queued: deque[_Call] = deque()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="govex-audit-outbox", daemon=True)
        self._thread.start()

    def append(self, call: bytes) -> int:
        """Publish ``call``; return the offset of the message that holds it."""
        queued = _Call(call)
        with self._cond:
            if self._closed:
                raise AuditUnavailable("the audit log is closed")
            self._queued.append(queued)
            self._cond.notify()
        queued.done.wait()
        if queued.error is not None:
            raise queued.error
        return queued.offset

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=_SEND_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queued) or self._closed)
                if not self._queued:
                    return
                batch: list[_Call] = []
                size = 0
                while self._queued and len(batch) < self.MAX_CALLS:
                    size += len(self._queued[0].value)
                    if batch and size > self.MAX_BYTES:
                        break
                    batch.append(self._queued.popleft())
            value = self.head + b",".join(c.value for c in batch) + self.tail
            try:
                offset = self.partition.append(value)
            except Exception as exc:  # every call of the message fails alike
                failure = exc if isinstance(exc, AuditUnavailable) else AuditUnavailable(str(exc))
                for c in batch:
                    c.error = failure
            else:
                for c in batch:
                    c.offset = offset
            for c in batch:
                c.done.set()


class _Call:
    __slots__ = ("done", "error", "offset", "value")

    def __init__(self, value: bytes) -> None:
        self.value = value
        self.offset = -1
        self.error: AuditUnavailable | None = None
        self.done = threading.Event()
