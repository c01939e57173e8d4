"""Honest health of the Kafka consumer (issue 22, finding 4), on the real secured cluster.

Finding 4: a node's group can stay in a rebalance that does not end (kafka-python's
coordinator failing with ``RebalanceInProgressError``, a member that hangs or expires);
the node then holds no partition, commits nothing, and ``/healthz`` used to say ``ok``.
Here a second member of the node's own group joins and then hangs — its session kept
alive, never polling again — and a new topic makes the group rebalance: every rebalance
now waits for the hung member. The node must see it (``stuck``, the time of its last
commit), start a fresh session, and once the group can settle resume where it committed,
without reading the topic again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer

from exchange.bus.kafka_health import Membership, classify
from tests.exchange.bus.test_bus import RESOURCE, sealed_message
from tests.exchange.bus.test_kafka import (
    MINZHENG,
    create_topics,
    new_prefix,
    node,
    produce,
    records,
    wait_for,
)
from tests.support.kafka_cluster import KafkaCluster


def test_poison_and_transient_failures_are_told_apart() -> None:
    assert classify(RecursionError("maximum recursion depth exceeded")) == "poison"
    assert classify(MemoryError()) == "poison"
    assert classify(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")) == "poison"
    assert classify(OSError("I/O error")) == "transient"
    assert classify(TimeoutError()) == "transient"


def test_membership_counts_the_time_without_partitions() -> None:
    membership = Membership()
    assert membership.unassigned_since is None
    membership.waiting()
    since = membership.unassigned_since
    assert since is not None
    membership.waiting()  # revoked again while still waiting: the wait goes on
    assert membership.unassigned_since == since
    membership.holding(3)
    assert (membership.unassigned_since, membership.assigned) == (None, 3)
    membership.waiting()
    membership.holding(0)  # a settled group gave it nothing to do: not stuck
    assert (membership.unassigned_since, membership.assigned) == (None, 0)
    assert membership.rebalances == 2
    membership.waiting()
    membership.reset()
    assert (membership.unassigned_since, membership.assigned) == (None, 0)


def test_a_rebalance_that_never_ends_is_reported_stuck_and_a_fresh_session_resumes(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = new_prefix()
    topic = prefix + RESOURCE
    create_topics(kafka_cluster, [topic])
    with node(kafka_cluster, tmp_path, prefix, commit_stall_s=3.0) as ex:
        produce(kafka_cluster, "admin", topic, [sealed_message(ex, count=5)])
        ex.start_consumer(kafka_cluster.bootstrap)
        consumer = ex.consumer
        assert consumer is not None
        wait_for(lambda: records(ex) == 5 and consumer.lag == 0, "the first batch committed")
        before = consumer.health()
        assert before["status"] == "ok"
        assert before["stuck"] is False
        assert before["assigned"] == 3
        committed_at = before["last_commit_at"]
        assert committed_at is not None

        # a second member of the node's own group (its own principal): joins, then hangs
        hung = KafkaConsumer(
            bootstrap_servers=kafka_cluster.bootstrap.split(","),
            group_id=consumer.group_id,
            enable_auto_commit=False,
            session_timeout_ms=30_000,  # its heartbeats go on: the broker keeps it
            max_poll_interval_ms=600_000,  # every rebalance waits this long for it
            **kafka_cluster.security("node-a").client_options(),
        )
        try:
            hung.subscribe([topic])
            wait_for(
                lambda: hung.poll(timeout_ms=200) is not None and bool(hung.assignment()),
                "the second member joined the node's group",
            )
            # a topic appears: the node subscribes to it, the group rebalances and waits
            create_topics(kafka_cluster, [prefix + MINZHENG])
            wait_for(lambda: consumer.health()["stuck"], "/healthz says the node is stuck")
            # the same five people and two more (7 records in all), sent while it is stuck
            produce(kafka_cluster, "admin", topic, [sealed_message(ex, count=7)])
            stuck = consumer.health()
            assert stuck["status"] == "degraded"
            assert stuck["assigned"] == 0
            assert stuck["last_commit_at"] == committed_at  # nothing committed since
            wait_for(lambda: consumer.stats.stalls >= 1, "a fresh session started")
            assert records(ex) == 5
        finally:
            hung.close()  # the hung member goes: the group can settle
        try:
            wait_for(lambda: records(ex) == 7 and consumer.lag == 0, "resumed and committed")
        except pytest.fail.Exception:
            pytest.fail(f"not resumed: {records(ex)} records, health {consumer.health()}")
        after = consumer.health()
        assert after["status"] == "ok"
        assert after["stuck"] is False
        assert after["last_commit_at"] > committed_at
        assert after["sessions"] >= 2
        # resumed where it had committed: two messages taken in all, none read again
        assert consumer.stats.messages == 2
