"""The bus between connectors and the exchange: embedded (default) or Apache Kafka.

- :mod:`.message` — the message (one sealed batch as JSON bytes), topics, bus URLs;
- :mod:`.intake` — decode + ingest + quarantine poison messages (shared by both buses);
- :mod:`.embedded` — in-process delivery, no broker (``govex demo``, tests, benchmarks);
- :mod:`.kafka` — the consumer thread of ``govex serve --bus kafka://HOST:PORT``.

Connectors may import this package (DESIGN: import direction); ``kafka`` itself is
imported only when a Kafka consumer starts.
"""

from __future__ import annotations

from exchange.bus.embedded import EmbeddedBus
from exchange.bus.message import (
    DEFAULT_TOPIC_PREFIX,
    BusAddress,
    PoisonMessage,
    decode_batch,
    encode_batch,
    parse_bus_url,
    topic_for,
)
from exchange.records.intake import BatchIntake, Poison

__all__ = [
    "DEFAULT_TOPIC_PREFIX",
    "BatchIntake",
    "BusAddress",
    "EmbeddedBus",
    "Poison",
    "PoisonMessage",
    "decode_batch",
    "encode_batch",
    "parse_bus_url",
    "topic_for",
]
