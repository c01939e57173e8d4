"""Publishing to Kafka: topic ``govex.records.<resource>``, keyed by record key.

Each batch holds records of one partition; its message key is its first record's key
(:func:`murmur2` is Kafka's default partitioner, so the connector groups records the way
the producer will). ``acks="all"`` and ``enable_idempotence=True`` are passed
explicitly; compression, ``linger_ms`` and ``batch_size`` are the connector's
``[publish.producer]`` (:class:`~exchange.bus.kafka_tuning.ProducerTuning`, defaults chosen
by measurement). On a secured bus the connector speaks as its department's own principal
(``[publish.kafka]``: SASL/SCRAM, TLS with ``kafkas://``), whose ACLs let it write its own
resources' topics only; a refusal by the broker's authorizer is final, not retried.
Topics it creates get the cluster's ``default.replication.factor`` unless the config
names one. Idempotence alone loses in-flight batches when the producer epoch is bumped,
which is why the outbox resends and the exchange drops duplicates by batch id and
``(resource, key, version)``. ``kafka`` itself is imported only when a producer starts.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import ConfigError, Refused, Unreachable
from connectors.outbox import OutboxBatch
from connectors.publishers.base import Delivery, Retry, pending_note
from exchange.bus.kafka_health import unreachable_brokers
from exchange.bus.kafka_security import KafkaSecurity
from exchange.bus.kafka_tuning import ProducerTuning, codec_problem

__all__ = ["KafkaPublisher", "murmur2"]


def murmur2(data: bytes) -> int:
    """Kafka's default partitioner hash (the Java client's ``Utils.murmur2``).

    The same results as ``kafka.partitioner.default.murmur2``, which the producer uses for
    a message key, at a fraction of the cost: the connector hashes every record's key to
    put it in a batch of its partition.
    """
    length = len(data)
    m = 0x5BD1E995
    h = 0x9747B28C ^ length
    whole = length & ~3
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    extra = length & 3
    if extra >= 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra >= 1:
        h = ((h ^ data[whole]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


@dataclass
class _KafkaState:
    producer: Any = None
    partitions: int | None = None
    topic_ready: bool = False
    failures: list[str] = field(default_factory=list)


class KafkaPublisher:
    """Publishes to ``govex.records.<resource>`` on a Kafka cluster."""

    def __init__(
        self,
        bootstrap: str,
        resource: str,
        *,
        topic_prefix: str = "govex.records.",
        partitions: int = 3,
        replication_factor: int | None = None,
        max_message_bytes: int = 1_000_000,
        retry: Retry | None = None,
        window: int = 8,
        client_id: str = "govex-connector",
        security: KafkaSecurity | None = None,
        tls: bool = False,
        tuning: ProducerTuning | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.resource = resource
        self.topic = f"{topic_prefix}{resource}"
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.max_message_bytes = max_message_bytes
        self.retry = retry or Retry()
        self.window = max(1, window)
        self.client_id = client_id
        self.security = security or KafkaSecurity()
        self.tls = tls
        self.tuning = tuning or ProducerTuning()
        problem = codec_problem(self.tuning.compression_type)
        if problem is not None:
            raise ConfigError(problem)
        try:
            self._options = self.security.client_options(tls=tls)
        except ValueError as exc:  # a SASL principal without a readable password
            raise ConfigError(str(exc)) from exc
        self._state = _KafkaState()

    def describe(self) -> str:
        return f"{'kafkas' if self.tls else 'kafka'}://{self.bootstrap} topic {self.topic}"

    def groups(self) -> int:
        return self._partition_count()

    def partition_of(self, key: str) -> int:
        count = self._state.partitions or self._partition_count()
        return (murmur2(key.encode()) & 0x7FFFFFFF) % count

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        todo = list(batches)
        delays = self.retry.delays()
        while todo:
            try:
                producer = self._producer()
                window, todo = todo[: self.window], todo[self.window :]
                failed: list[OutboxBatch] = []
                for batch, outcome in self._send(producer, window):
                    if outcome is None:
                        yield Delivery(batch.batch_id, batch.size)
                    else:
                        failed.append(batch)
                        self._state.failures.append(outcome)
                if not failed:
                    delays = self.retry.delays()  # progress: a fresh deadline
                    continue
                todo = failed + todo
                self._drop_producer()  # a new producer (and epoch) for the resend
            except _NotReady as exc:
                self._state.failures.append(str(exc))
            delay = next(delays, None)
            if delay is None:
                last = self._state.failures[-1] if self._state.failures else "no answer"
                raise Unreachable(
                    f"Kafka {self.bootstrap} did not acknowledge within "
                    f"{self.retry.deadline_s:g} s (last problem: {last}); " + pending_note(todo)
                )
            last = self._state.failures[-1] if self._state.failures else "no answer"
            self.retry.pause(delay, f"Kafka {self.bootstrap}: {last}")

    def close(self) -> None:
        self._drop_producer(timeout_s=10)

    def producer_options(self) -> dict[str, Any]:
        """Keyword arguments of its ``KafkaProducer``: idempotent."""
        return {
            "bootstrap_servers": self.bootstrap.split(","),
            "client_id": self.client_id,
            "acks": "all",
            "enable_idempotence": True,
            "retries": 2**31 - 1,
            "max_in_flight_requests_per_connection": 5,
            "max_request_size": self.max_message_bytes + 64 * 1024,
            "request_timeout_ms": 10_000,
            "delivery_timeout_ms": 30_000,
            "max_block_ms": 15_000,
            "reconnect_backoff_max_ms": 2_000,
            **self.tuning.options(),
            **self._options,
        }

    # -- internals -------------------------------------------------
    def _reachable(self) -> None:
        """Fail fast, without a Kafka client, when no bootstrap server accepts TCP."""
        problem = unreachable_brokers(self.bootstrap)
        if problem is not None:
            raise _NotReady(f"broker unreachable ({problem})")

    def _producer(self) -> Any:
        if self._state.producer is not None:
            return self._state.producer
        self._reachable()
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        try:
            self._ensure_topic()
            self._state.producer = KafkaProducer(**self.producer_options())
        except KafkaError as exc:
            raise _NotReady(f"cannot connect a producer: {exc}") from exc
        return self._state.producer

    def _ensure_topic(self) -> None:
        if self._state.topic_ready:
            return
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap.split(","),
            client_id=self.client_id,
            request_timeout_ms=10_000,
            **self._options,
        )
        try:
            with suppress(TopicAlreadyExistsError):
                # replication -1: the cluster's default.replication.factor
                admin.create_topics(
                    [NewTopic(self.topic, self.partitions, self.replication_factor or -1)]
                )
            described = admin.describe_topics([self.topic])
            parts = (described[0].get("partitions") or []) if described else []
            self._state.partitions = len(parts) or self.partitions
            self._state.topic_ready = True
        except KafkaError as exc:
            if _authorization(exc):
                raise Refused(_not_authorised(self.topic, self.security, exc)) from exc
            raise _NotReady(f"cannot create topic {self.topic}: {exc}") from exc
        finally:
            admin.close()

    def _partition_count(self) -> int:
        delays = self.retry.delays()
        while self._state.partitions is None:
            try:
                self._producer()
            except _NotReady as exc:
                delay = next(delays, None)
                if delay is None:
                    raise Unreachable(
                        f"Kafka {self.bootstrap} unreachable for {self.retry.deadline_s:g} s: "
                        f"{exc}; nothing was published (the records wait in the outbox)"
                    ) from exc
                self.retry.pause(delay, f"Kafka {self.bootstrap}: {exc}")
        return int(self._state.partitions)

    def _send(
        self, producer: Any, window: Sequence[OutboxBatch]
    ) -> Iterator[tuple[OutboxBatch, str | None]]:
        from kafka.errors import KafkaError, MessageSizeTooLargeError

        futures: list[tuple[OutboxBatch, Any]] = []
        for batch in window:
            try:
                future = producer.send(
                    self.topic,
                    value=batch.payload,
                    key=batch.first_key.encode(),
                    headers=[("govex-batch-id", batch.batch_id.encode())],
                )
            except MessageSizeTooLargeError as exc:
                raise Refused(_too_large(batch, exc)) from exc
            except KafkaError as exc:
                futures.append((batch, f"send failed: {exc}"))
                continue
            futures.append((batch, future))
        for batch, future in futures:
            if isinstance(future, str):
                yield batch, future
                continue
            try:
                future.get(timeout=45)
            except MessageSizeTooLargeError as exc:
                raise Refused(_too_large(batch, exc)) from exc
            except KafkaError as exc:
                if _authorization(exc):
                    raise Refused(_not_authorised(self.topic, self.security, exc)) from exc
                yield batch, f"not acknowledged: {type(exc).__name__}: {exc}"
            else:
                yield batch, None

    def _drop_producer(self, timeout_s: float = 0) -> None:
        producer, self._state.producer = self._state.producer, None
        if producer is not None:
            try:
                producer.close(timeout=timeout_s)
            except Exception as exc:  # closing a broken producer must not hide the cause
                self._state.failures.append(f"closing producer: {exc}")


def _too_large(batch: OutboxBatch, exc: Exception) -> str:
    return (
        f"the broker refuses batch {batch.batch_id} of {len(batch.payload)} bytes as too "
        f"large ({exc}); lower connector.max_batch_bytes (the batch stays in the outbox)"
    )


def _authorization(exc: Exception) -> bool:
    """The broker's authorizer (ACLs) refused: final, not worth a retry."""
    from kafka.errors import (
        ClusterAuthorizationFailedError,
        TopicAuthorizationFailedError,
        TransactionalIdAuthorizationFailedError,
    )

    refused = (
        TopicAuthorizationFailedError,
        ClusterAuthorizationFailedError,
        TransactionalIdAuthorizationFailedError,
    )
    return isinstance(exc, refused)


def _not_authorised(topic: str, security: KafkaSecurity, exc: Exception) -> str:
    who = security.username or "an anonymous client"
    return (
        f"the broker refuses {who} on topic {topic} ({type(exc).__name__}): a connector "
        "writes only its own department's resources (ask the operator for the ACL; "
        "the batches stay in the outbox)"
    )


class _NotReady(Exception):
    """The broker cannot take batches right now (retried until the deadline)."""
