"""A record checked against its resource's JSON Schema, with the reason in plain words.

Used on both sides: a connector checks before a row reaches its outbox (so it can name
the *source line*), and the exchange checks again on ingest. Reasons name the field, its
title and what is wrong (a check digit names the expected character).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema

from .catalog import ResourceDefinition
from .errors import SchemaError
from .identifiers import (
    format_checkers,
    validate_id_number,
    validate_region_code,
    validate_uscc,
)

__all__ = ["RecordValidator"]

_EXPLAIN: dict[str, Callable[[str], object]] = {
    "cn-id": validate_id_number,
    "uscc": validate_uscc,
    "region": validate_region_code,
}


class RecordValidator:
    """The compiled schema of one resource; ``check`` returns a reason or None."""

    def __init__(self, definition: ResourceDefinition) -> None:
        self.definition = definition
        self._validate: Callable[[Any], Any] = fastjsonschema.compile(
            definition.json_schema, formats=format_checkers()
        )

    def check(self, data: dict[str, Any]) -> str | None:
        try:
            self._validate(data)
        except fastjsonschema.JsonSchemaValueException as exc:
            return self._plain(exc)
        return None

    def _plain(self, exc: fastjsonschema.JsonSchemaValueException) -> str:
        definition = self.definition
        path = ".".join(str(p) for p in (exc.path or [])[1:]) or "record"
        props = definition.json_schema.get("properties", {})
        title = props.get(path.split(".")[0], {}).get("title")
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
        if exc.rule == "enum":
            allowed = ", ".join(str(v) for v in exc.definition.get("enum", []))
            return f"{where}: {exc.value!r} is not one of {allowed}"
        if exc.rule == "pattern":
            return f"{where}: {exc.value!r} does not have the required form"
        return f"{where}: {message}"
