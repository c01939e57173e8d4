"""Record validation on ingest: one compiled schema per resource version, kept for the process."""

from __future__ import annotations

import threading
from typing import Any

from schemas.catalog import ResourceDefinition
from schemas.validation import RecordValidator as CompiledSchema

__all__ = ["MAX_RECORD_BYTES", "RecordValidator"]

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
