"""A connector publishes through a real Kafka broker; the exchange's consumer ingests.

The exchange runs in this process (its consumer thread is the one ``govex serve --bus``
starts); the connector is the library ``govex connector run`` uses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from connectors.config import build_source, load_config, load_credentials
from connectors.mapping import Mapper
from connectors.outbox import Outbox
from connectors.publishers import KafkaPublisher, Retry
from connectors.runner import Runner, RunSummary
from connectors.sealer import Sealer
from exchange.config import KafkaSettings, Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.service import Exchange
from tests.support.kafka import KafkaBroker

from .exchange_process import RESOURCE, connector_env, id_card_csv, topic_offsets, wait_consumed

pytestmark = pytest.mark.kafka


@pytest.fixture
def prefix() -> str:
    return f"govex.t{uuid.uuid4().hex[:8]}.records."


@pytest.fixture
def exchange(tmp_path: Path, prefix: str) -> Iterator[Exchange]:
    settings = Settings(data=tmp_path / "data", kafka=KafkaSettings(topic_prefix=prefix))
    ex = create_demo(settings)
    yield ex
    ex.close()


def publish(config: Path, data: Path, bootstrap: str, outbox: Path) -> RunSummary:
    loaded = load_config(config, connector_env(data))
    creds = load_credentials(loaded, need_auth=False)
    publisher = KafkaPublisher(
        bootstrap,
        RESOURCE,
        topic_prefix=loaded.config.publish.topic_prefix,
        retry=Retry(deadline_s=60),
    )
    box = Outbox(outbox, RESOURCE)
    try:
        return Runner(
            name=loaded.name,
            source=build_source(loaded),
            mapper=Mapper(loaded.config.mapping, loaded.definition),
            sealer=Sealer(RESOURCE, creds.uscc, creds.seal_key, creds.seal_kid),
            outbox=box,
            publisher=publisher,
            batch_size=loaded.config.connector.batch_size,
        ).run()
    finally:
        box.close()
        publisher.close()


def count(exchange: Exchange) -> tuple[int, int]:
    row = exchange.store.fetchone("SELECT count(*), count(DISTINCT key) FROM record_history")
    assert row is not None
    return int(row[0]), int(row[1])


def test_batches_are_keyed_by_record_key_and_ingested_then_committed(
    kafka_broker: KafkaBroker, exchange: Exchange, prefix: str, tmp_path: Path
) -> None:
    from kafka import KafkaConsumer
    from kafka.partitioner.default import murmur2

    data = Path(exchange.settings.data)
    uscc = DemoDepartment.load(exchange, "gongan").uscc
    config, keys = id_card_csv(tmp_path, 3000, uscc=uscc, prefix=prefix, batch_size=400)
    consumer = exchange.start_consumer(kafka_broker.bootstrap)
    summary = publish(config, data, kafka_broker.bootstrap, tmp_path / "o.sqlite")
    assert (summary.published, summary.rows_refused) == (3000, 0)
    topic = f"{prefix}{RESOURCE}"
    wait_consumed(kafka_broker.bootstrap, topic, consumer.group_id)
    assert count(exchange) == (3000, 3000)
    assert consumer.stats.records_accepted == 3000
    assert consumer.stats.poison_messages == 0

    raw = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    partitions = len(topic_offsets(kafka_broker.bootstrap, topic))
    seen: set[str] = set()
    for message in raw:
        body = orjson.loads(message.value)
        record_keys = [r["key"] for r in body["records"]]
        assert message.key == record_keys[0].encode()
        for key in record_keys:
            assert (murmur2(key.encode()) & 0x7FFFFFFF) % partitions == message.partition
        seen.update(record_keys)
        if len(seen) == 3000:
            break
    raw.close()
    assert seen == keys
    assert partitions == 3


def test_a_restarted_consumer_resumes_after_the_last_committed_offset(
    kafka_broker: KafkaBroker, exchange: Exchange, prefix: str, tmp_path: Path
) -> None:
    data = Path(exchange.settings.data)
    uscc = DemoDepartment.load(exchange, "gongan").uscc
    config, _ = id_card_csv(tmp_path, 600, uscc=uscc, prefix=prefix, batch_size=200)
    consumer = exchange.start_consumer(kafka_broker.bootstrap)
    publish(config, data, kafka_broker.bootstrap, tmp_path / "o.sqlite")
    topic = f"{prefix}{RESOURCE}"
    wait_consumed(kafka_broker.bootstrap, topic, consumer.group_id)
    consumer.stop()
    first_messages = consumer.stats.messages
    assert first_messages >= 3

    restarted = exchange.start_consumer(kafka_broker.bootstrap)
    # another connector (its own outbox) sends the same 600 records again, and 50 new ones
    more, _ = id_card_csv(tmp_path, 650, uscc=uscc, prefix=prefix, batch_size=200, name="more")
    second = publish(more, data, kafka_broker.bootstrap, tmp_path / "o2.sqlite")
    wait_consumed(kafka_broker.bootstrap, topic, restarted.group_id)
    assert count(exchange) == (650, 650)
    # only the new messages were read; the re-sent records were dropped by (key, version)
    assert restarted.stats.messages == second.batches
    assert (restarted.stats.records_accepted, restarted.stats.duplicates) == (50, 600)


def test_poison_messages_are_quarantined_and_ingest_goes_on(
    kafka_broker: KafkaBroker, exchange: Exchange, prefix: str, tmp_path: Path
) -> None:
    from kafka import KafkaProducer

    data = Path(exchange.settings.data)
    uscc = DemoDepartment.load(exchange, "gongan").uscc
    topic = f"{prefix}{RESOURCE}"
    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap, acks="all", enable_idempotence=True
    )
    producer.send(topic, b"\x00\x01 not a batch").get(timeout=30)
    producer.send(topic, orjson.dumps({"resource": RESOURCE, "records": []})).get(timeout=30)
    producer.close()
    consumer = exchange.start_consumer(kafka_broker.bootstrap)
    config, _ = id_card_csv(tmp_path, 500, uscc=uscc, prefix=prefix, batch_size=250)
    publish(config, data, kafka_broker.bootstrap, tmp_path / "o.sqlite")
    wait_consumed(kafka_broker.bootstrap, topic, consumer.group_id)
    assert count(exchange) == (500, 500)
    reasons = exchange.store.fetchall("SELECT reason_code, source FROM quarantine ORDER BY 1")
    assert reasons == [("schema.invalid_request", "kafka"), ("schema.malformed_json", "kafka")]
    assert consumer.stats.poison_messages == 2


def test_the_consumer_waits_for_a_broker_that_is_not_there_yet(
    exchange: Exchange, tmp_path: Path
) -> None:
    from tests.support import free_port

    consumer = exchange.start_consumer(f"127.0.0.1:{free_port()}")
    deadline = time.monotonic() + 30
    while consumer.stats.last_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert consumer.running
    assert consumer.stats.last_error is not None
    assert "unreachable" in consumer.stats.last_error
    consumer.stop()
    assert not consumer.running
