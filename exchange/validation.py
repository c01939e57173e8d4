"""Record validation against a resource's JSON Schema (compiled once per resource)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import fastjsonschema

from schemas.catalog import ResourceDefinition
from schemas.errors import SchemaError
from schemas.identifiers import (
    format_checkers,
    validate_id_number,
    validate_region_code,
    validate_uscc,
)

__all__ = ["MAX_RECORD_BYTES", "RecordValidator"]

_EXPLAIN: dict[str, Callable[[str], object]] = {
    "cn-id": validate_id_number,
    "uscc": validate_uscc,
    "region": validate_region_code,
}

MAX_RECORD_BYTES = 64 * 1024


class RecordValidator:
    """Validates record data; returns a plain-words reason or None."""

    def __init__(self) -> None:
        self._compiled: dict[str, Callable[[Any], Any]] = {}
        self._lock = threading.Lock()
        self._formats = format_checkers()

    def _validator(self, definition: ResourceDefinition) -> Callable[[Any], Any]:
        fn = self._compiled.get(definition.code)
        if fn is None:
            with self._lock:
                fn = fastjsonschema.compile(definition.json_schema, formats=self._formats)
                self._compiled[definition.code] = fn
        return fn

    def check(self, definition: ResourceDefinition, data: Any) -> str | None:
        try:
            self._validator(definition)(data)
        except fastjsonschema.JsonSchemaValueException as exc:
            return _plain(exc, definition)
        return None


def _plain(exc: fastjsonschema.JsonSchemaValueException, definition: ResourceDefinition) -> str:
    path = ".".join(str(p) for p in (exc.path or [])[1:]) or "record"
    title = definition.json_schema.get("properties", {}).get(path.split(".")[0], {}).get("title")
    where = f"{path} ({title})" if title else path
    message = exc.message.replace("data.", "").replace("data ", "record ")
    if exc.rule == "format":
        fmt = str(exc.definition.get("format"))
        explain = _EXPLAIN.get(fmt)
        if explain is not None and isinstance(exc.value, str):
            try:
                explain(exc.value)
            except SchemaError as why:
                return f"{where}: {why.message}"
        return f"{where}: {exc.value!r} is not a valid {fmt}"
    if exc.rule == "required":
        return f"record is missing required field(s): {message.split('must contain ')[-1]}"
    if exc.rule == "additionalProperties":
        return f"record has fields not in {definition.code}: {message}"
    return f"{where}: {message}"
