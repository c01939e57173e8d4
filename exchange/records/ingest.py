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
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from exchange.audit.log import AuditEvent, AuditLog
from exchange.bus.models import BatchIn, IngestResult, QuarantinedRecord
from exchange.catalog.resources import Catalog
from exchange.departments.registry import KeyState, Registry
from exchange.errors import Forbidden
from exchange.records.batch import PlainBatch, plain
from exchange.records.validation import (
    MAX_RECORD_BYTES,
    RecordValidator,
    data_text,
    texts_if_all_pass,
    too_large,
)
from exchange.store import Store
from schemas.catalog import ResourceDefinition
from schemas.errors import ErrorCode
from signing.ca import verify_seal_certificate
from signing.errors import SigningError
from signing.seal import record_leaves, tree_hash_of, verify_seal

__all__ = ["Ingestor"]


@dataclass
class _Checked:
    """Records that passed (with their data as stored JSON text) and those quarantined."""

    good: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    bad: list[QuarantinedRecord] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the data of ``good[i]`` as JSON text


class Ingestor:
    """Verifies, validates and stores sealed batches."""

    max_seal_ahead = timedelta(minutes=10)  # how far sealed_at may lie ahead of receipt

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

    def ingest(
        self, batch: BatchIn | PlainBatch, publisher: str, *, source: str = "http"
    ) -> IngestResult:
        """Ingest one sealed batch; a :class:`PlainBatch` (bus intake) skips the models."""
        if isinstance(batch, BatchIn):
            batch = plain(batch)
        definition = self.catalog.resource(batch.resource)
        owner = self.catalog.owner(batch.resource)
        if owner != publisher:
            # over HTTP the publisher is the token's department; on a bus it is only the
            # seal's claim, not verified yet: never recorded as the actor
            proven = source == "http"
            self.audit.append(
                AuditEvent(
                    actor=publisher if proven else "unknown",
                    action="publish",
                    outcome="refused",
                    target=batch.resource,
                    code=ErrorCode.NOT_OWNER.value,
                    detail=None if proven else {"source": source, "claimed_issuer": publisher},
                )
            )
            raise Forbidden(
                f"{batch.resource} belongs to another department; a department "
                "publishes only its own registers",
                code=ErrorCode.NOT_OWNER,
            )
        records = batch.records
        seal_problem, leaves = self._check_seal(batch, publisher, records)
        seal_code = ErrorCode.INVALID_SEAL
        if isinstance(seal_problem, tuple):
            seal_code, seal_problem = seal_problem
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
                        key=r["key"],
                        reason_code=seal_code.value,
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
            leaves,
            source,
            sealed=seal_problem is None,
        )

    # -- checks ------------------------------------------------
    def _check_seal(
        self, batch: PlainBatch, publisher: str, records: list[dict[str, Any]]
    ) -> tuple[str | tuple[ErrorCode, str] | None, list[bytes]]:
        """The reason the seal is refused (or None) and the records' Merkle leaves (computed
        once, kept for the ``batches`` row; empty when the check stopped before them). The key
        is judged at receipt (a stored batch's, for a replay), never at ``sealed_at``."""
        seal = batch.seal
        if seal.issuer != publisher:
            return f"seal issuer {seal.issuer} is not the publishing department {publisher}", []
        if seal.resource != batch.resource:
            return f"seal is for resource {seal.resource}, batch is for {batch.resource}", []
        if not self.registry.is_active(publisher):
            return f"department {publisher} is {self.registry.status(publisher).state.value}", []
        key = self.registry.key(seal.kid, "seal")
        if key is None or key.uscc != publisher or key.certificate is None:
            other = [p for p in ("auth", "cert") if self.registry.key(seal.kid, p) is not None]
            if other:
                return (
                    f"key {seal.kid} is a {other[0]} key; only a seal key seals batches "
                    f"({ErrorCode.KEY_PURPOSE.value})",
                    [],
                )
            return f"seal key {seal.kid} is not a registered seal key of {publisher}", []
        received = datetime.now(UTC)
        try:
            sealed_at = datetime.fromisoformat(seal.sealed_at.replace("Z", "+00:00"))
            if sealed_at.tzinfo is None:
                return "batch seal refused: sealed_at needs a time zone", []
            if sealed_at > received + self.max_seal_ahead:
                return (
                    ErrorCode.SEAL_IN_FUTURE,
                    f"batch sealed at {seal.sealed_at}, more than "
                    f"{int(self.max_seal_ahead.total_seconds())} s after its receipt "
                    f"({received.isoformat(timespec='seconds')}); check the connector's clock",
                ), []
            stored = self.store.fetchone(
                "SELECT received_at FROM batches WHERE batch_id = ? AND seal->>'root' = ?",
                [seal.batch_id, seal.root],
            )
            at = stored[0] if stored is not None else received
            verify_seal_certificate(key.certificate, self.root_ca, at=at, purpose="seal")
            verify_seal(seal, key.public_key)
        except (SigningError, ValueError) as exc:
            return f"batch seal refused: {exc}", []
        # a revoked key seals nothing received after its revocation, whatever sealed_at says;
        # a rotated-out key, nothing sealed after its rotation
        made_at = at if key.state is KeyState.REVOKED else sealed_at
        refusal = key.refusal(made_at)
        if refusal is not None:
            return f"batch seal refused: {refusal}", []
        if seal.size != len(records):
            return f"seal covers {seal.size} records, batch has {len(records)}", []
        for r in records:
            r["resource"] = batch.resource
        tree = tree_hash_of(seal)  # SHA-256, or SM3 on a seal that says so
        leaves = record_leaves(records, sorted_is_jcs=batch.sorted_is_jcs, tree=tree)
        if tree.root(leaves).hex() != seal.root:
            return "records do not match the sealed Merkle root (altered in transit?)", leaves
        return None, leaves

    def _check_records(
        self, definition: ResourceDefinition, records: list[dict[str, Any]]
    ) -> _Checked:
        compiled = self.validator.compiled(definition)
        key_field = definition.key_field
        passing = texts_if_all_pass(compiled, key_field, records)  # the usual batch: at once
        if passing is not None:
            return _Checked(good=list(enumerate(records)), texts=passing)
        verdicts: list[tuple[str, str] | None] = []
        texts: list[str | None] = []
        for record in records:
            data = record["data"]
            key_value = data.get(key_field)
            if key_value != record["key"]:
                reason = f"key {record['key']!r} does not match {key_field} {key_value!r}"
                verdicts.append((ErrorCode.INVALID_RECORD.value, reason))
                texts.append(None)
                continue
            text = data_text(data)
            if too_large(data, text):
                reason = f"record is larger than {MAX_RECORD_BYTES} bytes"
                verdicts.append((ErrorCode.PAYLOAD_TOO_LARGE.value, reason))
                texts.append(None)
                continue
            verdicts.append(None)
            texts.append(text)
        # the schema, over the whole batch at once (record by record only if one fails)
        todo = [i for i, v in enumerate(verdicts) if v is None]
        reasons = compiled.check_many([records[i]["data"] for i in todo])
        for i, why in zip(todo, reasons, strict=True):
            if why is not None:
                verdicts[i] = (ErrorCode.INVALID_RECORD.value, why)
        out = _Checked()
        for i, (record, verdict, json_text) in enumerate(
            zip(records, verdicts, texts, strict=True)
        ):
            if verdict is None:
                assert json_text is not None
                out.good.append((i, record))
                out.texts.append(json_text)
            else:
                out.bad.append(
                    QuarantinedRecord(
                        index=i, key=record["key"], reason_code=verdict[0], reason=verdict[1]
                    )
                )
        return out

    # -- the one transaction ------------------------------------------------
    def _store(
        self,
        batch: PlainBatch,
        definition: ResourceDefinition,
        publisher: str,
        batch_id: str,
        checked: _Checked,
        records: list[dict[str, Any]],
        leaves: list[bytes],
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
            accepted = 0
            if checked.good:
                # a (key, version) twice in one batch: the first one counts
                firsts: dict[tuple[str, int], int] = {}
                for n, (_, r) in enumerate(checked.good):
                    firsts.setdefault((r["key"], r["version"]), n)
                rows = list(firsts.values())
                accepted = self._insert_records(
                    tx, definition, batch.resource, publisher, batch_id, checked, rows, now
                )
                duplicates = len(checked.good) - accepted
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
            tx.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id,
                    batch.resource,
                    publisher,
                    batch.seal.model_dump_json(),
                    len(records),
                    b"".join(leaves),
                    source,
                    accepted,
                    duplicates,
                    len(checked.bad),
                    now,
                ],
            )
            # the schema version the records were validated against (migration 12)
            tx.execute(
                "INSERT INTO batch_schemas VALUES (?, ?, ?)",
                [batch_id, batch.resource, definition.version],
            )
            return {
                "duplicates": duplicates,
                "accepted": accepted,
                "replay": False,
                "audit_detail": {
                    "batch_id": batch_id,
                    "accepted": accepted,
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
            keys = [r["key"] for _, r in checked.good]
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
        checked: _Checked,
        rows: list[int],
        now: datetime,
    ) -> int:
        """Insert ``checked.good[k] for k in rows`` (distinct ``(key, version)``); return how
        many were new. Those stored before are left alone (the primary key says which, no
        scan of the history), and only the new ones reach ``record_latest`` and
        ``record_subjects``."""
        good, texts = checked.good, checked.texts
        picked = [good[k] for k in rows]
        keys = [r["key"] for _, r in picked]
        n = len(rows)
        # the columns that vary; the batch's constants go in as parameters
        table = pa.table(
            {
                "key": keys,
                "version": pa.array([r["version"] for _, r in picked], pa.int64()),
                "data": [texts[k] for k in rows],
                "leaf_index": pa.array([i for i, _ in picked], pa.int32()),
            }
        )
        tx.register("incoming", table)
        try:
            inserted = tx.execute(
                "INSERT INTO record_history SELECT ?::VARCHAR, key, version, data, ?::VARCHAR, "
                "leaf_index, ?::VARCHAR, ?::TIMESTAMPTZ FROM incoming "
                "ON CONFLICT DO NOTHING RETURNING leaf_index",
                [resource, batch_id, publisher, now],
            ).fetchall()
        finally:
            tx.unregister("incoming")
        if not inserted:
            return 0
        if len(inserted) < n:  # some were stored before: go on with the new ones only
            new = {int(i) for (i,) in inserted}
            keep = [j for j, (i, _) in enumerate(picked) if i in new]
            picked = [picked[j] for j in keep]
            keys = [keys[j] for j in keep]
            table = table.take(pa.array(keep, pa.int64()))
        if len(set(keys)) < len(keys):
            # record_latest: of several new versions of a key, only the highest one
            top: dict[str, int] = {}
            for j, (_, record) in enumerate(picked):
                key = record["key"]
                held = top.get(key)
                if held is None or picked[held][1]["version"] < record["version"]:
                    top[key] = j
            table = table.take(pa.array(sorted(top.values()), pa.int64()))
        tx.register("incoming_latest", table)
        try:
            tx.execute(
                "INSERT INTO record_latest SELECT ?::VARCHAR, key, version, data, ?::VARCHAR, "
                "leaf_index, ?::TIMESTAMPTZ FROM incoming_latest "
                "ON CONFLICT (resource, key) DO UPDATE SET version = excluded.version, "
                "data = excluded.data, batch_id = excluded.batch_id, "
                "leaf_index = excluded.leaf_index, updated_at = excluded.updated_at "
                "WHERE excluded.version > record_latest.version",
                [resource, batch_id, now],
            )
        finally:
            tx.unregister("incoming_latest")
        subjects: list[tuple[str, str]] = []
        fields = definition.subject_fields
        for _, record in picked:
            data, key = record["data"], record["key"]
            for name in fields:
                value = data.get(name)
                if value.__class__ is str:  # the usual case: one identifier
                    if value:
                        subjects.append((value.upper(), key))
                    continue
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str) and v:
                        subjects.append((v.upper(), key))
        if subjects:
            st = pa.table({"subject": [s for s, _ in subjects], "key": [k for _, k in subjects]})
            tx.register("incoming_subjects", st)
            try:
                tx.execute(
                    # the primary key (migration 7) answers "stored before?" per row
                    "INSERT INTO record_subjects SELECT DISTINCT ?::VARCHAR, subject, key "
                    "FROM incoming_subjects ON CONFLICT DO NOTHING",
                    [resource],
                )
            finally:
                tx.unregister("incoming_subjects")
        return len(inserted)

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
