"""What travels on the bus, and what the bus delivers to.

- :class:`RecordIn`, :class:`BatchIn` — a sealed batch as connectors publish it (the body
  of ``POST /v1/records`` and of every bus message);
- :class:`IngestResult`, :class:`QuarantinedRecord` — what the exchange answers for a batch;
- :class:`Poison` — the verdict on a message that was quarantined whole;
- :class:`Intake` — the one thing both buses need from the exchange: take a message,
  answer with an :class:`IngestResult` or a :class:`Poison`. The exchange's
  :class:`~exchange.records.intake.BatchIntake` is it; the composition root
  (:mod:`exchange.service`) hands it to the bus, so the bus never imports the exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import Field

from schemas.base import StrictModel
from signing.seal import BatchSeal

__all__ = ["BatchIn", "IngestResult", "Intake", "Poison", "QuarantinedRecord", "RecordIn"]


class RecordIn(StrictModel):
    key: str = Field(min_length=1, max_length=256)
    version: int = Field(ge=0, le=2**53 - 1)
    data: dict[str, Any] = Field(max_length=1024, description="the record's fields")


class BatchIn(StrictModel):
    resource: str = Field(max_length=128)
    # a hard cap on the model; the setting api.max_batch_records applies below it
    records: list[RecordIn] = Field(min_length=1, max_length=1_000_000)
    seal: BatchSeal


class QuarantinedRecord(StrictModel):
    index: int
    key: str | None
    reason_code: str
    reason: str


class IngestResult(StrictModel):
    batch_id: str
    resource: str
    received: int
    accepted: int
    duplicates: int
    quarantined: list[QuarantinedRecord]
    audit_seq: int | None = None


@dataclass(frozen=True)
class Poison:
    """A message that was quarantined whole, and why."""

    reason_code: str
    reason: str
    quarantine_id: str


class Intake(Protocol):
    """Where a bus delivers messages: decode, ingest or quarantine, never drop."""

    @property
    def max_message_bytes(self) -> int:
        """The largest message taken; larger ones are quarantined as too large."""
        ...

    def take(
        self,
        payload: bytes,
        *,
        source: str,
        origin: Mapping[str, Any] | None = None,
        expected_resource: str | None = None,
    ) -> IngestResult | Poison:
        """Ingest one message, or quarantine it; ``origin`` (topic, offset …) is audited.

        ``expected_resource`` is the resource of the topic the message came from: a batch
        of another resource is poison.
        """
        ...

    def quarantine(
        self,
        payload: bytes,
        *,
        code: str,
        reason: str,
        source: str,
        origin: Mapping[str, Any] | None = None,
    ) -> Poison:
        """Quarantine a whole message the bus gives up on (it kept failing), with why."""
        ...
