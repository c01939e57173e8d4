"""Publishing to the exchange's in-process bus (``govex demo``, tests, benchmarks).

The same message bytes as over Kafka, through the same checks, answered synchronously:
a batch refused whole comes back as a :class:`~connectors.publishers.base.Delivery`
with ``refused`` set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from connectors.outbox import OutboxBatch
from connectors.publishers.base import Delivery, result_delivery
from exchange.bus.embedded import EmbeddedBus
from exchange.bus.models import Poison

__all__ = ["EmbeddedPublisher"]


class EmbeddedPublisher:
    """Publishes to the exchange's in-process bus (``govex demo``, tests, benchmarks)."""

    def __init__(self, bus: EmbeddedBus) -> None:
        self.bus = bus

    def describe(self) -> str:
        return "the embedded bus"

    def groups(self) -> int:
        return 1

    def partition_of(self, key: str) -> int:
        return 0

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        for batch in batches:
            outcome = self.bus.deliver(batch.payload)
            if isinstance(outcome, Poison):
                yield Delivery(batch.batch_id, batch.size, refused=outcome.reason)
            else:
                yield result_delivery(batch, outcome.model_dump())

    def close(self) -> None:
        return None
