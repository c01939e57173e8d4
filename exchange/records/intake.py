"""Intake: one bus message in — ingested, or quarantined with its reason; never dropped.

Both buses (embedded and Kafka) hand every message to :class:`BatchIntake`:

1. decode it (size, strict JSON, a sealed batch — :mod:`exchange.records.batch`, with
   the verdicts of :mod:`exchange.bus.message`);
2. ingest it through :class:`exchange.records.ingest.Ingestor` as the seal's issuer: the seal
   is verified against that department's registered seal certificate, ownership is
   checked, records and the ``publish`` audit entry go into ONE DuckDB transaction,
   duplicates by ``(resource, key, version)`` are dropped, bad records quarantined;
3. a message that can never be ingested (unparseable, oversize, not a sealed batch,
   a resource the issuer does not own) is a *poison message*: it goes to the
   quarantine table with its reason, in the same transaction as a ``publish``
   ``refused`` audit entry, and intake goes on.

Only :class:`~exchange.errors.AuditUnavailable` and unexpected failures propagate:
the caller must then retry the message later (Kafka: not commit its offset), and
quarantine it with :meth:`BatchIntake.quarantine` when it keeps failing.

A quarantined message's audit entry and quarantine row never name the department the
message *claims* as its actor or publisher: a whole message is refused before its seal
proves anyone, so the claim is kept as ``claimed_issuer`` in the entry's detail only.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb

from exchange.audit.log import AuditEvent, AuditLog
from exchange.bus.message import PoisonMessage, claimed_origin
from exchange.bus.models import IngestResult, Poison
from exchange.errors import AuditUnavailable, ExchangeError
from exchange.records.batch import PlainBatch, decode
from exchange.records.ingest import Ingestor
from schemas.errors import ErrorCode
from signing.errors import SigningError

__all__ = ["BatchIntake"]

_PAYLOAD_KEPT = 64 * 1024
_OVERSIZE_KEPT = 4 * 1024


class BatchIntake:
    """Decodes and ingests bus messages; quarantines poison messages with their reason.

    The :class:`~exchange.bus.models.Intake` of this exchange: both buses deliver to it.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        audit: AuditLog,
        *,
        max_message_bytes: int,
        max_records: int,
    ) -> None:
        self.ingestor = ingestor
        self.audit = audit
        self.max_message_bytes = max_message_bytes
        self.max_records = max_records

    def take(
        self,
        payload: bytes,
        *,
        source: str,
        origin: Mapping[str, Any] | None = None,
        expected_resource: str | None = None,
    ) -> IngestResult | Poison:
        """Ingest one message, or quarantine it; ``origin`` (topic, offset …) goes to the audit."""
        try:
            batch = self.decode(payload)
        except PoisonMessage as exc:
            return self._quarantine(payload, exc.code.value, exc.message, source, origin)
        if expected_resource is not None and batch.resource != expected_resource:
            return self._quarantine(
                payload,
                ErrorCode.BUS_TOPIC_MISMATCH.value,
                f"a batch of {batch.resource!r} arrived on the topic of {expected_resource!r}",
                source,
                origin,
            )
        try:
            return self.ingestor.ingest(batch, batch.seal.issuer, source=source)
        except AuditUnavailable:
            raise
        except ExchangeError as exc:  # not the owner, unknown resource or department …
            return self._quarantine(payload, exc.code.value, exc.message, source, origin)
        except SigningError as exc:  # a record that cannot be canonicalised
            return self._quarantine(payload, exc.code.value, exc.message, source, origin)

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
        return self._quarantine(payload, code, reason, source, origin)

    def decode(self, payload: bytes) -> PlainBatch:
        """The sealed batch in ``payload``, decoded once for the whole batch
        (:mod:`exchange.records.batch`), or :class:`PoisonMessage`."""
        return decode(payload, max_bytes=self.max_message_bytes, max_records=self.max_records)

    def _quarantine(
        self,
        payload: bytes,
        code: str,
        reason: str,
        source: str,
        origin: Mapping[str, Any] | None,
    ) -> Poison:
        claimed = claimed_origin(payload) if len(payload) <= self.max_message_bytes else {}
        resource = claimed.get("resource")
        issuer = claimed.get("issuer")  # claimed, never proven: not the actor, not the publisher
        kept = payload[:_OVERSIZE_KEPT] if code == ErrorCode.PAYLOAD_TOO_LARGE.value else payload
        text = kept[:_PAYLOAD_KEPT].decode("utf-8", errors="replace")
        if len(kept) < len(payload):
            text += f"… ({len(payload)} bytes in all)"
        quarantine_id = "qua_" + secrets.token_hex(8)
        row = [
            quarantine_id,
            datetime.now(UTC),
            resource,
            None,
            claimed.get("batch_id"),
            None,
            None,
            code,
            reason,
            text,
            source,
        ]

        def work(tx: duckdb.DuckDBPyConnection) -> None:
            tx.execute("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

        detail: dict[str, Any] = {
            "source": source,
            "quarantine": quarantine_id,
            "whole_message": True,
        }
        if issuer is not None:
            detail["claimed_issuer"] = issuer
        detail.update(origin or {})
        self.audit.append(
            AuditEvent(
                actor="unknown",
                action="publish",
                outcome="refused",
                target=resource,
                code=code,
                detail=detail,
            ),
            work=work,
        )
        return Poison(code, reason, quarantine_id)
