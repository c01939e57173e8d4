"""Ingest: a sealed batch in, records stored once, bad records quarantined with the reason.

Steps for one batch (DESIGN "flow of one record", step 4):

1. the publisher must own the resource;
2. the batch seal must verify: seal key registered to the publisher, its X.509
   certificate issued by our root CA and valid when the batch was sealed, the
   signature over the Merkle root, and the root recomputed from the records —
   a batch whose seal fails is quarantined whole;
3. each record is checked (key matches its key field, size, JSON Schema); failures
   are quarantined with the reason and the rest goes on;
4. duplicates by ``(resource, key, version)`` are dropped (idempotent re-delivery);
5. records, the batch, the quarantine rows and the ``publish`` audit entry are
   written in ONE DuckDB transaction (Arrow inserts, never row by row).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import Field

from schemas._base import StrictModel
from schemas.catalog import ResourceDefinition
from schemas.errors import ErrorCode
from signing.ca import verify_seal_certificate
from signing.errors import SigningError
from signing.seal import BatchSeal, record_leaf, verify_seal

from .audit import AuditEvent, AuditLog
from .catalog import Catalog
from .errors import Forbidden
from .registry import Registry
from .store import Store
from .validation import MAX_RECORD_BYTES, RecordValidator

__all__ = ["BatchIn", "IngestResult", "Ingestor", "QuarantinedRecord", "RecordIn"]


class RecordIn(StrictModel):
    key: str = Field(min_length=1, max_length=256)
    version: int = Field(ge=0, le=2**53 - 1)
    data: dict[str, Any]


class BatchIn(StrictModel):
    resource: str = Field(max_length=128)
    records: list[RecordIn] = Field(min_length=1)
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


@dataclass
class _Checked:
    good: list[tuple[int, RecordIn]] = field(default_factory=list)
    bad: list[QuarantinedRecord] = field(default_factory=list)


class Ingestor:
    """Verifies, validates and stores sealed batches."""

    def __init__(
        self, store: Store, registry: Registry, catalog: Catalog, audit: AuditLog, root_ca: Any
    ) -> None:
        self.store = store
        self.registry = registry
        self.catalog = catalog
        self.audit = audit
        self.root_ca = root_ca
        self.validator = RecordValidator()
        # called with (resource, keys) after a batch is committed, before the publisher is
        # answered (the query cache drops those keys)
        self.listeners: list[Callable[[str, list[str]], None]] = []

    def ingest(self, batch: BatchIn, publisher: str, *, source: str = "http") -> IngestResult:
        definition = self.catalog.resource(batch.resource)
        owner = self.catalog.owner(batch.resource)
        if owner != publisher:
            self.audit.append(
                AuditEvent(
                    actor=publisher,
                    action="publish",
                    outcome="refused",
                    target=batch.resource,
                    code=ErrorCode.NOT_OWNER.value,
                )
            )
            raise Forbidden(
                f"{batch.resource} belongs to another department; a department "
                "publishes only its own registers",
                code=ErrorCode.NOT_OWNER,
            )
        records = [r.model_dump() for r in batch.records]
        seal_problem = self._check_seal(batch, publisher, records)
        batch_id = batch.seal.batch_id or ("bat_" + secrets.token_hex(8))
        if seal_problem is None:
            earlier = self.store.fetchall("SELECT seal FROM batches WHERE batch_id = ?", [batch_id])
            if earlier and json.loads(earlier[0][0]).get("root") != batch.seal.root:
                seal_problem = (
                    f"batch id {batch_id} was already used for other records; "
                    "give every batch its own id"
                )
        if seal_problem is not None:
            checked = _Checked(
                bad=[
                    QuarantinedRecord(
                        index=i,
                        key=r.key,
                        reason_code=ErrorCode.INVALID_SEAL.value,
                        reason=seal_problem,
                    )
                    for i, r in enumerate(batch.records)
                ]
            )
        else:
            checked = self._check_records(definition, batch.records)
        return self._store(
            batch,
            definition,
            publisher,
            batch_id,
            checked,
            records,
            source,
            sealed=seal_problem is None,
        )

    # -- checks ------------------------------------------------
    def _check_seal(
        self, batch: BatchIn, publisher: str, records: list[dict[str, Any]]
    ) -> str | None:
        seal = batch.seal
        if seal.issuer != publisher:
            return f"seal issuer {seal.issuer} is not the publishing department {publisher}"
        if seal.resource != batch.resource:
            return f"seal is for resource {seal.resource}, batch is for {batch.resource}"
        key = self.registry.key(seal.kid, "seal")
        if key is None or key.uscc != publisher or key.certificate is None:
            return f"seal key {seal.kid} is not a registered seal key of {publisher}"
        try:
            sealed_at = datetime.fromisoformat(seal.sealed_at.replace("Z", "+00:00"))
            verify_seal_certificate(key.certificate, self.root_ca, at=sealed_at)
            verify_seal(seal, key.public_key)
        except (SigningError, ValueError) as exc:
            return f"batch seal refused: {exc}"
        if seal.size != len(records):
            return f"seal covers {seal.size} records, batch has {len(records)}"
        for r in records:
            r["resource"] = batch.resource
        from signing.merkle import root_of

        root = root_of([record_leaf(r) for r in records]).hex()
        if root != seal.root:
            return "records do not match the sealed Merkle root (altered in transit?)"
        return None

    def _check_records(self, definition: ResourceDefinition, records: list[RecordIn]) -> _Checked:
        out = _Checked()
        for i, record in enumerate(records):
            reason_code, reason = ErrorCode.INVALID_RECORD.value, None
            key_value = record.data.get(definition.key_field)
            if key_value != record.key:
                reason = f"key {record.key!r} does not match {definition.key_field} {key_value!r}"
            elif len(json.dumps(record.data, ensure_ascii=False)) > MAX_RECORD_BYTES:
                reason_code = ErrorCode.PAYLOAD_TOO_LARGE.value
                reason = f"record is larger than {MAX_RECORD_BYTES} bytes"
            else:
                reason = self.validator.check(definition, record.data)
            if reason is None:
                out.good.append((i, record))
            else:
                out.bad.append(
                    QuarantinedRecord(
                        index=i, key=record.key, reason_code=reason_code, reason=reason
                    )
                )
        return out

    # -- the one transaction ------------------------------------------------
    def _store(
        self,
        batch: BatchIn,
        definition: ResourceDefinition,
        publisher: str,
        batch_id: str,
        checked: _Checked,
        records: list[dict[str, Any]],
        source: str,
        *,
        sealed: bool,
    ) -> IngestResult:
        now = datetime.now(UTC)

        def work(tx: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            duplicates = 0
            seen = (
                sealed
                and tx.execute("SELECT 1 FROM batches WHERE batch_id = ?", [batch_id]).fetchall()
            )
            if seen:  # the whole batch was delivered before (same id, same sealed root)
                return {
                    "duplicates": len(checked.good),
                    "accepted": 0,
                    "replay": True,
                    "audit_detail": {"batch_id": batch_id, "replay": True},
                }
            good = checked.good
            if good:
                probe = pa.table(
                    {
                        "key": [r.key for _, r in good],
                        "version": [r.version for _, r in good],
                        "idx": [i for i, _ in good],
                    }
                )
                tx.register("probe", probe)
                dup_idx = {
                    row[0]
                    for row in tx.execute(
                        "SELECT p.idx FROM probe p JOIN record_history h ON h.resource = ? "
                        "AND h.key = p.key AND h.version = p.version",
                        [batch.resource],
                    ).fetchall()
                }
                tx.unregister("probe")
                unique: dict[tuple[str, int], tuple[int, RecordIn]] = {}
                for i, r in good:
                    if i in dup_idx or (r.key, r.version) in unique:
                        duplicates += 1
                        continue
                    unique[(r.key, r.version)] = (i, r)
                good = list(unique.values())
            if good:
                self._insert_records(tx, definition, batch.resource, publisher, batch_id, good, now)
            if checked.bad:
                self._insert_quarantine(
                    tx, batch.resource, publisher, batch_id, checked.bad, records, source, now
                )
            if not sealed:  # a refused seal claims nothing: its batch id stays free
                return {
                    "duplicates": 0,
                    "accepted": 0,
                    "replay": False,
                    "audit_detail": {
                        "batch_id": batch_id,
                        "seal": "refused",
                        "quarantined": len(checked.bad),
                    },
                }
            leaves = b"".join(record_leaf(r) for r in records)
            tx.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id,
                    batch.resource,
                    publisher,
                    batch.seal.model_dump_json(),
                    len(records),
                    leaves,
                    source,
                    len(good),
                    duplicates,
                    len(checked.bad),
                    now,
                ],
            )
            return {
                "duplicates": duplicates,
                "accepted": len(good),
                "replay": False,
                "audit_detail": {
                    "batch_id": batch_id,
                    "accepted": len(good),
                    "duplicates": duplicates,
                    "quarantined": len(checked.bad),
                },
            }

        outcome = "ok" if not checked.bad else "partial"
        seq, result = self.audit.append(
            AuditEvent(
                actor=publisher,
                action="publish",
                outcome=outcome,
                target=batch.resource,
                detail={"records": len(records), "source": source},
            ),
            work=work,
        )
        if result["accepted"]:
            keys = [r.key for _, r in checked.good]
            for listener in self.listeners:
                listener(batch.resource, keys)
        return IngestResult(
            batch_id=batch_id,
            resource=batch.resource,
            received=len(records),
            accepted=result["accepted"],
            duplicates=result["duplicates"],
            quarantined=checked.bad,
            audit_seq=seq,
        )

    def _insert_records(
        self,
        tx: duckdb.DuckDBPyConnection,
        definition: ResourceDefinition,
        resource: str,
        publisher: str,
        batch_id: str,
        good: list[tuple[int, RecordIn]],
        now: datetime,
    ) -> None:
        n = len(good)
        table = pa.table(
            {
                "resource": [resource] * n,
                "key": [r.key for _, r in good],
                "version": pa.array([r.version for _, r in good], pa.int64()),
                "data": [
                    json.dumps(r.data, ensure_ascii=False, separators=(",", ":")) for _, r in good
                ],
                "batch_id": [batch_id] * n,
                "leaf_index": pa.array([i for i, _ in good], pa.int32()),
                "publisher": [publisher] * n,
                "received_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            }
        )
        tx.register("incoming", table)
        tx.execute("INSERT INTO record_history SELECT * FROM incoming")
        tx.execute(
            "INSERT INTO record_latest "
            "SELECT resource, key, version, data, batch_id, leaf_index, received_at FROM ("
            "  SELECT *, row_number() OVER (PARTITION BY key ORDER BY version DESC) AS rn "
            "  FROM incoming) WHERE rn = 1 "
            "ON CONFLICT (resource, key) DO UPDATE SET version = excluded.version, "
            "data = excluded.data, batch_id = excluded.batch_id, "
            "leaf_index = excluded.leaf_index, updated_at = excluded.updated_at "
            "WHERE excluded.version > record_latest.version"
        )
        tx.unregister("incoming")
        subjects: list[tuple[str, str]] = []
        for _, r in good:
            for name in definition.subject_fields:
                value = r.data.get(name)
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str) and v:
                        subjects.append((v.upper(), r.key))
        if subjects:
            st = pa.table(
                {
                    "resource": [resource] * len(subjects),
                    "subject": [s for s, _ in subjects],
                    "key": [k for _, k in subjects],
                }
            )
            tx.register("incoming_subjects", st)
            tx.execute(
                "INSERT INTO record_subjects SELECT DISTINCT s.* FROM incoming_subjects s "
                "WHERE NOT EXISTS (SELECT 1 FROM record_subjects x WHERE x.resource = s.resource "
                "AND x.subject = s.subject AND x.key = s.key)"
            )
            tx.unregister("incoming_subjects")

    @staticmethod
    def _insert_quarantine(
        tx: duckdb.DuckDBPyConnection,
        resource: str,
        publisher: str,
        batch_id: str,
        bad: list[QuarantinedRecord],
        records: list[dict[str, Any]],
        source: str,
        now: datetime,
    ) -> None:
        n = len(bad)
        table = pa.table(
            {
                "id": ["qua_" + secrets.token_hex(8) for _ in range(n)],
                "received_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
                "resource": [resource] * n,
                "publisher": [publisher] * n,
                "batch_id": [batch_id] * n,
                "record_index": pa.array([q.index for q in bad], pa.int32()),
                "key": [q.key for q in bad],
                "reason_code": [q.reason_code for q in bad],
                "reason": [q.reason for q in bad],
                "payload": [json.dumps(records[q.index], ensure_ascii=False) for q in bad],
                "source": [source] * n,
            }
        )
        tx.register("incoming_quarantine", table)
        tx.execute("INSERT INTO quarantine SELECT * FROM incoming_quarantine")
        tx.unregister("incoming_quarantine")
