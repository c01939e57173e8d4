"""The P7 data generator writes exactly what the ingest path would have stored."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.query import grant_reader
from bench.scale import (
    CAPACITY,
    CASE,
    PURPOSE,
    RESOURCE,
    ReadTimes,
    key_of,
    measure_reads,
    open_exchange,
    person,
)
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.service import Exchange
from schemas.identifiers import validate_id_number
from signing.seal import BatchSeal, verify_batch

SEED = 10  # people published through the ingestor by open_exchange
PEOPLE = 2000


@pytest.fixture(scope="module")
def generated() -> Iterator[tuple[Exchange, str]]:
    exchange, generator, reader = open_exchange(seed=SEED)
    data = Path(exchange.settings.data)
    generator.append(PEOPLE - SEED)
    yield exchange, reader
    exchange.close()
    shutil.rmtree(data.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    """The same people, sealed and published through the real ingestor."""
    exchange = create_demo(Settings(data=tmp_path_factory.mktemp("ingested") / "data"))
    gongan = DemoDepartment.load(exchange, "gongan")
    rows = [person(i) for i in range(SEED, PEOPLE)]
    result = exchange.ingestor.ingest(gongan.seal(RESOURCE, rows, "id_number"), gongan.uscc)
    assert result.accepted == len(rows)
    yield exchange
    exchange.close()


def _rows(exchange: Exchange, sql: str) -> list[tuple[Any, ...]]:
    return exchange.store.fetchall(sql, [RESOURCE, [key_of(i) for i in range(SEED, PEOPLE)]])


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT resource, key, version, data, leaf_index FROM record_latest "
        "WHERE resource = ? AND list_contains(?, key) ORDER BY key",
        "SELECT resource, key, version, data, leaf_index, publisher FROM record_history "
        "WHERE resource = ? AND list_contains(?, key) ORDER BY key",
        "SELECT resource, subject, key FROM record_subjects "
        "WHERE resource = ? AND list_contains(?, key) ORDER BY key",
    ],
    ids=["record_latest", "record_history", "record_subjects"],
)
def test_generated_rows_equal_the_rows_ingest_stores(
    generated: tuple[Exchange, str], ingested: Exchange, sql: str
) -> None:
    expected = _rows(ingested, sql)
    assert len(expected) == PEOPLE - SEED
    assert _rows(generated[0], sql) == expected


def test_generated_batch_is_sealed_over_the_records_like_an_ingested_one(
    generated: tuple[Exchange, str], ingested: Exchange
) -> None:
    sql = "SELECT seal, size, leaves, accepted, duplicates, quarantined FROM batches WHERE size = ?"
    (gen,) = generated[0].store.fetchall(sql, [PEOPLE - SEED])
    (ing,) = ingested.store.fetchall(sql, [PEOPLE - SEED])
    assert gen[1:] == ing[1:]
    seal = BatchSeal.model_validate_json(gen[0])
    assert seal.root == json.loads(ing[0])["root"]
    key = generated[0].registry.key(seal.kid, "seal")
    assert key is not None
    records = [
        {"resource": RESOURCE, "key": key_of(i), "version": 1, "data": person(i)}
        for i in range(SEED, PEOPLE)
    ]
    leaves = verify_batch(records, seal, key.public_key)
    assert b"".join(leaves) == gen[2]


def test_generated_batch_has_its_publish_audit_entry(
    generated: tuple[Exchange, str], ingested: Exchange
) -> None:
    def entries(exchange: Exchange) -> list[tuple[Any, ...]]:
        rows = exchange.store.fetchall(
            "SELECT actor, target, outcome, detail FROM audit_entries "
            "WHERE action = 'publish' ORDER BY seq DESC LIMIT 1"
        )
        ignored = {"batch_id", "source"}
        return [
            (*r[:3], {k: v for k, v in json.loads(r[3]).items() if k not in ignored}) for r in rows
        ]

    assert entries(generated[0]) == entries(ingested)


def test_generated_record_reads_back_masked_as_an_ingested_one(
    generated: tuple[Exchange, str], ingested: Exchange
) -> None:
    exchange, reader = generated
    grant_reader(ingested, reader, reason="test")
    key = key_of(PEOPLE - 1)
    got = exchange.reader.read(reader, RESOURCE, key, purpose=PURPOSE, case_no=CASE)
    want = ingested.reader.read(reader, RESOURCE, key, purpose=PURPOSE, case_no=CASE)
    assert "id_number" in got.masked_fields
    assert got.data["name"] == f"测试{PEOPLE - 1}"
    assert (got.data, got.masked_fields, got.version) == (want.data, want.masked_fields, 1)
    assert got.provenance is not None
    assert want.provenance is not None
    assert got.provenance.leaf_index == want.provenance.leaf_index
    assert got.provenance.seal["root"] == want.provenance.seal["root"]


def test_keys_are_valid_distinct_id_numbers_of_their_people() -> None:
    rng = random.Random(1)
    indexes = [0, 1, 999, 1000, CAPACITY - 1, *(rng.randrange(CAPACITY) for _ in range(2000))]
    keys = {key_of(i) for i in set(indexes)}
    assert len(keys) == len(set(indexes))
    for i in indexes[:50]:
        assert validate_id_number(key_of(i)) == person(i)["id_number"] == key_of(i)
        assert person(i)["sex"] == ("1" if int(key_of(i)[16]) % 2 else "2")


def test_people_beyond_the_generator_are_refused() -> None:
    with pytest.raises(ValueError, match="holds"):
        key_of(CAPACITY)


def test_measured_reads_are_timed_one_per_fresh_key(generated: tuple[Exchange, str]) -> None:
    exchange, reader = generated
    used: set[int] = set()
    times = measure_reads(exchange, reader, PEOPLE, 20, random.Random(3), used)
    assert len(times.reads) == len(times.lookups) == 20
    assert len(used) == 20 + 20 + 20  # warm-up, lookups, reads: never the same person twice
    assert ReadTimes.percentile(list(range(1, 101)), 99) == 100
