"""The embedded bus (the default): a sealed batch goes straight to this exchange's intake.

No broker, no network: ``deliver`` decodes and ingests the message in the caller's
thread and answers with the ingest result (or the poison verdict), so a connector
running in the exchange's process — ``govex demo``, tests, benchmarks — publishes
exactly the bytes it would send to Kafka, through exactly the same checks.

The intake is handed in by the composition root (``Exchange.embedded_bus()``).
"""

from __future__ import annotations

from exchange.bus.models import IngestResult, Intake, Poison

__all__ = ["EmbeddedBus"]


class EmbeddedBus:
    """Delivers bus messages to one exchange's intake, synchronously."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    def deliver(self, payload: bytes) -> IngestResult | Poison:
        """Ingest one sealed-batch message; returns once it is stored (or quarantined)."""
        return self.intake.take(payload, source="bus")
