"""The bus between connectors and the exchange: embedded (default) or Apache Kafka.

The floor connectors stand on: no DuckDB, no pyarrow, no FastAPI, nothing of the
exchange's records or service. The bus delivers to an :class:`~exchange.bus.models.Intake`
that the composition root (:mod:`exchange.service`) hands it.

- :mod:`.models` — the wire models (``RecordIn``, ``BatchIn``, ``IngestResult``), the
  ``Poison`` verdict and the ``Intake`` protocol;
- :mod:`.message` — the message (one sealed batch as JSON bytes), topics, bus URLs;
- :mod:`.embedded` — in-process delivery, no broker (``govex demo``, tests, benchmarks);
- :mod:`.kafka` — the consumer thread of ``govex serve --bus kafka://HOST:PORT``;
- :mod:`.kafka_health` — failure classification, per-partition health, topic checks;
- :mod:`.kafka_security` — SASL/TLS settings of a Kafka client, the open-bus check;
- :mod:`.kafka_tuning` — batching, compression and fetch sizes of the Kafka clients
  (chosen by measurement, ``bench/kafka_settings.py``);
- :mod:`.node` — this node's identity on the bus (its consumer group), per data directory.

This package loads only :mod:`.message` and :mod:`.models`; import ``EmbeddedBus`` from
:mod:`exchange.bus.embedded` and the consumer from :mod:`exchange.bus.kafka` (``kafka``
itself is imported only when a Kafka consumer starts). The exchange's side of intake —
decode, ingest, quarantine — is :mod:`exchange.records.intake`.
"""

from __future__ import annotations

from exchange.bus.message import (
    DEFAULT_TOPIC_PREFIX,
    BusAddress,
    PoisonMessage,
    decode_batch,
    encode_batch,
    parse_bus_url,
    topic_for,
)
from exchange.bus.models import BatchIn, IngestResult, Intake, Poison, QuarantinedRecord, RecordIn

__all__ = [
    "DEFAULT_TOPIC_PREFIX",
    "BatchIn",
    "BusAddress",
    "IngestResult",
    "Intake",
    "Poison",
    "PoisonMessage",
    "QuarantinedRecord",
    "RecordIn",
    "decode_batch",
    "encode_batch",
    "parse_bus_url",
    "topic_for",
]
