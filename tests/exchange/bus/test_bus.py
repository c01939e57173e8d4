"""The bus: the message format, intake of sealed batches, poison messages quarantined."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from exchange.bus import (
    BatchIn,
    IngestResult,
    Poison,
    PoisonMessage,
    decode_batch,
    encode_batch,
    parse_bus_url,
    topic_for,
)
from exchange.bus.kafka import PausePoint, parse_pause_point
from exchange.bus.message import claimed_origin
from exchange.config import Settings
from exchange.demo.city import generate_city
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.errors import InvalidRequest
from exchange.records.intake import BatchIntake
from exchange.service import Exchange

RESOURCE = "gongan.resident_id_card"


@pytest.fixture
def bus_exchange(tmp_path: Path) -> Iterator[Exchange]:
    ex = create_demo(Settings(data=tmp_path / "data"))
    yield ex
    ex.close()


def sealed_message(exchange: Exchange, count: int = 5, code: str = "gongan") -> bytes:
    dept = DemoDepartment.load(exchange, code)
    cards = generate_city(people=count).resident_id_cards()
    batch = dept.seal(RESOURCE, cards, "id_number")
    return encode_batch(
        RESOURCE,
        [orjson.dumps(r.model_dump()) for r in batch.records],
        batch.seal.model_dump(),
    )


def quarantine_rows(exchange: Exchange) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (str(r[0]), str(r[1]), r[2], r[3])
        for r in exchange.store.fetchall(
            "SELECT reason_code, source, resource, publisher FROM quarantine ORDER BY received_at"
        )
    ]


def test_a_message_is_the_same_body_as_a_publish_request(bus_exchange: Exchange) -> None:
    payload = sealed_message(bus_exchange)
    batch = decode_batch(payload, max_bytes=1_000_000, max_records=10)
    assert isinstance(batch, BatchIn)
    assert batch.resource == RESOURCE
    assert len(batch.records) == 5
    assert topic_for(RESOURCE) == "govex.records.gongan.resident_id_card"


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        (b"x" * 101, "exchange.payload_too_large", "larger than the limit of 100 bytes"),
        (b'{"a": 1, "a": 2}', "schema.malformed_json", "duplicate key"),
        (b'{"a": NaN}', "schema.malformed_json", "not strict JSON"),
        (b'{"resource": "x"}', "schema.invalid_request", "not a sealed batch"),
        (b'{"records": [1, 2, 3]}', "exchange.payload_too_large", "at most 2 records"),
    ],
)
def test_messages_that_can_never_be_ingested_are_poison_with_a_stable_code(
    payload: bytes, code: str, message: str
) -> None:
    with pytest.raises(PoisonMessage, match=message) as caught:
        decode_batch(payload, max_bytes=100, max_records=2)
    assert caught.value.code.value == code


def test_intake_ingests_a_sealed_batch_and_answers_a_redelivery_as_duplicates(
    bus_exchange: Exchange,
) -> None:
    bus = bus_exchange.embedded_bus()
    payload = sealed_message(bus_exchange)
    first = bus.deliver(payload)
    assert isinstance(first, IngestResult)
    assert (first.accepted, first.duplicates) == (5, 0)
    again = bus.deliver(payload)
    assert isinstance(again, IngestResult)
    assert (again.accepted, again.duplicates) == (0, 5)
    assert bus_exchange.store.fetchone("SELECT count(*) FROM record_history") == (5,)


def test_poison_is_quarantined_with_its_reason_and_an_audit_entry_and_intake_goes_on(
    bus_exchange: Exchange,
) -> None:
    intake = bus_exchange.intake
    before = bus_exchange.audit.size
    junk = intake.take(b"\xff not json", source="kafka", origin={"topic": "t", "offset": 7})
    assert isinstance(junk, Poison)
    assert junk.reason_code == "schema.malformed_json"
    not_owner = intake.take(sealed_message(bus_exchange, code="minzheng"), source="kafka")
    assert isinstance(not_owner, Poison)
    assert not_owner.reason_code == "exchange.not_owner"
    good = intake.take(sealed_message(bus_exchange), source="kafka")
    assert isinstance(good, IngestResult)
    assert good.accepted == 5
    rows = quarantine_rows(bus_exchange)
    # the seal's issuer is a claim until the seal verifies: never the publisher of a row
    assert rows == [
        ("schema.malformed_json", "kafka", None, None),
        ("exchange.not_owner", "kafka", RESOURCE, None),
    ]
    # one entry per poison message (the not-owner refusal is audited by ingest as well)
    assert bus_exchange.audit.size - before == 4


def test_a_batch_whose_seal_fails_is_quarantined_record_by_record(bus_exchange: Exchange) -> None:
    body = orjson.loads(sealed_message(bus_exchange))
    body["records"][2]["data"]["name"] = "篡改"
    result = bus_exchange.embedded_bus().deliver(orjson.dumps(body))
    assert isinstance(result, IngestResult)
    assert result.accepted == 0
    assert {q.reason_code for q in result.quarantined} == {"signing.invalid_seal"}
    assert len(result.quarantined) == 5


def test_an_oversize_message_keeps_only_its_head_in_the_quarantine(bus_exchange: Exchange) -> None:
    intake = BatchIntake(
        bus_exchange.ingestor, bus_exchange.audit, max_message_bytes=10_000, max_records=10
    )
    big = b'{"resource": "' + b"x" * 50_000 + b'"}'
    outcome = intake.take(big, source="kafka")
    assert isinstance(outcome, Poison)
    payload = bus_exchange.store.fetchone("SELECT payload FROM quarantine")
    assert payload is not None
    assert len(payload[0]) < 5_000
    assert payload[0].endswith("(50016 bytes in all)")


def test_claimed_origin_reads_what_a_message_says_without_trusting_it() -> None:
    body = {"resource": "r", "seal": {"issuer": "i", "batch_id": "b" * 500}}
    assert claimed_origin(orjson.dumps(body)) == {"resource": "r", "issuer": "i", "batch_id": None}
    assert claimed_origin(b"[1]") == {"resource": None, "issuer": None, "batch_id": None}


def test_bus_urls_are_kafka_or_embedded() -> None:
    assert str(parse_bus_url("kafka://127.0.0.1:9092,b.local:9093/")) == (
        "kafka://127.0.0.1:9092,b.local:9093"
    )
    assert parse_bus_url("embedded").kind == "embedded"
    for bad in ("kafka://", "kafka://host", "http://x:1", "kafka://a:1;b:2"):
        with pytest.raises(InvalidRequest, match="kafka://HOST:PORT"):
            parse_bus_url(bad)


def test_pause_points_name_a_place_and_a_message() -> None:
    assert parse_pause_point("after_ingest:3") == (PausePoint.AFTER_INGEST, 3)
    assert parse_pause_point("before_ingest") == (PausePoint.BEFORE_INGEST, 1)
    with pytest.raises(InvalidRequest, match="before_ingest"):
        parse_pause_point("sometime:1")


def test_a_batch_off_its_resources_topic_is_poison(bus_exchange: Exchange) -> None:
    message = sealed_message(bus_exchange)  # a gongan batch …
    misrouted = bus_exchange.intake.take(  # … arriving on minzheng's topic
        message, source="kafka", expected_resource="minzheng.marriage_registration"
    )
    assert isinstance(misrouted, Poison)
    assert misrouted.reason_code == "exchange.bus_topic_mismatch"
    assert bus_exchange.store.fetchone("SELECT count(*) FROM record_latest") == (0,)
    taken = bus_exchange.intake.take(message, source="kafka", expected_resource=RESOURCE)
    assert isinstance(taken, IngestResult)
    assert taken.accepted == 5


def test_a_forged_message_is_never_recorded_under_the_department_it_claims(
    bus_exchange: Exchange,
) -> None:
    gongan = DemoDepartment.load(bus_exchange, "gongan").uscc
    # minzheng's key seals a batch that claims gongan as its issuer
    forged = orjson.loads(sealed_message(bus_exchange, code="minzheng"))
    forged["seal"]["issuer"] = gongan
    forged["seal"]["signature"] = "AAAA"
    poison_forged = {**forged, "resource": "minzheng.marriage_registration"}
    before = bus_exchange.audit.size
    for payload in (orjson.dumps(poison_forged), orjson.dumps({**forged, "records": []})):
        outcome = bus_exchange.intake.take(payload, source="kafka")
        assert isinstance(outcome, Poison)
    actors = [
        str(row[0])
        for row in bus_exchange.store.fetchall(
            "SELECT actor FROM audit_entries WHERE seq >= ? ORDER BY seq", [before]
        )
    ]
    assert actors
    assert gongan not in actors
    publishers = {row[3] for row in quarantine_rows(bus_exchange)}
    assert publishers == {None}
