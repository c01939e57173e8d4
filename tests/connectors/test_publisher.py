from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from connectors.errors import Refused, Unreachable
from connectors.mapping import MappedRecord
from connectors.outbox import Outbox, OutboxBatch
from connectors.publishers import EmbeddedPublisher, HttpPublisher, KafkaPublisher, Retry
from connectors.sealer import Sealer
from exchange.api.app import create_app
from exchange.demo.city import generate_city
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange
from tests.support import free_port

RESOURCE = "gongan.resident_id_card"


@pytest.fixture
def batches(exchange: Exchange, tmp_path: Path) -> Iterator[list[OutboxBatch]]:
    """Two sealed batches of 公安局's ID cards, as a connector's outbox holds them."""
    dept = DemoDepartment.load(exchange, "gongan")
    cards = generate_city(people=30).resident_id_cards()
    with Outbox(tmp_path / "o.sqlite", RESOURCE) as outbox:
        outbox.add([MappedRecord(i + 2, c["id_number"], 1, c) for i, c in enumerate(cards)])
        sealer = Sealer(RESOURCE, dept.uscc, dept.seal_key, dept.seal_kid)
        out = []
        for _ in range(2):
            chunk = outbox.pending(15)
            batch_id, payload = sealer.seal(chunk)
            out.append(outbox.save_batch(batch_id, chunk, payload))
        yield out


def http_publisher(exchange: Exchange, code: str = "gongan") -> HttpPublisher:
    dept = DemoDepartment.load(exchange, code)
    client = TestClient(create_app(exchange), base_url="http://exchange.test")
    return HttpPublisher(
        "http://exchange.test",
        uscc=dept.uscc,
        auth_key=dept.auth_key,
        auth_kid=dept.auth_kid,
        client=client,
        retry=Retry(deadline_s=1),
    )


def test_http_publishes_with_a_token_and_reports_what_the_exchange_did(
    exchange: Exchange, batches: list[OutboxBatch]
) -> None:
    publisher = http_publisher(exchange)
    first = list(publisher.publish(batches))
    assert [(d.records, d.accepted, d.duplicates) for d in first] == [(15, 15, 0), (15, 15, 0)]
    count = exchange.store.fetchone(
        "SELECT count(*) FROM record_latest WHERE resource = ?", [RESOURCE]
    )
    assert count == (30,)


def test_http_resending_a_batch_after_a_crash_is_answered_as_duplicates(
    exchange: Exchange, batches: list[OutboxBatch]
) -> None:
    publisher = http_publisher(exchange)
    list(publisher.publish(batches[:1]))
    (again,) = publisher.publish(batches[:1])  # the same bytes, as after a crash
    assert (again.accepted, again.duplicates) == (0, 15)


def test_http_reports_a_batch_whose_seal_fails_as_refused(
    exchange: Exchange, batches: list[OutboxBatch]
) -> None:
    body = orjson.loads(batches[0].payload)
    body["records"][0]["data"]["name"] = "篡改"
    tampered = OutboxBatch(batches[0].batch_id, 15, batches[0].first_key, orjson.dumps(body))
    (delivery,) = http_publisher(exchange).publish([tampered])
    assert delivery.refused is not None
    assert "Merkle root" in delivery.refused


def test_http_refuses_to_retry_what_the_exchange_forbids(
    exchange: Exchange, batches: list[OutboxBatch]
) -> None:
    with pytest.raises(Refused, match="403"):
        list(http_publisher(exchange, code="minzheng").publish(batches))


def test_an_unreachable_exchange_is_retried_until_the_deadline_then_named(
    batches: list[OutboxBatch],
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    publisher = HttpPublisher(
        f"http://127.0.0.1:{free_port()}",
        uscc="11411500000001011C",
        auth_key=ed25519.Ed25519PrivateKey.generate(),
        auth_kid="k",
        retry=Retry(deadline_s=0.6, initial_s=0.05),
    )
    started = time.monotonic()
    with pytest.raises(Unreachable, match=r"2 batch\(es\), 30 record\(s\) stay in the outbox"):
        list(publisher.publish(batches))
    assert time.monotonic() - started >= 0.6
    publisher.close()


def test_an_unreachable_broker_is_named_without_opening_a_kafka_client(
    batches: list[OutboxBatch],
) -> None:
    publisher = KafkaPublisher(
        f"127.0.0.1:{free_port()}", RESOURCE, retry=Retry(deadline_s=0.3, initial_s=0.05)
    )
    with pytest.raises(Unreachable, match="broker unreachable"):
        list(publisher.publish(batches))
    with pytest.raises(Unreachable, match="nothing was published"):
        publisher.groups()
    publisher.close()


def test_retry_delays_double_up_to_the_cap_and_stop_at_the_deadline() -> None:
    delays = list(Retry(deadline_s=0.05, initial_s=0.01, max_s=0.02).delays())[:3]
    assert delays[0] == pytest.approx(0.01, abs=0.005)
    assert all(d <= 0.02 for d in delays)
    assert list(Retry(deadline_s=0).delays()) == []


def test_the_embedded_bus_ingests_in_process_and_turns_poison_into_a_refusal(
    exchange: Exchange, batches: list[OutboxBatch]
) -> None:
    publisher = EmbeddedPublisher(exchange.embedded_bus())
    assert publisher.groups() == 1
    (delivery,) = publisher.publish(batches[:1])
    assert (delivery.accepted, delivery.refused) == (15, None)
    junk = OutboxBatch("bat_x", 1, "k", b"{not json")
    (poison,) = publisher.publish([junk])
    assert poison.refused is not None
    assert "not strict JSON" in poison.refused


def test_the_partition_hash_is_kafkas_murmur2() -> None:
    import random

    from kafka.partitioner.default import murmur2 as reference

    from connectors.publishers import murmur2

    draw = random.Random(7)
    for size in range(40):
        for _ in range(50):
            data = bytes(draw.randrange(256) for _ in range(size))
            assert murmur2(data) == reference(data)
    assert murmur2(b"411502195001010011") == reference(b"411502195001010011")
