"""What every publisher shares: the :class:`Publisher` protocol, deliveries and retries.

Every publisher takes batches from the outbox (their exact message bytes) and yields
a :class:`Delivery` for each one the other side acknowledged; the runner then marks
it sent. A batch that is not acknowledged stays in the outbox — nothing is lost.

Transient failures (connection refused, timeouts, 429, 5xx, a paused or dead broker)
are retried with exponential backoff until ``Retry.deadline_s``; then
:class:`~connectors.errors.Unreachable` says what is unreachable and that the batches
wait in the outbox for the next run (:func:`pending_note`). Each wait is told to
``Retry.notice`` first (the CLI prints it), so a run that waits is never silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.outbox import OutboxBatch

__all__ = [
    "Delivery",
    "Publisher",
    "QuarantinedRecord",
    "Retry",
    "pending_note",
    "result_delivery",
]


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record of a batch that the exchange quarantined, and why."""

    index: int
    key: str | None
    reason_code: str
    reason: str


@dataclass(frozen=True)
class Delivery:
    """One batch acknowledged. Counts are known when the exchange answers synchronously
    (HTTP, embedded); over Kafka the exchange ingests later and they stay None.
    ``refused`` is set when the exchange refused the whole batch (it is in its quarantine).
    """

    batch_id: str
    records: int
    accepted: int | None = None
    duplicates: int | None = None
    quarantined: tuple[QuarantinedRecord, ...] = ()
    refused: str | None = None


@dataclass(frozen=True)
class Retry:
    """Backoff for transient failures: ``initial_s`` doubling up to ``max_s``, for
    ``deadline_s`` in all."""

    deadline_s: float = 120.0
    initial_s: float = 0.2
    max_s: float = 5.0
    notice: Callable[[str], None] | None = field(default=None, compare=False)

    def pause(self, delay: float, problem: str) -> None:
        """Wait ``delay`` seconds before the next attempt, saying why first."""
        if self.notice is not None:
            self.notice(f"retrying in {delay:.1f} s: {problem}")
        time.sleep(delay)

    def delays(self) -> Iterator[float]:
        """Sleep times until the deadline; exhausted means give up."""
        end = time.monotonic() + self.deadline_s
        delay = self.initial_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            yield min(delay, left)
            delay = min(delay * 2, self.max_s)


class Publisher(Protocol):
    """Where sealed batches go."""

    def describe(self) -> str: ...

    def groups(self) -> int:
        """How many groups ``partition_of`` spreads keys over (Kafka: the partitions)."""
        ...

    def partition_of(self, key: str) -> int:
        """The group a record key belongs to; a batch holds records of one group."""
        ...

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        """Send the batches; yield each one's delivery as it is acknowledged."""
        ...

    def close(self) -> None: ...


def result_delivery(batch: OutboxBatch, body: dict[str, Any]) -> Delivery:
    quarantined = tuple(
        QuarantinedRecord(int(q["index"]), q.get("key"), str(q["reason_code"]), str(q["reason"]))
        for q in body.get("quarantined", [])
    )
    return Delivery(
        batch.batch_id,
        batch.size,
        accepted=int(body.get("accepted", 0)),
        duplicates=int(body.get("duplicates", 0)),
        quarantined=quarantined,
    )


def pending_note(batches: Sequence[OutboxBatch]) -> str:
    records = sum(b.size for b in batches)
    return (
        f"{len(batches)} batch(es), {records} record(s) stay in the outbox; "
        "run the connector again to resume (nothing is lost)"
    )
