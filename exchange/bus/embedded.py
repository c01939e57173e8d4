"""The embedded bus (the default): a sealed batch goes straight to this exchange's intake.

No broker, no network: ``deliver`` decodes and ingests the message in the caller's
thread and answers with the ingest result (or the poison verdict), so a connector
running in the exchange's process — ``govex demo``, tests, benchmarks — publishes
exactly the bytes it would send to Kafka, through exactly the same checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exchange.records.ingest import IngestResult
from exchange.records.intake import BatchIntake, Poison

if TYPE_CHECKING:
    from exchange.service import Exchange

__all__ = ["EmbeddedBus"]


class EmbeddedBus:
    """Delivers bus messages to one exchange, synchronously."""

    def __init__(self, intake: BatchIntake) -> None:
        self.intake = intake

    @classmethod
    def of(cls, exchange: Exchange) -> EmbeddedBus:
        return cls(BatchIntake.of(exchange))

    def deliver(self, payload: bytes) -> IngestResult | Poison:
        """Ingest one sealed-batch message; returns once it is stored (or quarantined)."""
        return self.intake.take(payload, source="bus")
