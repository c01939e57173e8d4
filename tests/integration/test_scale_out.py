"""Scale-out: two exchange processes, each with its own data directory, consume the same
Kafka topics (each node its own consumer group) and answer the same query with the same
record and the same provider seal (DESIGN: storage and scale) — on one plain broker and on
the secured 3-node cluster, where each node reads with its own principal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.demo.setup import DemoDepartment

from .buses import Bus
from .exchange_process import (
    RESOURCE,
    ExchangeProcess,
    clone_data_dir,
    demo_data_dir,
    finish_connector,
    group_of,
    id_card_csv,
    set_node,
    start_connector,
    wait_consumed,
)

pytestmark = pytest.mark.kafka


def read(exchange: ExchangeProcess, dept: DemoDepartment, key: str) -> dict[str, Any]:
    with httpx.Client(base_url=exchange.url, timeout=30) as client:
        audience = client.get("/.well-known/govex").json()["client_assertion_audience"]
        token = client.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": dept.assertion(audience),
            },
        ).json()["access_token"]
        response = client.get(
            f"/v1/resources/{RESOURCE}/records/{key}",
            params={"purpose": "户籍核验", "case": "SCALE-2026-0001"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_two_nodes_consume_the_same_topics_and_answer_with_the_same_record_and_seal(
    bus: Bus, tmp_path: Path
) -> None:
    prefix = bus.prefix("s")
    topic = f"{prefix}{RESOURCE}"
    node_a = demo_data_dir(tmp_path, "a")
    node_b = clone_data_dir(node_a, "b")  # provisioned from the same exchange: same keys
    set_node(node_a, "a")
    set_node(node_b, "b")
    gongan = DemoDepartment.load(node_a, "gongan")
    config, keys = id_card_csv(
        tmp_path,
        2_000,
        uscc=gongan.uscc,
        prefix=prefix,
        batch_size=250,
        kafka_auth=bus.connector_auth(prefix, RESOURCE),
    )
    bootstrap = bus.bootstrap
    with (
        ExchangeProcess(node_a, bootstrap, prefix, env=bus.exchange_env("a")) as a,
        ExchangeProcess(node_b, bootstrap, prefix, env=bus.exchange_env("b")) as b,
    ):
        log = tmp_path / "connector.log"
        connector = start_connector(
            config, bootstrap, node_a, tmp_path / "o.sqlite", log, bus.connector_env()
        )
        summary = finish_connector(connector, log)
        assert summary["published"] == 2_000
        wait_consumed(bootstrap, topic, group_of("a"), options=bus.options())
        wait_consumed(bootstrap, topic, group_of("b"), options=bus.options())
        for key in sorted(keys)[::500]:
            from_a, from_b = read(a, gongan, key), read(b, gongan, key)
            assert from_a["data"]["id_number"] == key
            for body in (from_a, from_b):
                body.pop("audit_seq")  # each node keeps its own audit log
            assert from_a == from_b
            assert from_a["provenance"]["seal"]["issuer"] == gongan.uscc
            print(f"scale-out [{bus.name}]: {key} same record and seal on both nodes")
