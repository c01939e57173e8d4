"""What the Kafka consumer knows of itself, and what it demands of a message and a topic.

- :func:`classify` — a failure to ingest a message is *poison* (the message's own fault:
  ``RecursionError``, ``MemoryError``, codec and value errors — quarantined at once, its
  offset committed) or *transient* (the store, the network — retried with backoff, then
  quarantined after ``kafka.max_attempts``: nothing stalls a partition for good);
- :class:`PartitionHealth` — per partition the committed offset, the position, the end
  of the log, the lag and the time of the last successful commit (``/healthz``);
- :class:`Membership` and :func:`rebalance_listener` — whether the node holds its partitions:
  since when it has held none while subscribed (a group stuck rebalancing: a hung member,
  an expired one), counted as a stall like failing commits;
- :func:`known_offsets` — where each partition of some topics starts and ends and where the
  group stands, asked of the cluster before the first fetch: a node that starts far behind
  knows its lag at once (reads say so before a message is polled);
- :func:`unreachable_brokers` — a check without a Kafka client: a broker that is down is
  named at once;
- :func:`topic_problems` — a topic with fewer replicas than ``kafka.min_replication`` or a
  lower ``min.insync.replicas`` than ``kafka.min_insync_replicas`` is refused, by name and
  reason: acknowledged records must survive one broker's disk.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "POISON_ERRORS",
    "ConsumerLimits",
    "ConsumerStats",
    "Membership",
    "PartitionHealth",
    "backoff_s",
    "classify",
    "iso_time",
    "known_offsets",
    "rebalance_listener",
    "topic_problems",
    "unreachable_brokers",
]

POISON_ERRORS: tuple[type[BaseException], ...] = (
    RecursionError,  # nested deeper than the interpreter can walk
    MemoryError,  # a message too large to hold decoded
    UnicodeError,  # a codec error
    ValueError,
    TypeError,
    OverflowError,
    KeyError,
    IndexError,
)


def classify(exc: BaseException) -> Literal["poison", "transient"]:
    """Whose fault a failure is: the message's (poison) or the moment's (transient)."""
    return "poison" if isinstance(exc, POISON_ERRORS) else "transient"


def backoff_s(attempt: int, *, base_s: float = 0.5, cap_s: float = 10.0) -> float:
    """The wait before try ``attempt + 1`` of a message: 0.5 s, 1 s, 2 s … at most ``cap_s``."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class ConsumerLimits:
    """What the consumer demands of topics, and how long it bears failures (KafkaSettings)."""

    min_replication: int = 1
    min_insync_replicas: int = 1
    max_attempts: int = 5
    commit_stall_s: float = 60.0
    recheck_topics_s: float = 10.0


@dataclass
class ConsumerStats:
    """What the consumer did since it started."""

    messages: int = 0
    records_accepted: int = 0
    duplicates: int = 0
    records_quarantined: int = 0
    poison_messages: int = 0
    commits: int = 0
    retries: int = 0
    given_up: int = 0  # messages quarantined after max_attempts failed tries
    commit_failures: int = 0
    sessions: int = 0  # consumer sessions started (more than one: re-created)
    stalls: int = 0  # sessions re-created because commits failed for commit_stall_s
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Membership:
    """The node's place in its consumer group, as the group's rebalances tell it.

    ``unassigned_since`` is set from the moment the node subscribes or its partitions are
    revoked until the group hands it an assignment (joining, or a rebalance that does not
    end); an assignment ends the wait even when empty (a member with nothing to do is not
    stuck: a node alone in its group gets every partition).
    """

    unassigned_since: float | None = None
    assigned: int = 0  # partitions held now
    rebalances: int = 0  # assignments received

    def waiting(self) -> None:
        """Subscribed or revoked: from now on the node holds nothing until assigned."""
        self.assigned = 0
        if self.unassigned_since is None:
            self.unassigned_since = time.monotonic()

    def holding(self, partitions: int) -> None:
        self.assigned = partitions
        self.rebalances += 1
        self.unassigned_since = None

    def reset(self) -> None:
        """A fresh consumer session: nothing subscribed yet."""
        self.unassigned_since, self.assigned = None, 0


def rebalance_listener(membership: Membership) -> Any:
    """A kafka-python rebalance listener that keeps ``membership`` up to date."""
    from kafka import ConsumerRebalanceListener

    class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            membership.waiting()

        def on_partitions_assigned(self, assigned: Any) -> None:
            membership.holding(len(assigned))

        def on_partitions_lost(self, lost: Any) -> None:
            membership.waiting()

    return _Listener()


@dataclass
class PartitionHealth:
    """One partition as this node consumes it."""

    topic: str
    partition: int
    committed: int | None = None  # the next offset this node will not read again
    position: int | None = None  # the next offset it reads
    end: int | None = None  # the log end offset (high watermark) last seen
    last_commit_at: float | None = None  # wall-clock time of the last successful commit
    retrying: int = 0  # tries so far of the message at `position` (0: none failing)

    @property
    def lag(self) -> int | None:
        if self.end is None:
            return None
        return max(0, self.end - (self.committed or 0))

    def as_dict(self) -> dict[str, Any]:
        at = self.last_commit_at
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "position": self.position,
            "end": self.end,
            "lag": self.lag,
            "last_commit_at": None if at is None else iso_time(at),
            "retrying": self.retrying,
        }


def iso_time(at: float) -> str:
    """A wall-clock time (``time.time()``) as ISO 8601 in UTC, as /healthz shows it."""
    return datetime.fromtimestamp(at, UTC).isoformat()


def known_offsets(
    consumer: Any, topics: Iterable[str]
) -> dict[tuple[str, int], tuple[int, int | None]]:
    """Per partition of ``topics``: (end offset, the group's committed offset or None).

    Asked of the cluster (ListOffsets, OffsetFetch) with the consumer's own group, before it
    fetched anything; {} when the cluster cannot say now (the caller asks again later).
    """
    from kafka import TopicPartition
    from kafka.errors import KafkaError

    tps = [
        TopicPartition(t, p)
        for t in sorted(topics)
        for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
    if not tps:
        return {}
    try:
        ends = consumer.end_offsets(tps)
        committed = {tp: consumer.committed(tp, timeout_ms=10_000) for tp in tps}
    except KafkaError:
        return {}
    return {
        (tp.topic, tp.partition): (int(ends[tp]), committed.get(tp))
        for tp in tps
        if ends.get(tp) is not None
    }


def topic_problems(
    bootstrap: str,
    topics: Iterable[str],
    *,
    client_id: str,
    options: dict[str, Any],
    min_replication: int,
    min_insync: int,
) -> dict[str, str]:
    """Why each of ``topics`` is refused (replicas, ``min.insync.replicas``); {} when none is.

    ``options`` are the client's kafka-python security options. A topic whose facts
    cannot be read (no ACL to describe it) is refused too, saying so.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    names = sorted(topics)
    if not names:
        return {}
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap.split(","),
            client_id=client_id,
            request_timeout_ms=10_000,
            **options,
        )
    except KafkaError as exc:
        return dict.fromkeys(names, f"cannot check the topic's replication: {exc}")
    try:
        return _problems(admin, names, min_replication, min_insync)
    finally:
        admin.close()


def _problems(
    admin: Any, names: list[str], min_replication: int, min_insync: int
) -> dict[str, str]:
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError

    refused: dict[str, str] = {}
    try:
        described = admin.describe_topics(names)
    except KafkaError as exc:
        return dict.fromkeys(names, f"cannot describe the topic: {exc}")
    for topic in described:
        name = topic.get("topic") or topic.get("name")
        parts = topic.get("partitions") or []
        if not parts:
            refused[name] = "the topic has no partitions the cluster can describe"
            continue
        replicas = min(len(p.get("replica_nodes") or p.get("replicas") or []) for p in parts)
        if replicas < min_replication:
            refused[name] = (
                f"replication factor {replicas} is below kafka.min_replication "
                f"{min_replication}: one lost disk would lose acknowledged records"
            )
    if min_insync > 1:
        wanted = [t for t in names if t not in refused]
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, t, configs=["min.insync.replicas"])
            for t in wanted
        ]
        try:
            found = admin.describe_configs(resources, config_filter="all") if wanted else {}
        except KafkaError as exc:
            return refused | dict.fromkeys(wanted, f"cannot read min.insync.replicas: {exc}")
        by_topic = found.get("topic", {}) if isinstance(found, dict) else {}
        for name in wanted:
            entry = by_topic.get(name, {}).get("min.insync.replicas", {})
            try:
                isr = int(entry.get("value"))
            except (TypeError, ValueError):
                refused[name] = "min.insync.replicas could not be read"
                continue
            if isr < min_insync:
                refused[name] = (
                    f"min.insync.replicas {isr} is below kafka.min_insync_replicas {min_insync}"
                )
    return refused


def unreachable_brokers(bootstrap: str, timeout_s: float = 3.0) -> str | None:
    """Why no bootstrap server accepts a TCP connection, or None when one does.

    A check without a Kafka client (the consumer here, the connectors' publisher): a
    broker that is down is named at once instead of after the client's own timeouts.
    """
    problems = []
    for server in bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s):
                return None
        except OSError as exc:
            problems.append(f"{server}: {exc.strerror or exc}")
    return "; ".join(problems)
