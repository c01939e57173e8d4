"""Batching, compression and fetch sizes of the Kafka clients, chosen by measurement.

A message is one sealed batch (up to ``connector.max_batch_bytes``, ~900 kB of JSON), so
the producer's own batching has little left to group: ``linger_ms`` only lets the
connector's window of sends share a request, and ``batch_size`` matters once it holds
more than one message. Compression is what moves the bytes: the records' JSON shrinks
several-fold, so the broker stores and replicates less, and each side pays CPU to
(de)compress. ``bench/kafka_settings.py`` measures the grid (CPU µs per record on both
sides, bytes on the wire); README "Performance" keeps its table and the reasons for the
defaults below. A codec needs its package (``lz4``, ``zstandard``; gzip is built in):
:func:`codec_problem` says which one is missing, before a client is made.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CODEC_PACKAGES",
    "FAILOVER",
    "Compression",
    "ConsumerTuning",
    "ProducerTuning",
    "codec_problem",
]

Compression = Literal["none", "gzip", "lz4", "zstd", "snappy"]

# the Python package kafka-python imports for each codec (gzip: the standard library)
CODEC_PACKAGES: dict[str, str] = {"lz4": "lz4", "zstd": "zstandard", "snappy": "snappy"}

# How the cluster's own clients (control plane, audit log) follow a broker that died:
# kafka-python backs off reconnecting to it up to 30 s (the Java client 1 s) and keeps
# metadata 5 minutes, so a client could go on asking a dead leader long after the
# election; with these it asks again within a second and learns the new leader in 10 s.
FAILOVER: dict[str, Any] = {"reconnect_backoff_max_ms": 1_000, "metadata_max_age_ms": 10_000}


def codec_problem(compression: str) -> str | None:
    """Why ``compression`` cannot be used here (its package is missing), or None."""
    package = CODEC_PACKAGES.get(compression)
    if package is None or importlib.util.find_spec(package) is not None:
        return None
    wanted = "python-snappy" if package == "snappy" else package
    return (
        f"compression {compression!r} needs the Python package {wanted!r} "
        f"(pip install {wanted}), or choose none, gzip, lz4 or zstd"
    )


@dataclass(frozen=True)
class ProducerTuning:
    """The connector's producer: ``compression_type``, ``linger_ms``, ``batch_size``."""

    compression_type: Compression = "zstd"
    linger_ms: int = 5
    batch_size: int = 256 * 1024

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``KafkaProducer`` (``compression_type`` None for none)."""
        codec = None if self.compression_type == "none" else self.compression_type
        return {
            "compression_type": codec,
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
        }

    def describe(self) -> str:
        return (
            f"compression {self.compression_type}, linger {self.linger_ms} ms, "
            f"batch {self.batch_size // 1024} KiB"
        )


@dataclass(frozen=True)
class ConsumerTuning:
    """The exchange's consumer: how much one fetch and one poll bring.

    Sizes of 0 follow the largest message the exchange accepts: a partition's fetch holds
    at least one whole message, a fetch at least two partitions' worth.
    """

    max_poll_records: int = 64
    max_partition_fetch_bytes: int = 0
    fetch_max_bytes: int = 0

    def options(self, max_message_bytes: int) -> dict[str, Any]:
        """Keyword arguments of ``KafkaConsumer`` for messages up to ``max_message_bytes``."""
        partition = self.max_partition_fetch_bytes or max(1024 * 1024, max_message_bytes + 4096)
        fetch = self.fetch_max_bytes or max(50 * 1024 * 1024, max_message_bytes * 2)
        return {
            "max_poll_records": self.max_poll_records,
            "max_partition_fetch_bytes": partition,
            "fetch_max_bytes": max(fetch, partition),
        }
