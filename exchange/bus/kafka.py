"""The exchange side of Kafka: a consumer thread inside the exchange process.

It subscribes to every ``govex.records.*`` topic and, for each message in partition
order: verify the batch seal, ingest through the exchange's :class:`~exchange.bus.models.Intake`
(records and the audit entry in ONE DuckDB transaction), and only THEN commit the
offset. So a crash anywhere loses nothing: before the DB commit the message comes
again; after the DB commit but before the offset commit it comes again and is dropped
as a duplicate (same batch id, same ``(resource, key, version)``).

Poison is quarantined with its reason and intake goes on: so is a message whose ingest
raises the message's own error (``RecursionError``, ``MemoryError``, codec errors —
:func:`~exchange.bus.kafka_health.classify`) and a batch off its resource's topic. Any
other failure (the store) does not advance the offset: seek back, retry with backoff,
visibly, and quarantine after ``max_attempts`` tries — nothing stalls a partition for
good. If the audit log is unavailable the consumer stops (fail closed).

A topic with too few replicas or a low ``min.insync.replicas`` is refused, by name and
reason. A consumer that cannot commit, or holds no partition while subscribed (a rebalance
that never ends), for ``commit_stall_s`` is ``stuck`` and gets a fresh session, counted.
:meth:`KafkaIngestConsumer.health` reports per partition the committed offset, the
position, the lag and the time of the last successful commit; the lag is known from the
topic's end offsets as soon as a topic is subscribed, before its first fetch.

Each exchange node consumes with its own consumer group, ``<group_id>.<node id>``
(the node id is made once and kept in the data directory; ``Exchange.start_consumer``
wires it), so every node receives every partition and keeps a full replica — reads
scale with nodes (DESIGN).

``unsafe_pause_at`` exists for the fault-injection tests only (RELIABILITY E4): at
the given point of the n-th message the process stops itself with SIGSTOP, so the
test can kill it with SIGKILL at exactly that point.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from enum import StrEnum
from typing import Any

from exchange.bus.kafka_health import (
    ConsumerLimits,
    ConsumerStats,
    Membership,
    PartitionHealth,
    backoff_s,
    classify,
    iso_time,
    known_offsets,
    rebalance_listener,
    topic_problems,
    unreachable_brokers,
)
from exchange.bus.kafka_security import KafkaSecurity
from exchange.bus.kafka_tuning import ConsumerTuning
from exchange.bus.message import DEFAULT_TOPIC_PREFIX
from exchange.bus.models import Intake, Poison
from exchange.errors import AuditUnavailable, InvalidRequest
from schemas.errors import ErrorCode

__all__ = [
    "ConsumerLimits",
    "ConsumerStats",
    "KafkaIngestConsumer",
    "PausePoint",
    "parse_pause_point",
    "unreachable_brokers",
]

_LOG = logging.getLogger(__name__)


class PausePoint(StrEnum):
    """Where a fault-injection test may freeze the consumer (see the module doc)."""

    BEFORE_INGEST = "before_ingest"  # message polled, nothing written
    AFTER_INGEST = "after_ingest"  # DB transaction committed, offset not committed
    AFTER_COMMIT = "after_commit"  # offset committed


def parse_pause_point(text: str) -> tuple[PausePoint, int]:
    """``before_ingest:3`` → (BEFORE_INGEST, 3): pause at the 3rd message."""
    name, _, count = text.partition(":")
    try:
        return PausePoint(name), int(count or "1")
    except ValueError:
        points = ", ".join(p.value for p in PausePoint)
        raise InvalidRequest(
            f"pause point {text!r} is not <{points}>:<n>", code=ErrorCode.INVALID_OPTION
        ) from None


class KafkaIngestConsumer:
    """Consumes ``govex.records.*`` into one exchange; start() runs it in a thread."""

    def __init__(
        self,
        intake: Intake,
        *,
        bootstrap: str,
        group_id: str,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        poll_timeout_ms: int = 500,
        metadata_max_age_ms: int = 2000,
        security: KafkaSecurity | None = None,
        tls: bool = False,
        limits: ConsumerLimits | None = None,
        tuning: ConsumerTuning | None = None,
        unsafe_pause_at: tuple[PausePoint, int] | None = None,
    ) -> None:
        self.intake = intake
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topic_prefix = topic_prefix
        self.security = security or KafkaSecurity()
        self.tls = tls
        self.limits = limits or ConsumerLimits()
        self.tuning = tuning or ConsumerTuning()  # fetch sizes, records per poll
        self.partitions: dict[tuple[str, int], PartitionHealth] = {}
        self.refused_topics: dict[str, str] = {}
        self._checked: dict[str, float] = {}  # topic -> when its replication was checked
        # since when commits (or polls: a lost group membership) keep failing
        self._commit_failing_since: float | None = None
        self._poll_failing_since: float | None = None
        self.membership = Membership()  # unassigned while subscribed: a stuck rebalance
        self.poll_timeout_ms = poll_timeout_ms
        self.metadata_max_age_ms = metadata_max_age_ms
        self.unsafe_pause_at = unsafe_pause_at
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        # set by the outage watch when no bootstrap server accepted TCP for a moment
        self._outage = threading.Event()

    # -- life cycle ------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def healthy(self) -> bool:
        return self._failed is None

    @property
    def lag(self) -> int | None:
        """Records on the bus this node has not committed yet (None: not known yet)."""
        lags = [p.lag for p in list(self.partitions.values())]
        known = [x for x in lags if x is not None]
        return sum(known) if known else None

    def _stalled(self) -> bool:
        """Commits or polls have failed, or no partition was held, for ``commit_stall_s``."""
        failing = (self._commit_failing_since, self._poll_failing_since)
        since = [t for t in (*failing, self.membership.unassigned_since) if t]
        return bool(since) and time.monotonic() - min(since) > self.limits.commit_stall_s

    def health(self) -> dict[str, Any]:
        """Per partition offsets, lag and last commit; refused topics; counters (/healthz)."""
        stalled = self._stalled()
        committing = self._commit_failing_since is None and self._poll_failing_since is None
        commits = [p.last_commit_at for p in list(self.partitions.values()) if p.last_commit_at]
        if self._failed is not None:
            state = "failed"
        elif stalled or self.refused_topics or not committing:
            state = "degraded"
        else:
            state = "ok"
        stats = self.stats
        return {
            "status": state,
            "group": self.group_id,
            "lag": self.lag,
            "committing": committing,
            "stuck": stalled,
            "assigned": self.membership.assigned,
            "last_commit_at": iso_time(max(commits)) if commits else None,
            "partitions": [p.as_dict() for _, p in sorted(self.partitions.copy().items())],
            "refused_topics": dict(self.refused_topics),
            "sessions": stats.sessions,
            "stalls": stats.stalls,
            "messages": stats.messages,
            "poison_messages": stats.poison_messages,
            "given_up": stats.given_up,
            "retries": stats.retries,
            "commit_failures": stats.commit_failures,
            "last_error": stats.last_error,
        }

    def start(self) -> KafkaIngestConsumer:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="govex-kafka-ingest", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the thread to finish its current message and leave the group."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    # -- the thread ------------------------------------------------
    def _run(self) -> None:
        consumer = self._connect()
        if consumer is None:
            return
        watch = threading.Thread(target=self._watch_outages, name="govex-kafka-watch", daemon=True)
        watch.start()
        try:
            topics: frozenset[str] = frozenset()
            next_scan = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_scan:
                    # the topics to read, listed by us and subscribed by name: a regex
                    # subscription can miss a topic created while its group is joining
                    # (the KAFKA-3949 family of races), and then never consume it
                    next_scan = time.monotonic() + self.metadata_max_age_ms / 1000
                    found = self._matching_topics(consumer, topics)
                    if found != topics:
                        self._know_offsets(consumer, found - topics)
                        topics = found
                        self.membership.waiting()  # until the group assigns them
                        listener = rebalance_listener(self.membership)
                        consumer.subscribe(topics=sorted(topics), listener=listener)
                if topics:
                    self._poll_once(consumer)
                else:
                    self._stop.wait(0.2)
                stalled = self._stalled()
                back = self._outage.is_set() and unreachable_brokers(self.bootstrap) is None
                if back or stalled:
                    # the cluster was wholly unreachable and is back, or commits kept failing
                    # (a lost group membership): start a fresh session rather than trust the
                    # client to recover (offsets are committed after the DB commit and
                    # ingest is idempotent, so a new session re-reads at most what was not
                    # yet committed)
                    self._outage.clear()
                    if stalled:
                        self.stats.stalls += 1
                        self._note(
                            f"no offset commit for {self.limits.commit_stall_s:g} s: "
                            "new consumer session"
                        )
                    else:
                        self._note("kafka is reachable again after an outage: new session")
                    self._commit_failing_since = self._poll_failing_since = None
                    self.membership.reset()
                    consumer.close(autocommit=False)
                    fresh = self._connect()
                    if fresh is None:  # stopped while reconnecting
                        return
                    consumer, topics, next_scan = fresh, frozenset(), 0.0
        except AuditUnavailable as exc:
            self._failed = exc
            self.stats.last_error = f"stopped: {exc}"
            _LOG.error("kafka ingest stopped, the audit log is unavailable: %s", exc)
        finally:
            try:
                consumer.close(autocommit=False)
            except Exception as exc:  # closing must not mask why we stopped
                _LOG.warning("closing the kafka consumer failed: %s", exc)

    def _matching_topics(self, consumer: Any, known: frozenset[str]) -> frozenset[str]:
        """The cluster's topics under our prefix (``known`` when the cluster cannot say)."""
        from kafka.errors import KafkaError

        try:
            names = consumer.topics()
        except KafkaError as exc:
            self._note(f"listing topics failed: {exc}")
            return known
        found = {t for t in names if t.startswith(self.topic_prefix)}
        now = time.monotonic()
        due = {
            t
            for t in found
            if t not in self._checked
            or (t in self.refused_topics and now - self._checked[t] > self.limits.recheck_topics_s)
        }
        if due:
            problems = self._topic_problems(due)
            for topic in due:
                self._checked[topic] = now
                if topic in problems:
                    if self.refused_topics.get(topic) != problems[topic]:
                        self._note(f"topic {topic} refused: {problems[topic]}")
                    self.refused_topics[topic] = problems[topic]
                else:
                    self.refused_topics.pop(topic, None)
        return frozenset(t for t in found if t not in self.refused_topics)

    def _topic_problems(self, topics: set[str]) -> dict[str, str]:
        limits = self.limits
        if limits.min_replication <= 1 and limits.min_insync_replicas <= 1:
            return {}
        return topic_problems(
            self.bootstrap,
            topics,
            client_id=f"govex-exchange-{self.group_id}",
            options=self.security.client_options(tls=self.tls),
            min_replication=limits.min_replication,
            min_insync=limits.min_insync_replicas,
        )

    def _watch_outages(self, interval_s: float = 0.5) -> None:
        """Flag an outage when no bootstrap server accepts TCP (probed every ``interval_s``)."""
        while not self._stop.wait(interval_s):
            if not self._outage.is_set() and unreachable_brokers(self.bootstrap, timeout_s=1.0):
                self._outage.set()

    def consumer_options(self) -> dict[str, Any]:
        """Keyword arguments of its ``KafkaConsumer`` (its metadata age is also its topic
        scan's period)."""
        servers, group = self.bootstrap.split(","), self.group_id
        return dict(
            bootstrap_servers=servers, group_id=group, client_id=f"govex-exchange-{group}",
            enable_auto_commit=False, auto_offset_reset="earliest",
            metadata_max_age_ms=self.metadata_max_age_ms,
            **self.tuning.options(self.intake.max_message_bytes),
            session_timeout_ms=10_000, heartbeat_interval_ms=3_000, request_timeout_ms=30_000,
            **self.security.client_options(tls=self.tls),
        )  # fmt: skip

    def _connect(self) -> Any:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        delay = 0.5
        while not self._stop.is_set():
            problem = unreachable_brokers(self.bootstrap)
            if problem is not None:  # no Kafka client until a server accepts TCP
                self._note(f"kafka {self.bootstrap} unreachable: {problem}")
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            try:
                consumer = KafkaConsumer(**self.consumer_options())
                self.stats.sessions += 1
                return consumer
            except KafkaError as exc:
                self._note(f"kafka {self.bootstrap} unreachable: {exc}")
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        return None

    def _poll_once(self, consumer: Any) -> None:
        from kafka.errors import KafkaError

        try:
            polled = consumer.poll(timeout_ms=self.poll_timeout_ms)
        except KafkaError as exc:
            if self._poll_failing_since is None:
                self._poll_failing_since = time.monotonic()
            self._note(f"poll failed: {exc}")
            self._stop.wait(1.0)
            return
        self._poll_failing_since = None
        for tp, messages in polled.items():
            done = None
            for message in messages:
                if self._stop.is_set():
                    break
                if not self._take(consumer, tp, message):
                    break
                done = message.offset
            if done is not None:
                self._commit(consumer, tp, done + 1)
            self._observe(consumer, tp)

    def _partition(self, tp: Any) -> PartitionHealth:
        key = (tp.topic, tp.partition)
        return self.partitions.setdefault(key, PartitionHealth(tp.topic, tp.partition))

    def _know_offsets(self, consumer: Any, topics: frozenset[str]) -> None:
        """End and committed offsets of new topics, before any fetch: the lag from the start."""
        for (topic, number), (end, committed) in known_offsets(consumer, topics).items():
            health = self.partitions.setdefault((topic, number), PartitionHealth(topic, number))
            health.end = max(health.end or 0, end)
            if health.committed is None:
                health.committed = committed

    def _observe(self, consumer: Any, tp: Any) -> None:
        """Refresh the partition's end offset (the fetch's high watermark, no request)."""
        end = consumer.highwater(tp)
        if end is not None:
            self._partition(tp).end = int(end)

    def _take(self, consumer: Any, tp: Any, message: Any) -> bool:
        """Ingest one message; False when it must be retried (the consumer was rewound)."""
        self.stats.messages += 1
        self._maybe_pause(PausePoint.BEFORE_INGEST)
        health = self._partition(tp)
        health.position = message.offset
        origin = {"topic": tp.topic, "partition": tp.partition, "offset": message.offset}
        payload = message.value or b""
        resource = tp.topic[len(self.topic_prefix) :]
        try:
            outcome = self.intake.take(
                payload, source="kafka", origin=origin, expected_resource=resource
            )
        except AuditUnavailable:
            raise
        except Exception as exc:  # RecursionError and MemoryError too: classified below
            where = f"{tp.topic}[{tp.partition}]@{message.offset}"
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
            health.retrying += 1
            if classify(exc) == "transient" and health.retrying < self.limits.max_attempts:
                self.stats.retries += 1
                self._note(f"ingest of {where} failed (try {health.retrying}): {reason}")
                consumer.seek(tp, message.offset)
                self._stop.wait(backoff_s(health.retrying))
                return False
            given_up = self._give_up(consumer, tp, message, payload, origin, reason)
            if given_up is None:
                return False
            outcome = given_up
        health.retrying = 0
        if isinstance(outcome, Poison):
            self.stats.poison_messages += 1
        else:
            self.stats.records_accepted += outcome.accepted
            self.stats.duplicates += outcome.duplicates
            self.stats.records_quarantined += len(outcome.quarantined)
        health.position = message.offset + 1
        self._maybe_pause(PausePoint.AFTER_INGEST)
        return True

    def _give_up(
        self,
        consumer: Any,
        tp: Any,
        message: Any,
        payload: bytes,
        origin: dict[str, Any],
        reason: str,
    ) -> Poison | None:
        """Quarantine a message that cannot be ingested; None when even that failed."""
        health = self._partition(tp)
        tries = health.retrying
        try:
            poison = self.intake.quarantine(
                payload,
                code=ErrorCode.BUS_INGEST_FAILED.value,
                reason=f"ingest failed {tries} time(s), last: {reason}",
                source="kafka",
                origin=origin,
            )
        except AuditUnavailable:
            raise
        except Exception as exc:  # the store itself fails: not the message's fault
            self.stats.retries += 1
            self._note(f"quarantining {tp.topic}[{tp.partition}]@{message.offset} failed: {exc}")
            consumer.seek(tp, message.offset)
            self._stop.wait(backoff_s(tries))
            return None
        self.stats.given_up += 1
        self._note(
            f"{tp.topic}[{tp.partition}]@{message.offset} quarantined after {tries} "
            f"failed try(s): {reason}"
        )
        return poison

    def _commit(self, consumer: Any, tp: Any, offset: int) -> None:
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        try:
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
        except KafkaError as exc:  # redelivered later and dropped as duplicates
            self.stats.commit_failures += 1
            if self._commit_failing_since is None:
                self._commit_failing_since = time.monotonic()
            self._note(f"offset commit for {tp.topic}[{tp.partition}] failed: {exc}")
            return
        self._commit_failing_since = self._poll_failing_since = None
        health = self._partition(tp)
        health.committed = offset
        health.last_commit_at = time.time()
        self.stats.commits += 1
        self._maybe_pause(PausePoint.AFTER_COMMIT)

    def _maybe_pause(self, point: PausePoint) -> None:
        if self.unsafe_pause_at is None:
            return
        wanted, nth = self.unsafe_pause_at
        count = self.stats.commits if point is PausePoint.AFTER_COMMIT else self.stats.messages
        if point is wanted and count == nth:
            _LOG.warning("unsafe pause point %s:%d reached; stopping this process", point, nth)
            os.kill(os.getpid(), signal.SIGSTOP)

    def _note(self, text: str) -> None:
        _LOG.warning("%s", text)
        self.stats.last_error = text
        self.stats.errors = [*self.stats.errors[-19:], f"{time.strftime('%H:%M:%S')} {text}"]
