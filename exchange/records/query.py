"""Query: a consumer reads shared records for a purpose and a case, within its grants.

Order of work for one read (DESIGN step 5): authenticate (done by the API), decide
access (sharing type, grant, purpose), fetch, mask, write the ``query`` audit entry
durably — and only then answer. A refused read is audited too.

A record's key is one of its fields (an ID number, a property certificate number). In
an answer by subject, where the reader did not name the keys, a key whose field the
reader may not see in clear is replaced by a *handle*: ``h-`` and 24 characters of an
HMAC of (reader, resource, key) under a per-exchange secret. A handle is stable, so a
reader can tell records apart and cite one from read to read, but it is for display
only: it opens no read. A handle that opened reads would be a second identifier of the
record, to be resolved, authorised and audited on every read path (the route, the fast
path, cases); the answer by subject already carries each record's data and provenance.
A single-record read echoes the key the reader named.

Resources have schema versions (``major.minor``). Every record names the version it was
validated against (``schema_version``) and is answered as stored, whatever version the
reader asks for: a reader names the major version it reads (``version``, default the
latest), which must exist, and compares it with each record's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import replace
from typing import Any

import anyio.to_thread
from pydantic import Field

from exchange.audit.log import AuditEvent, AuditLog
from exchange.catalog.grants import Grants
from exchange.catalog.masking import AccessDecision, apply_mask
from exchange.errors import ExchangeError, InvalidRequest, NotFound
from exchange.records.cache import CachedRecord, RecordCache
from exchange.store import Store
from schemas.base import StrictModel
from schemas.catalog import ResourceDefinition
from schemas.errors import ErrorCode

__all__ = [
    "CASE_PATTERN",
    "Provenance",
    "Reader",
    "RecordPublic",
    "RecordsPublic",
    "subject_values",
]

CASE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"
_CASE = re.compile(CASE_PATTERN)


class Provenance(StrictModel):
    """Where a record came from: the provider's batch seal and the record's leaf index."""

    batch_id: str
    leaf_index: int
    seal: dict[str, Any]


class RecordPublic(StrictModel):
    resource: str
    key: str
    version: int
    data: dict[str, Any]
    masked_fields: list[str]
    schema_version: str = Field(
        default="1.0",
        description="the resource schema version the record was validated against; a record "
        "of another major version than the one read is answered as stored",
    )
    provenance: Provenance | None = None
    audit_seq: int = Field(description="sequence number of the audit entry of this read")


class RecordsPublic(StrictModel):
    data: list[RecordPublic]
    count: int


_BY_KEYS = (
    "SELECT resource, key, version, data, batch_id, leaf_index FROM record_latest WHERE key IN"
)


def subject_values(definition: ResourceDefinition, data: dict[str, Any]) -> list[str]:
    """Every identifier in a record's subject fields: each field, each element of a list."""
    out: list[str] = []
    for name in definition.subject_fields:
        value = data.get(name)
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, str) and item.strip():
                out.append(item)
    return out


class Reader:
    def __init__(
        self,
        store: Store,
        grants: Grants,
        audit: AuditLog,
        cache: RecordCache | None = None,
        *,
        handle_key: bytes,
    ) -> None:
        self.store = store
        self._handle_key = handle_key
        self.cache = cache or RecordCache(store)
        self.grants = grants
        self.catalog = grants.catalog
        self.audit = audit

    @staticmethod
    def check_purpose(purpose: str, case_no: str) -> None:
        if not purpose.strip():
            raise InvalidRequest(
                "a purpose (事项 or reason) is required for every read",
                code=ErrorCode.PURPOSE_REQUIRED,
            )
        if not _CASE.match(case_no):
            raise InvalidRequest(
                "a case number (办件编号) is required: letters, digits and ._:/-",
                code=ErrorCode.PURPOSE_REQUIRED,
            )

    def _start(
        self,
        consumer: str,
        resource: str,
        purpose: str,
        case_no: str,
        version: int | None,
        *,
        key: str | None = None,
        subject: str | None = None,
    ) -> tuple[ResourceDefinition, AuditEvent, AccessDecision | ExchangeError]:
        """Check the request and decide access; a refusal comes back to be audited.

        A read by ``key`` (action ``query``) is about the key when the key field is a
        subject field; a read by ``subject`` (action ``query.subject``) is about it.
        """
        self.check_purpose(purpose, case_no)
        definition = self.catalog.resource(resource, version)
        if key is not None and definition.key_field in definition.subject_fields:
            subject = key
        event = AuditEvent(
            actor=consumer,
            action="query" if key is not None else "query.subject",
            outcome="allowed",
            target=resource,
            subject=subject,
            purpose=purpose,
            case_no=case_no,
        )
        try:
            return definition, event, self.grants.decide_access(consumer, resource, purpose)
        except ExchangeError as exc:
            event.outcome, event.code = "refused", exc.code.value
            return definition, event, exc

    def _as_stored(self, decision: AccessDecision, schema_version: str) -> AccessDecision:
        """The decision with the definition of the record's own version (its fields' formats
        for masking); the fields in clear stay the decision's."""
        if schema_version == decision.resource.version:
            return decision
        stored = self.catalog.definition_at(decision.resource.code, schema_version)
        return replace(decision, resource=stored)

    def _answer(
        self,
        definition: ResourceDefinition,
        event: AuditEvent,
        decision: AccessDecision,
        key: str,
        found: CachedRecord | None,
    ) -> RecordPublic | NotFound:
        """The masked answer (its audit_seq still to set), or the not-found refusal."""
        if found is None:
            event.outcome, event.code = "not_found", ErrorCode.NOT_FOUND.value
            return NotFound(f"no record {key!r} in {definition.code}")
        stored = self._as_stored(decision, found.schema_version)
        data, masked = apply_mask(found.data, stored)
        # every identifier in the subject fields of the record's own version
        event.subjects = subject_values(stored.resource, found.data)
        if masked or decision.grant_id:
            event.detail = {"grant": decision.grant_id, "masked": masked}
        return RecordPublic.model_construct(
            resource=definition.code,
            key=key,
            version=found.version,
            data=data,
            masked_fields=masked,
            schema_version=found.schema_version,
            provenance=Provenance.model_construct(
                batch_id=found.batch_id, leaf_index=found.leaf_index, seal=found.seal
            )
            if found.seal is not None
            else None,
            audit_seq=-1,
        )

    def read(
        self,
        consumer: str,
        resource: str,
        key: str,
        *,
        purpose: str,
        case_no: str,
        version: int | None = None,
    ) -> RecordPublic:
        definition, event, decision = self._start(
            consumer, resource, purpose, case_no, version, key=key
        )
        if isinstance(decision, ExchangeError):
            self.audit.append(event)
            raise decision
        answer = self._answer(definition, event, decision, key, self.cache.get(resource, key))
        seq, _ = self.audit.append(event)
        if isinstance(answer, NotFound):
            raise answer
        answer.audit_seq = seq
        return answer

    async def read_async(
        self,
        consumer: str,
        resource: str,
        key: str,
        *,
        purpose: str,
        case_no: str,
        version: int | None = None,
    ) -> RecordPublic:
        """:meth:`read` on the event loop: no worker thread waits for the audit commit.

        Work that may touch DuckDB (a record not in the cache, a subject met for the first
        time) still runs in a worker thread, so the loop never blocks on the database.
        """
        definition, event, decision = self._start(
            consumer, resource, purpose, case_no, version, key=key
        )
        if isinstance(decision, ExchangeError):
            await anyio.to_thread.run_sync(self.audit.append, event)
            raise decision
        found = self.cache.peek(resource, key)
        if found is None:
            found = await anyio.to_thread.run_sync(self.cache.get, resource, key)
        answer = self._answer(definition, event, decision, key, found)
        knows = self.audit.knows_subject
        if not all(knows(s) for s in (event.subject, *event.subjects) if s is not None):
            seq, _ = await anyio.to_thread.run_sync(self.audit.append, event)
        else:
            seq = await self.audit.append_async(event)
        if isinstance(answer, NotFound):
            raise answer
        answer.audit_seq = seq
        return answer

    def handle(self, consumer: str, resource: str, key: str) -> str:
        """The display handle of a record's key for one reader (see the module docstring)."""
        message = "\x1f".join((consumer, resource, key)).encode()
        digest = hmac.new(self._handle_key, message, hashlib.sha256).digest()
        return "h-" + base64.b32encode(digest[:15]).decode().lower()

    def by_subject(
        self,
        consumer: str,
        resource: str,
        subject: str,
        *,
        purpose: str,
        case_no: str,
        limit: int = 50,
        version: int | None = None,
    ) -> RecordsPublic:
        """Every current record of a resource about one person or company."""
        definition, event, decision = self._start(
            consumer, resource, purpose, case_no, version, subject=subject
        )
        if isinstance(decision, ExchangeError):
            self.audit.append(event)
            raise decision
        rows = self._subject_rows(resource, subject.strip().upper(), limit)
        event.detail = {"count": len(rows), "grant": decision.grant_id}
        records = [json.loads(row[2]) for row in rows]
        # every record answered is about the subject asked for, and also about everyone
        # else its subject fields name (a co-owner, the other party): each is a subject
        event.subjects = [s for data in records for s in subject_values(definition, data)]
        seq, _ = self.audit.append(event)
        out = []
        key_clear = decision.key_in_clear()
        for (key, record_version, _, batch_id, leaf_index, seal), record in zip(
            rows, records, strict=True
        ):
            stored = self.cache.schema_version(batch_id)
            data, masked = apply_mask(record, self._as_stored(decision, stored))
            out.append(
                RecordPublic(
                    resource=resource,
                    key=key if key_clear else self.handle(consumer, resource, key),
                    version=record_version,
                    data=data,
                    masked_fields=masked,
                    schema_version=stored,
                    provenance=Provenance(batch_id=batch_id, leaf_index=leaf_index, seal=seal)
                    if seal
                    else None,
                    audit_seq=seq,
                )
            )
        return RecordsPublic(data=out, count=len(out))

    def _subject_rows(
        self, resource: str, subject: str, limit: int
    ) -> list[tuple[str, int, str, str, int, dict[str, Any] | None]]:
        """(key, version, data, batch id, leaf index, seal) of ``subject``'s current records.

        Each step filters on one indexed column (DuckDB scans the table otherwise): the
        subject's keys, then those records by key; the resource is matched here."""
        cur = self.store.cursor()
        found = cur.execute(
            "SELECT resource, key FROM record_subjects WHERE subject = ?", [subject]
        ).fetchall()
        keys = sorted({str(k) for r, k in found if r == resource})[:limit]
        if not keys:
            return []
        marks = ",".join("?" * len(keys))  # placeholders only: the keys travel as parameters
        rows = cur.execute(f"{_BY_KEYS} ({marks})", keys).fetchall()
        out = [
            (str(k), int(v), str(d), str(b), int(i), self.cache.seal(str(b)))
            for r, k, v, d, b, i in rows
            if r == resource
        ]
        return sorted(out, key=lambda row: row[0])
