"""The Kafka clients' settings measured over a grid: what ``ProducerTuning`` and
``ConsumerTuning`` (exchange.bus.kafka_tuning) default to, and why.

The messages are P2's own: a connector run seals a CSV of 居民身份证 rows into batches
(up to 5,000 records, ≤ 900 kB each). Producer side: the real ``KafkaPublisher`` sends
them (its window of 8, acks=all, idempotent) with each ``compression_type`` ×
``linger_ms`` × ``batch_size``. Consumer side: a consumer with the exchange's options
reads each codec's topic back and commits per partition after each poll, as the exchange
does, with each fetch setting. Figures are this process's CPU µs per record (the producer's
and consumer's I/O threads run in it; another load on shared cores does not inflate CPU
time as it does the wall clock), the median of ``repeat`` runs, and bytes on the wire: the
topic's record batches as the broker stores them (what the producer sent, and what each
consumer and replica fetches), from ``DescribeLogDirs``.

``python -m bench.kafka_settings [records] [repeat] [bootstrap]`` prints the tables.
"""

from __future__ import annotations

import shutil
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.bus.kafka_tuning import ConsumerTuning, ProducerTuning

from .ingest import BATCH, _broker, _exchange, _run, _runner, _Sink, _workload

__all__ = ["Measured", "consumer_grid", "measure", "producer_grid"]

Log = Callable[[str], None]
CODECS = ("none", "gzip", "lz4", "zstd")
LINGERS = (0, 5, 20)
BATCH_SIZES = (16 * 1024, 256 * 1024, 1024 * 1024)
FETCHES = (
    ConsumerTuning(max_poll_records=1),
    ConsumerTuning(max_poll_records=64),
    ConsumerTuning(max_poll_records=500),
    ConsumerTuning(max_poll_records=64, max_partition_fetch_bytes=2**20, fetch_max_bytes=2**20),
    ConsumerTuning(max_poll_records=64, max_partition_fetch_bytes=4 * 2**20,
                   fetch_max_bytes=16 * 2**20),
)  # fmt: skip


@dataclass
class Measured:
    setting: str
    cpu_us: float  # CPU µs per record, median of the runs
    wire_bytes: float  # bytes on the wire per record
    wall_s: float  # median wall clock (shared cores: only indicative)


def _print(text: str) -> None:
    print(text, flush=True)


def _payloads(count: int, log: Log) -> tuple[list[Any], int]:
    """P2's sealed batches (as ``OutboxBatch``) of ``count`` generated rows."""
    from connectors.outbox import OutboxBatch
    from exchange.demo.setup import DemoDepartment

    work = _workload(count)
    try:
        exchange = _exchange(work.root, "tuning")
        try:
            uscc = DemoDepartment.load(exchange, "gongan").uscc
            data = Path(exchange.settings.data)
        finally:
            exchange.close()
        sink = _Sink()
        config = work.config(uscc, "tuning", max_bytes=900_000)
        _run(_runner(config, data, sink, work.root / "sink.sqlite"))
    finally:
        shutil.rmtree(work.root, ignore_errors=True)
    import orjson

    batches = []
    for n, payload in enumerate(sink.payloads):
        records = orjson.loads(payload)["records"]
        batches.append(OutboxBatch(f"bat_{n:06d}", len(records), records[0]["key"], payload))
    log(f"{len(batches)} messages, {sum(len(b.payload) for b in batches):,} bytes, {count:,} "
        f"records (up to {BATCH:,} per message)")  # fmt: skip
    return batches, count


def _stored_bytes(bootstrap: str, topic: str) -> int:
    """The bytes of ``topic``'s record batches on the broker: what crossed the wire from
    the producer and crosses it again to every consumer (and every replica)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        described = admin.describe_log_dirs()
    finally:
        admin.close()
    total = 0
    for broker in described:
        for log_dir in broker["log_dirs"]:
            for entry in log_dir.get("topics") or []:
                if entry.get("name") == topic:
                    total += sum(int(p.get("partition_size") or 0) for p in entry["partitions"])
    return total


Run = tuple[float, float, float]  # CPU s, wire bytes, wall s


def _produce(bootstrap: str, batches: list[Any], tuning: ProducerTuning) -> tuple[Run, str]:
    """CPU s, wire bytes and wall s of the connector's publisher sending every batch once."""
    from connectors.publishers import KafkaPublisher

    resource = f"tuning{uuid.uuid4().hex[:8]}"
    publisher = KafkaPublisher(bootstrap, resource, topic_prefix="govex.bench.", tuning=tuning)
    try:
        publisher.groups()  # topic and producer ready before the clock starts
        cpu, wall = time.process_time(), time.perf_counter()
        sent = sum(1 for _ in publisher.publish(batches))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if sent != len(batches):
            raise RuntimeError(f"{sent} of {len(batches)} batches acknowledged")
    finally:
        publisher.close()
    return (cpu, float(_stored_bytes(bootstrap, publisher.topic)), wall), publisher.topic


def _consume(bootstrap: str, topic: str, messages: int, tuning: ConsumerTuning) -> Run:
    """CPU s, wire bytes and wall s of reading ``topic`` as the exchange does."""
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        group_id=f"tuning-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **tuning.options(1_000_000),
    )
    try:
        joined = time.monotonic() + 60
        while not consumer.assignment():
            if time.monotonic() > joined:
                raise RuntimeError("the consumer was never assigned a partition")
            consumer.poll(timeout_ms=100)  # joins the group; the reading starts after
        consumer.seek_to_beginning()
        cpu, wall = time.process_time(), time.perf_counter()
        seen = 0
        deadline = time.monotonic() + 300
        while seen < messages and time.monotonic() < deadline:
            for tp, got in consumer.poll(timeout_ms=500).items():
                for message in got:
                    seen += 1
                    if not message.value:
                        raise RuntimeError("an empty message")
                consumer.commit({tp: OffsetAndMetadata(got[-1].offset + 1, "", -1)})
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if seen < messages:
            raise RuntimeError(f"read {seen} of {messages} messages")
    finally:
        consumer.close()
    return cpu, float(_stored_bytes(bootstrap, topic)), wall


def producer_grid(bootstrap: str, batches: list[Any], records: int, repeat: int,
                  log: Log) -> tuple[list[Measured], dict[str, str]]:  # fmt: skip
    """Every codec × linger × batch size; also one topic per codec for the consumer grid."""
    out: list[Measured] = []
    topics: dict[str, str] = {}
    for codec in CODECS:
        for linger in LINGERS:
            for size in BATCH_SIZES:
                tuning = ProducerTuning(codec, linger, size)  # type: ignore[arg-type]
                done = [_produce(bootstrap, batches, tuning) for _ in range(repeat)]
                topics.setdefault(codec, done[0][1])
                runs = [run for run, _ in done]
                row = Measured(
                    tuning.describe(),
                    statistics.median(r[0] for r in runs) * 1e6 / records,
                    statistics.median(r[1] for r in runs) / records,
                    statistics.median(r[2] for r in runs),
                )
                out.append(row)
                log(_row(row))
    return out, topics


def consumer_grid(bootstrap: str, topics: dict[str, str], messages: int, records: int,
                  repeat: int, log: Log) -> list[Measured]:  # fmt: skip
    out: list[Measured] = []
    for codec, topic in topics.items():
        for tuning in FETCHES:
            runs = [_consume(bootstrap, topic, messages, tuning) for _ in range(repeat)]
            options = tuning.options(1_000_000)
            row = Measured(
                f"{codec}: max_poll_records {tuning.max_poll_records}, partition fetch "
                f"{options['max_partition_fetch_bytes'] // 1024} KiB, fetch "
                f"{options['fetch_max_bytes'] // 1024} KiB",
                statistics.median(r[0] for r in runs) * 1e6 / records,
                statistics.median(r[1] for r in runs) / records,
                statistics.median(r[2] for r in runs),
            )
            out.append(row)
            log(_row(row))
    return out


def _row(row: Measured) -> str:
    return (f"| {row.setting} | {row.cpu_us:.2f} | {row.wire_bytes:.0f} | "
            f"{row.wall_s:.2f} |")  # fmt: skip


def measure(records: int = 50_000, repeat: int = 3, bootstrap: str | None = None,
            log: Log = _print) -> tuple[list[Measured], list[Measured]]:  # fmt: skip
    batches, count = _payloads(records, log)
    with _broker(bootstrap, log) as servers:
        log("| producer setting | CPU µs/record | wire B/record | wall s |")
        produced, topics = producer_grid(servers, batches, count, repeat, log)
        log("| consumer setting | CPU µs/record | wire B/record | wall s |")
        consumed = consumer_grid(servers, topics, len(batches), count, repeat, log)
    return produced, consumed


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    given = next((a for a in args if ":" in a), None)
    digits = [int(a) for a in args if a.isdigit()]
    numbers = digits + [50_000, 3][len(digits) :]
    measure(numbers[0], numbers[1], bootstrap=given)
