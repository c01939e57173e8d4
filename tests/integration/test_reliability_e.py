"""RELIABILITY E1–E5: a real broker, a real exchange process, a real connector process.

Each test starts what it breaks and breaks it by pid (SIGSTOP, SIGKILL), then lets
everything finish and compares what the connector sent with what the exchange stored.
Each runs on one plain broker and on the secured 3-node cluster (``bus``: SASL/SCRAM over
TLS, ACLs, every party its own principal; breaking the bus breaks every node at once) and
prints its figure: ``E<n> [<bus>] N sent, N stored, 0 lost, 0 duplicated``.

``duplicated`` counts stored rows beyond one per key plus records the exchange accepted
more than once (batch acceptance counts summed minus stored rows): both must stay 0.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest

from exchange.bus import encode_batch
from exchange.demo.setup import DemoDepartment

from .buses import Bus
from .exchange_process import (
    RESOURCE,
    ExchangeProcess,
    Stored,
    demo_data_dir,
    finish_connector,
    group_of,
    id_card_csv,
    id_card_rows,
    set_node,
    start_connector,
    stored,
    wait_consumed,
    wait_for_messages,
)

# a 3-node cluster started, 30,000 records through it, processes killed and restarted: on
# two cores shared with other runs one test can outlast the suite's 300 s default
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]


class Scene:
    """One test's world: a demo exchange's data directory, a topic prefix, a CSV to send."""

    def __init__(self, root: Path, bus: Bus, count: int, batch_size: int) -> None:
        self.root = root
        self.bus = bus
        self.bootstrap = bus.bootstrap
        self.prefix = bus.prefix("e")
        self.topic = f"{self.prefix}{RESOURCE}"
        self.data = demo_data_dir(root)
        set_node(self.data, "a")
        self.gongan = DemoDepartment.load(self.data, "gongan")
        self.config, self.keys = id_card_csv(
            root,
            count,
            uscc=self.gongan.uscc,
            prefix=self.prefix,
            batch_size=batch_size,
            kafka_auth=bus.connector_auth(self.prefix, RESOURCE),
        )
        self.outbox = root / "outbox.sqlite"
        self.runs = 0

    def exchange(
        self, pause_at: str | None = None, env: dict[str, str] | None = None
    ) -> ExchangeProcess:
        env = {**self.bus.exchange_env("a"), **(env or {})}
        return ExchangeProcess(self.data, self.bootstrap, self.prefix, pause_at=pause_at, env=env)

    def connector(self) -> tuple[subprocess.Popen[bytes], Path]:
        self.runs += 1
        log = self.root / f"connector-{self.runs}.log"
        env = self.bus.connector_env()
        return start_connector(self.config, self.bootstrap, self.data, self.outbox, log, env), log

    def wait_for_messages(self, at_least: int = 1) -> None:
        wait_for_messages(self.bootstrap, self.topic, at_least, options=self.bus.options())

    def drain(self, exchange: ExchangeProcess) -> Stored:
        wait_consumed(self.bootstrap, self.topic, group_of("a"), options=self.bus.options())
        exchange.stop()
        return stored(self.data)


def report(name: str, scene: Scene, result: Stored) -> None:
    figure = result.figure(f"{name} [{scene.bus.name}]", scene.keys)
    print(figure)
    assert figure.endswith("0 lost, 0 duplicated"), figure
    assert result.keys == scene.keys


def test_e1_broker_paused_during_publishing(fresh_bus: Bus, tmp_path: Path) -> None:
    scene = Scene(tmp_path, fresh_bus, 30_000, batch_size=100)
    with scene.exchange() as exchange:
        connector, log = scene.connector()
        scene.wait_for_messages()
        assert connector.poll() is None, "the connector finished before the broker was paused"
        fresh_bus.pause()
        time.sleep(8)  # the outage: longer than the producer's request timeout
        fresh_bus.resume()
        summary = finish_connector(connector, log)
        assert summary["published"] == len(scene.keys)
        result = scene.drain(exchange)
    report("E1", scene, result)


def test_e2_broker_killed_and_restarted_mid_stream(fresh_bus: Bus, tmp_path: Path) -> None:
    scene = Scene(tmp_path, fresh_bus, 30_000, batch_size=100)
    with scene.exchange() as exchange:
        connector, log = scene.connector()
        scene.wait_for_messages()
        assert connector.poll() is None, "the connector finished before the broker was killed"
        fresh_bus.kill()
        time.sleep(3)  # the outage
        fresh_bus.restart()
        summary = finish_connector(connector, log)
        assert summary["published"] + summary["resent"] >= len(scene.keys)
        assert summary["outbox"]["sent"] == len(scene.keys)
        result = scene.drain(exchange)
    report("E2", scene, result)


def test_e3_connector_killed_mid_batch_and_restarted(bus: Bus, tmp_path: Path) -> None:
    scene = Scene(tmp_path, bus, 30_000, batch_size=100)
    with scene.exchange() as exchange:
        first, _ = scene.connector()
        scene.wait_for_messages(at_least=5)
        assert first.poll() is None, "the connector finished before it could be killed"
        first.kill()  # SIGKILL, mid-stream
        first.wait(timeout=30)
        second, log = scene.connector()
        summary = finish_connector(second, log)
        assert summary["outbox"] == {"pending": 0, "sealed": 0, "sent": 30_000, "refused": 0}
        result = scene.drain(exchange)
    report("E3", scene, result)


def test_e4_exchange_killed_before_and_after_its_db_commit_and_offset_commit(
    bus: Bus, tmp_path: Path
) -> None:
    scene = Scene(tmp_path, bus, 6_000, batch_size=200)
    connector, log = scene.connector()  # everything is in Kafka before the exchange starts
    assert finish_connector(connector, log)["published"] == 6_000
    for point in ("before_ingest:2", "after_ingest:2", "after_commit:2"):
        exchange = scene.exchange(pause_at=point).start()
        exchange.wait_paused()
        exchange.kill()  # SIGKILL at exactly that point
    with scene.exchange() as exchange:
        result = scene.drain(exchange)
    report("E4", scene, result)


def test_e5_poison_records_are_quarantined_with_a_reason_and_ingest_goes_on(
    bus: Bus, tmp_path: Path
) -> None:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    scene = Scene(tmp_path, bus, 5_000, batch_size=250)
    servers = scene.bootstrap.split(",")
    admin = KafkaAdminClient(bootstrap_servers=servers, **bus.options())
    admin.create_topics([NewTopic(scene.topic, 3, -1)])  # the cluster's replication factor
    admin.close()
    cards = list(id_card_rows(5_020))[5_000:]  # records that are not in the CSV
    tampered = orjson.loads(message(scene, cards[:10]))
    tampered["records"][4]["data"]["name"] = "篡改"
    invalid = [dict(c, name="") for c in cards[10:15]]  # sealed, but break the schema
    poison = {
        "unparseable": (b"\x00\x01 not json", 1),
        "bad seal": (orjson.dumps(tampered), 10),
        "oversize": (b'{"resource": "' + b"x" * 400_000 + b'"}', 1),
        "bad schema": (message(scene, invalid), 5),
    }
    injected = sum(n for _, n in poison.values())
    producer = KafkaProducer(
        bootstrap_servers=servers,
        acks="all",
        enable_idempotence=True,
        max_request_size=1_000_000,
        **bus.options(),
    )
    env = {"GOVEX_API__MAX_BODY_BYTES": "300000"}
    with scene.exchange(env=env) as exchange:
        for payload, _ in poison.values():
            producer.send(scene.topic, payload, key=b"poison").get(timeout=30)
        connector, log = scene.connector()
        summary = finish_connector(connector, log)
        assert summary["published"] == 5_000
        producer.close()
        result = scene.drain(exchange)
    report("E5", scene, result)
    print(f"E5 [{bus.name}] quarantined {result.quarantined} = injected {injected}")
    assert result.quarantined == injected


def message(scene: Scene, rows: list[dict[str, str]]) -> bytes:
    batch = scene.gongan.seal(RESOURCE, rows, "id_number")
    return encode_batch(
        RESOURCE, [orjson.dumps(r.model_dump()) for r in batch.records], batch.seal.model_dump()
    )
