"""Record validation on ingest: one compiled schema per resource version, kept for the process."""

from __future__ import annotations

import json
import threading
from typing import Any

import orjson

from schemas.catalog import ResourceDefinition
from schemas.validation import RecordValidator as CompiledSchema

__all__ = ["MAX_RECORD_BYTES", "RecordValidator", "data_text", "texts_if_all_pass", "too_large"]

MAX_RECORD_BYTES = 64 * 1024


class RecordValidator:
    """Checks record data of any resource; returns a plain-words reason or None."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str], CompiledSchema] = {}  # by (code, version)
        self._lock = threading.Lock()

    def check(self, definition: ResourceDefinition, data: Any) -> str | None:
        return self.compiled(definition).check(data)

    def compiled(self, definition: ResourceDefinition) -> CompiledSchema:
        """The compiled schema of ``definition`` (compiled once), to check many records."""
        name = (definition.code, definition.version)
        compiled = self._compiled.get(name)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(name, CompiledSchema(definition))
        return compiled


def data_text(data: dict[str, Any]) -> str:
    """Record data as the JSON text stored in DuckDB (compact, keys in their given order)."""
    try:
        return orjson.dumps(data).decode()
    except orjson.JSONEncodeError:  # e.g. a lone surrogate, which only json writes
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def too_large(data: dict[str, Any], text: str) -> bool:
    """Whether ``json.dumps(data, ensure_ascii=False)`` is longer than MAX_RECORD_BYTES.

    That form differs from the compact ``text`` by one space after each separator (and a
    float's spelling), so it is never more than twice as long: only a record near the limit
    is measured exactly.
    """
    if 2 * len(text) <= MAX_RECORD_BYTES:
        return False
    return len(json.dumps(data, ensure_ascii=False)) > MAX_RECORD_BYTES


def texts_if_all_pass(
    compiled: CompiledSchema, key_field: str, records: list[dict[str, Any]]
) -> list[str] | None:
    """Each record's :func:`data_text` when every record of the batch passes — its key is
    its key field's value, it is far below the size limit, the schema takes it (checked as
    columns) — or None: the records are then checked one by one, for their reasons."""
    datas = [r["data"] for r in records]
    if [d.get(key_field) for d in datas] != [r["key"] for r in records]:
        return None
    try:
        texts = [t.decode() for t in map(orjson.dumps, datas)]
    except orjson.JSONEncodeError:
        return None
    if 2 * max(map(len, texts), default=0) > MAX_RECORD_BYTES:
        return None
    return texts if not any(compiled.check_many(datas)) else None
