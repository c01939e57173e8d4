"""A bounded cache of current records in front of DuckDB, kept correct under ingest.

DuckDB's per-query floor (~0.25 ms) and point lookups (~1 ms) cannot carry thousands of
reads per second; most reads in a case hit a small working set. The cache holds the
latest version of recently read records and the batch seals they point to.

Correctness: ingest calls :meth:`RecordCache.invalidate` after its transaction commits
and before the publisher is answered, so a read that starts after a publish was
acknowledged never sees an older value. A generation counter stops a read that raced
with an ingest from putting a stale row back.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exchange.store import Store

__all__ = ["CachedRecord", "RecordCache"]


@dataclass(frozen=True)
class CachedRecord:
    version: int
    data: dict[str, Any]
    batch_id: str
    leaf_index: int
    seal: dict[str, Any] | None
    schema_version: str = "1.0"  # the resource version the record was validated against


class RecordCache:
    def __init__(
        self, store: Store, *, max_records: int = 200_000, max_seals: int = 20_000
    ) -> None:
        self.store = store
        self.max_records = max_records
        self.max_seals = max_seals
        self._records: OrderedDict[tuple[str, str], CachedRecord] = OrderedDict()
        self._seals: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        self._schema_versions: OrderedDict[str, str] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def peek(self, resource: str, key: str) -> CachedRecord | None:
        """The cached record, or None without touching the database."""
        with self._lock:
            found = self._records.get((resource, key))
            if found is not None:
                self._records.move_to_end((resource, key))
                self.hits += 1
            return found

    def get(self, resource: str, key: str) -> CachedRecord | None:
        cache_key = (resource, key)
        with self._lock:
            found = self._records.get(cache_key)
            if found is not None:
                self._records.move_to_end(cache_key)
                self.hits += 1
                return found
            generation = self._generation
            self.misses += 1
        # by key alone: DuckDB uses the key index only for a one-column filter (migration 6)
        rows = (
            self.store.cursor()
            .execute(
                "SELECT resource, version, data, batch_id, leaf_index FROM record_latest "
                "WHERE key = ?",
                [key],
            )
            .fetchall()
        )
        row = next((r for r in rows if r[0] == resource), None)
        if row is None:
            return None
        batch_id = str(row[3])
        record = CachedRecord(
            int(row[1]),
            json.loads(row[2]),
            batch_id,
            int(row[4]),
            self.seal(batch_id),
            self.schema_version(batch_id),
        )
        with self._lock:
            if generation == self._generation:
                self._records[cache_key] = record
                if len(self._records) > self.max_records:
                    self._records.popitem(last=False)
        return record

    def seal(self, batch_id: str) -> dict[str, Any] | None:
        """The batch seal of ``batch_id`` (kept: seals never change once stored)."""
        with self._lock:
            if batch_id in self._seals:
                return self._seals[batch_id]
        row = (
            self.store.cursor()
            .execute("SELECT seal FROM batches WHERE batch_id = ?", [batch_id])
            .fetchone()
        )
        seal = json.loads(row[0]) if row is not None else None
        with self._lock:  # seals never change once stored
            self._seals[batch_id] = seal
            if len(self._seals) > self.max_seals:
                self._seals.popitem(last=False)
        return seal

    def schema_version(self, batch_id: str) -> str:
        """The schema version a batch was validated against (1.0 for batches stored before
        resources had versions); kept like the seals, as it never changes."""
        with self._lock:
            held = self._schema_versions.get(batch_id)
            if held is not None:
                return held
        row = (
            self.store.cursor()
            .execute("SELECT schema_version FROM batch_schemas WHERE batch_id = ?", [batch_id])
            .fetchone()
        )
        version = "1.0" if row is None else str(row[0])
        with self._lock:
            self._schema_versions[batch_id] = version
            if len(self._schema_versions) > self.max_seals:
                self._schema_versions.popitem(last=False)
        return version

    def invalidate(self, resource: str, keys: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for key in keys:
                self._records.pop((resource, key), None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._records.clear()
