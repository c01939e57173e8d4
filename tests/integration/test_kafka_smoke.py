"""Smoke test of our own Kafka broker with the client the project uses (kafka-python).

1,000 keyed messages go through an idempotent producer (acks=all) and come back
through a group consumer that commits by hand; every key arrives once with its
value, and the group's committed offsets cover everything that was written.
"""

from __future__ import annotations

import time
import uuid

import crc32c
import kafka.record.util
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError

from tests.support.kafka import KafkaBroker

MESSAGES = 1_000
PARTITIONS = 3
CONSUME_BOUND_S = 60.0


def _message(i: int) -> tuple[bytes, bytes]:
    key = f"record-{i:05d}".encode()
    return key, b'{"seq":' + str(i).encode() + b',"body":"' + key * 4 + b'"}'


def _answers_within(bootstrap: str, *, seconds: float) -> bool:
    """Whether the broker answers a metadata request within ``seconds``."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            bootstrap_timeout_ms=int(seconds * 1000),
            request_timeout_ms=int(seconds * 1000),
        )
    except KafkaTimeoutError:
        return False
    try:
        admin.list_topics()
    except KafkaTimeoutError:
        return False
    finally:
        admin.close()
    return True


def test_kafka_python_checksums_with_the_native_crc32c_package() -> None:
    # kafka-python picks crc32c.crc32c when the package imports, else a pure-Python
    # fallback that is far slower; the choice is a module global of kafka.record.util.
    chosen = getattr(kafka.record.util, "_crc32c", None)
    if chosen is None:
        pytest.skip("kafka-python no longer exposes kafka.record.util._crc32c")
    assert chosen is crc32c.crc32c


@pytest.mark.kafka
def test_keyed_messages_round_trip_once_each_through_a_group_consumer(
    kafka_broker: KafkaBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"govex.smoke.{uuid.uuid4().hex}"
    group = f"govex-smoke-{uuid.uuid4().hex}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        admin.close()

    sent = dict(_message(i) for i in range(MESSAGES))
    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in sent.items()]
        producer.flush(timeout=60)
        partitions_written = {future.get(timeout=30).partition for future in futures}
    finally:
        producer.close(timeout=10)

    received: dict[bytes, bytes] = {}
    duplicates = 0
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        deadline = time.monotonic() + CONSUME_BOUND_S
        while len(received) < MESSAGES and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    assert record.key is not None
                    duplicates += record.key in received
                    received[record.key] = record.value
            if batches:
                consumer.commit()
        assignment = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        end_offsets = consumer.end_offsets(assignment)
        committed = {tp: consumer.committed(tp) for tp in assignment}
    finally:
        consumer.close()

    lost = len(sent.keys() - received.keys())
    with capsys.disabled():
        print(
            f"\nkafka smoke: {MESSAGES} sent, {len(received)} received, {lost} lost, "
            f"{duplicates} duplicated, {len(partitions_written)} partitions"
        )
    assert received == sent
    assert duplicates == 0
    assert partitions_written == set(range(PARTITIONS))
    assert committed == end_offsets
    assert sum(end_offsets.values()) == MESSAGES


@pytest.mark.kafka
def test_broker_paused_killed_and_restarted_keeps_its_port_and_committed_data(
    fresh_kafka_broker: KafkaBroker,
) -> None:
    broker = fresh_kafka_broker
    topic = f"govex.smoke.restart.{uuid.uuid4().hex}"
    sent = dict(_message(i) for i in range(50))
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True
    )
    try:
        for key, value in sent.items():
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)

    broker.pause()
    assert broker.paused
    assert not _answers_within(broker.bootstrap, seconds=2)
    broker.resume()
    assert not broker.paused

    first_pid, bootstrap = broker.pid, broker.bootstrap
    broker.kill()
    assert not broker.running
    broker.restart()
    assert broker.running
    assert broker.pid != first_pid
    assert broker.bootstrap == bootstrap

    received: dict[bytes, bytes] = {}
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=f"govex-smoke-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        deadline = time.monotonic() + CONSUME_BOUND_S
        while len(received) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.update((record.key, record.value) for record in records)
    finally:
        consumer.close()
    assert received == sent
