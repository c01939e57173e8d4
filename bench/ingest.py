"""P1 (ingest on the embedded bus), P2 (ingest through a real Kafka broker) and P2-secure
(the same through the secured 3-node cluster, bench/kafka_cluster.py), each measured beside
its peer in the same run.

The path is all of P1 (README.md, Performance): a connector reads a CSV of 居民身份证 rows,
maps and validates them, writes them to its outbox, seals batches (one signature each)
and publishes them; the exchange decodes each batch, verifies the seal against the
department's certificate, validates every record, writes records and the audit entry in
one DuckDB transaction.

- P1 peer: a raw DuckDB Arrow insert of the same rows into a table of the same shape
  (prepared Arrow tables, batches of the same size) — the storage floor.
- P2 peer: raw kafka-python produce (acks=all, idempotent) + consume of the same message
  bytes, with the connector's and the exchange's compression and batching settings
  (exchange.bus.kafka_tuning) — the transport floor; on the secured cluster with the same
  SASL/TLS settings and a topic of the same replication.

Notes of P1 split the time: the connector side alone (publishing into a sink that only
acknowledges) and the exchange side alone (delivering already sealed messages), each with
its stages' wall-clock µs per record and the process's CPU µs per record (comparable
between runs on shared cores, where the wall clock is not).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.serving import serve_process

from .figures import Figure
from .kafka_cluster import BenchBus, plain_bus, secured_cluster
from .stages import StageClock, connector_stages, exchange_stages
from .workload import RESOURCE, connector_config, id_card_rows, write_csv

__all__ = ["p1", "p2", "p2_secure"]

BATCH = 5_000
Log = Callable[[str], None]


def _quiet(text: str) -> None:
    return None


# -- the workload ----------------------------------------------------------------


@dataclass
class _Workload:
    root: Path
    csv: Path
    count: int

    def config(
        self,
        uscc: str,
        tag: str,
        prefix: str = "govex.records.",
        max_bytes: int = 8_000_000,
    ) -> Path:
        path = self.root / f"{tag}.toml"
        path.write_text(
            connector_config(
                name=f"bench-{tag}",
                uscc=uscc,
                csv=self.csv,
                prefix=prefix,
                batch_size=BATCH,
                max_batch_bytes=max_bytes,
            ),
            encoding="utf-8",
        )
        return path


def _workload(count: int) -> _Workload:
    root = Path(tempfile.mkdtemp(prefix="govex-bench-ingest-"))
    csv = root / "ids.csv"
    write_csv(csv, id_card_rows(count))
    return _Workload(root, csv, count)


def _exchange(root: Path, name: str, prefix: str = "govex.records.") -> Any:
    from exchange.config import KafkaSettings, Settings
    from exchange.demo.setup import create_demo

    return create_demo(Settings(data=root / name, kafka=KafkaSettings(topic_prefix=prefix)))


def _runner(config: Path, data: Path, publisher: Any, outbox: Path) -> Any:
    from connectors.config import build_source, load_config, load_credentials
    from connectors.mapping import Mapper
    from connectors.outbox import Outbox
    from connectors.runner import Runner
    from connectors.sealer import Sealer
    from exchange.config import DEMO_PASSPHRASE

    env = {"GOVEX_DATA": str(data), "GOVEX_CONNECTOR_KEY_PASSPHRASE": DEMO_PASSPHRASE}
    loaded = load_config(config, env)
    creds = load_credentials(loaded, need_auth=False)
    return Runner(
        name=loaded.name,
        source=build_source(loaded),
        mapper=Mapper(loaded.config.mapping, loaded.definition),
        sealer=Sealer(RESOURCE, creds.uscc, creds.seal_key, creds.seal_kid),
        outbox=Outbox(outbox, RESOURCE),
        publisher=publisher,
        batch_size=BATCH,
        max_batch_bytes=loaded.config.connector.max_batch_bytes,
    )


def _run(runner: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        summary = runner.run()
    finally:
        runner.outbox.close()
    return summary, time.perf_counter() - started


class _Sink:
    """A publisher that acknowledges at once and keeps the messages (connector side alone)."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def describe(self) -> str:
        return "sink"

    def groups(self) -> int:
        return 1

    def partition_of(self, key: str) -> int:
        return 0

    def publish(self, batches: Any) -> Iterator[Any]:
        from connectors.publishers import Delivery

        for batch in batches:
            self.payloads.append(batch.payload)
            yield Delivery(batch.batch_id, batch.size)

    def close(self) -> None:
        return None


# -- P1 --------------------------------------------------------------------------


def _duckdb_peer(payloads: list[bytes], root: Path) -> float:
    """Rows/s of a raw DuckDB Arrow insert of the same rows (same table shape and key)."""
    import duckdb
    import orjson
    import pyarrow as pa

    tables = []
    now = datetime.now(UTC)
    for payload in payloads:
        records = orjson.loads(payload)["records"]
        n = len(records)
        tables.append(
            pa.table(
                {
                    "resource": [RESOURCE] * n,
                    "key": [r["key"] for r in records],
                    "version": pa.array([r["version"] for r in records], pa.int64()),
                    "data": [orjson.dumps(r["data"]).decode() for r in records],
                    "batch_id": ["bat_peer"] * n,
                    "leaf_index": pa.array(range(n), pa.int32()),
                    "publisher": ["peer"] * n,
                    "received_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
                }
            )
        )
    db = duckdb.connect(str(root / "peer.duckdb"))
    try:
        db.execute(
            "CREATE TABLE record_history (resource VARCHAR NOT NULL, key VARCHAR NOT NULL, "
            "version BIGINT NOT NULL, data JSON NOT NULL, batch_id VARCHAR NOT NULL, "
            "leaf_index INTEGER NOT NULL, publisher VARCHAR NOT NULL, "
            "received_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (resource, key, version))"
        )
        rows = sum(t.num_rows for t in tables)
        started = time.perf_counter()
        for table in tables:
            db.register("incoming", table)
            db.execute("BEGIN TRANSACTION")
            db.execute("INSERT INTO record_history SELECT * FROM incoming")
            db.execute("COMMIT")
            db.unregister("incoming")
        return float(rows / (time.perf_counter() - started))
    finally:
        db.close()


def p1(quick: bool = True, log: Log = _quiet) -> Figure:
    """P1: connector CSV → … → exchange DuckDB + audit on the embedded bus, records/s."""
    from connectors.publishers import EmbeddedPublisher
    from exchange.demo.setup import DemoDepartment

    count = 20_000 if quick else 200_000
    log(f"P1: generating {count:,} ID-card rows")
    work = _workload(count)
    try:
        exchange = _exchange(work.root, "full")
        try:
            data = Path(exchange.settings.data)
            uscc = DemoDepartment.load(exchange, "gongan").uscc
            config = work.config(uscc, "full")
            log("P1: the whole path on the embedded bus")
            bus = EmbeddedPublisher(exchange.embedded_bus())
            summary, elapsed = _run(_runner(config, data, bus, work.root / "full.sqlite"))
            if summary.accepted != count:
                raise RuntimeError(f"P1 stored {summary.accepted} of {count} records")
            rate = count / elapsed
        finally:
            exchange.close()
        log("P1: the connector side alone")
        sink = _Sink()
        sink_data = work.root / "full"
        connector_clock, exchange_clock = StageClock(), StageClock()
        alone = _runner(config, sink_data, sink, work.root / "sink.sqlite")
        connector_stages(alone, connector_clock)
        cpu = time.process_time()
        _, connector_s = _run(alone)
        connector_cpu = time.process_time() - cpu
        log("P1: the exchange side alone")
        exchange = _exchange(work.root, "alone")
        try:
            resealed = _reseal(sink.payloads, exchange)
            bus_alone = exchange.embedded_bus()
            with exchange_stages(exchange, exchange_clock):
                cpu, started = time.process_time(), time.perf_counter()
                for payload in resealed:
                    bus_alone.deliver(payload)
                exchange_s = time.perf_counter() - started
                exchange_cpu = time.process_time() - cpu
        finally:
            exchange.close()
        log("P1: raw DuckDB Arrow insert of the same rows")
        peer = _duckdb_peer(sink.payloads, work.root)
    finally:
        shutil.rmtree(work.root, ignore_errors=True)
    ratio = rate / peer
    return Figure(
        "P1",
        f"ingest, embedded bus: CSV → map → validate → outbox → seal → verify → DuckDB + "
        f"audit ({count:,} records, batches of {BATCH:,})",
        rate,
        "records/s",
        "raw DuckDB Arrow insert of the same rows",
        peer,
        ratio,
        "≥ 100,000 records/s; ratio ≥ 0.3",
        rate >= 100_000 and ratio >= 0.3,
        note=f"connector side alone {count / connector_s:,.0f}/s "
        f"({connector_clock.describe(count)} per record; CPU {_us(connector_cpu, count)} "
        f"per record); exchange side alone {count / exchange_s:,.0f}/s "
        f"({exchange_clock.describe(count)} per record; CPU {_us(exchange_cpu, count)} "
        "per record, its writer thread included)",
    )


def _us(seconds: float, records: int) -> str:
    """Microseconds per record: the process's CPU time, which another load on the same
    cores does not inflate as it does the wall-clock stages."""
    return f"{seconds * 1e6 / max(1, records):.1f} µs"


def _reseal(payloads: list[bytes], exchange: Any) -> list[bytes]:
    """The same records sealed with this exchange's 公安局 key (its own demo keys)."""
    import orjson

    from connectors.outbox import PendingRecord
    from connectors.sealer import Sealer
    from exchange.demo.setup import DemoDepartment

    dept = DemoDepartment.load(exchange, "gongan")
    sealer = Sealer(RESOURCE, dept.uscc, dept.seal_key, dept.seal_kid)
    out = []
    for payload in payloads:
        records = orjson.loads(payload)["records"]
        pending = [PendingRecord(0, r["key"], r["version"], orjson.dumps(r), 0) for r in records]
        out.append(sealer.seal(pending)[1])
    return out


# -- P2 --------------------------------------------------------------------------


@contextmanager
def _broker(bootstrap: str | None, log: Log) -> Iterator[str]:
    """The given broker, or one started with scripts/kafka.sh for this run."""
    if bootstrap is not None:
        yield bootstrap
        return
    script = Path(__file__).resolve().parents[1] / "scripts" / "kafka.sh"
    if not script.exists():
        raise RuntimeError("no Kafka broker: pass bootstrap, or run from a checkout")
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    folder = Path(tempfile.mkdtemp(prefix="govex-bench-kafka-"))
    log(f"P2: starting a Kafka broker on 127.0.0.1:{ports[0]}")
    subprocess.run(
        ["bash", str(script), "start", "--port", str(ports[0]), "--controller-port",
         str(ports[1]), "--dir", str(folder)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{ports[0]}"
    finally:
        subprocess.run(
            ["bash", str(script), "stop", "--dir", str(folder)], capture_output=True, timeout=120
        )
        shutil.rmtree(folder, ignore_errors=True)


def _raw_kafka(bus: BenchBus, payloads: list[bytes], keys: list[bytes]) -> float:
    """Seconds to produce (acks=all, idempotent) and consume back the same message bytes."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"govex.bench.raw.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bus.servers, **bus.options)
    admin.create_topics([NewTopic(topic, 3, -1)])  # the cluster's replication, as govex's
    admin.close()
    from exchange.bus.kafka_tuning import ConsumerTuning, ProducerTuning

    # the connector's and the exchange's own batching, compression and fetch settings
    producer = KafkaProducer(
        bootstrap_servers=bus.servers,
        acks="all",
        enable_idempotence=True,
        max_request_size=16 * 1024 * 1024,
        **ProducerTuning().options(),
        **bus.options,
    )
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bus.servers,
        group_id=f"raw-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **ConsumerTuning().options(16 * 1024 * 1024),
        **bus.options,
    )
    try:
        consumer.poll(timeout_ms=1000)  # join the group before the clock starts
        started = time.perf_counter()
        for payload, key in zip(payloads, keys, strict=True):
            producer.send(topic, value=payload, key=key)
        producer.flush()
        seen = 0
        deadline = time.monotonic() + 600
        while seen < len(payloads) and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                seen += len(messages)
            consumer.commit()
        return time.perf_counter() - started
    finally:
        producer.close()
        consumer.close()


def p2(quick: bool = True, bootstrap: str | None = None, log: Log = _quiet) -> Figure:
    """P2: the P1 path through a real Kafka broker, records/s from the connector's start until
    the exchange (its own process, ``govex serve --bus``) committed the last offset."""
    try:
        with _broker(bootstrap, log) as servers:
            return _p2_on(plain_bus(servers), f"govex.bench{uuid.uuid4().hex[:6]}.records.",
                          quick=quick, log=log)  # fmt: skip
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return _not_measured("P2", exc)


def p2_secure(quick: bool = True, log: Log = _quiet) -> Figure:
    """P2-secure: P2 on a secured 3-node cluster (SASL_SSL SCRAM-SHA-512, ACLs, replication 3,
    min.insync.replicas 2) started for the run; the raw peer speaks the same SASL/TLS."""
    prefix = f"govex.records.bench{uuid.uuid4().hex[:6]}."
    try:
        with secured_cluster(RESOURCE, prefix, log) as bus:
            return _p2_on(bus, prefix, quick=quick, log=log, name="P2-secure")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return _not_measured("P2-secure", exc)


_P2_TARGET = "≥ 50,000 records/s; ratio ≥ 0.5"


def _not_measured(name: str, exc: BaseException) -> Figure:
    return Figure(name, "ingest through Kafka", 0.0, "records/s", "raw kafka-python", None,
                  None, _P2_TARGET, False, note=f"not measured: {exc}")  # fmt: skip


def _p2_on(bus: BenchBus, prefix: str, *, quick: bool, log: Log, name: str = "P2") -> Figure:
    import orjson

    from connectors.publishers import KafkaPublisher
    from exchange.bus.node import keep_node_identity
    from exchange.demo.setup import DemoDepartment
    from exchange.store import Store

    count = 20_000 if quick else 200_000
    log(f"{name}: generating {count:,} ID-card rows")
    work = _workload(count)
    topic = f"{prefix}{RESOURCE}"
    exchange = _exchange(work.root, "kafka", prefix)
    data = Path(exchange.settings.data)
    uscc = DemoDepartment.load(exchange, "gongan").uscc
    exchange.close()
    keep_node_identity(data, "bench")  # its consumer group: govex-exchange.bench
    config = work.config(uscc, "kafka", prefix, max_bytes=900_000)
    _create_topic(bus, topic)  # steady state: the exchange already consumes it
    try:
        with _serving(data, bus, prefix):
            _wait_assigned(bus, topic, "govex-exchange.bench")
            publisher = KafkaPublisher(
                bus.bootstrap, RESOURCE, topic_prefix=prefix, security=bus.connector
            )
            log(f"{name}: the whole path through Kafka ({bus.label})")
            started = time.perf_counter()
            try:
                summary, _ = _run(_runner(config, data, publisher, work.root / "k.sqlite"))
            finally:
                publisher.close()
            _wait_committed(bus, topic, "govex-exchange.bench")
            elapsed = time.perf_counter() - started
        with Store(data, read_only=True) as store:
            row = store.fetchone("SELECT count(*) FROM record_history")
        stored = int(row[0]) if row else 0
        if stored != count:
            raise RuntimeError(f"{name} stored {stored} of {count} records")
        payloads = _topic_messages(bus, topic, summary.batches)
    finally:
        shutil.rmtree(work.root, ignore_errors=True)
    log(f"{name}: raw kafka-python produce + consume of the same bytes ({bus.label})")
    keys = [orjson.loads(p)["records"][0]["key"].encode() for p in payloads]
    raw_s = _raw_kafka(bus, payloads, keys)
    rate = count / elapsed
    peer = count / raw_s
    where = "a real Kafka broker" if name == "P2" else f"a secured Kafka cluster ({bus.label})"
    return Figure(
        name,
        f"ingest through {where}, same path as P1 ({count:,} records; connector "
        "and exchange in their own processes)",
        rate,
        "records/s",
        "raw kafka-python produce (acks=all) + consume of the same bytes"
        + ("" if name == "P2" else ", same SASL/TLS, same replication"),
        peer,
        rate / peer,
        _P2_TARGET,
        rate >= 50_000 and rate / peer >= 0.5,
        note=f"{len(payloads)} messages of up to {BATCH:,} records (≤ 900 kB each)",
    )


@contextmanager
def _serving(data: Path, bus: BenchBus, prefix: str) -> Iterator[None]:
    """``govex serve --data DATA --bus kafka://…`` as its own process, until the block ends."""
    env = {"GOVEX_KAFKA__TOPIC_PREFIX": prefix, **bus.exchange_env}
    with serve_process(data, "--bus", f"kafka://{bus.bootstrap}", env=env):
        yield


def _create_topic(bus: BenchBus, topic: str, partitions: int = 3) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bus.servers, **bus.options)
    try:
        admin.create_topics([NewTopic(topic, partitions, -1)])  # the cluster's replication
    finally:
        admin.close()


def _wait_assigned(bus: BenchBus, topic: str, group: str) -> None:
    """Until the exchange's consumer group holds the topic's partitions (it joined)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bus.servers, **bus.options)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                described = admin.describe_groups([group]).get(group, {})
            except KafkaError:  # a fresh broker has no group coordinator yet
                described = {}
            state = str(described.get("group_state") or described.get("state") or "")
            if described.get("members") and state.lower() == "stable":
                return
            time.sleep(0.1)
        raise RuntimeError("the exchange's consumer never joined its group")
    finally:
        admin.close()


def _wait_committed(bus: BenchBus, topic: str, group: str) -> None:
    """Until ``group`` committed the end offset of every partition of ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(
        bootstrap_servers=bus.servers, group_id=group, enable_auto_commit=False, **bus.options
    )
    try:
        partitions = sorted(reader.partitions_for_topic(topic) or [])
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = reader.end_offsets(tps)
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if all((reader.committed(tp) or 0) >= ends[tp] for tp in tps):
                return
            time.sleep(0.02)
        raise RuntimeError(f"the exchange did not consume {topic} in time")
    finally:
        reader.close()


def _topic_messages(bus: BenchBus, topic: str, count: int) -> list[bytes]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bus.servers,
        **bus.options,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    out: list[bytes] = []
    with suppress(StopIteration):
        for message in consumer:
            out.append(message.value)
            if len(out) >= count:
                break
    consumer.close()
    return out


if __name__ == "__main__":  # python -m bench.ingest [full] [bootstrap]
    import sys

    full = "full" in sys.argv[1:]
    given = next((a for a in sys.argv[1:] if ":" in a), None)
    print(p1(not full, print).to_json())
    print(p2(not full, given or os.environ.get("KAFKA"), print).to_json())
    print(p2_secure(not full, print).to_json())
