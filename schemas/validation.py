"""A record checked against its resource's JSON Schema, with the reason in plain words.

Used on both sides: a connector checks before a row reaches its outbox (so it can name
the *source line*), and the exchange checks again on ingest. Reasons name the field, its
title and what is wrong (a check digit names the expected character).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import fastjsonschema

from schemas.catalog import ResourceDefinition
from schemas.columns import COLUMN_FORMATS
from schemas.errors import SchemaError
from schemas.identifiers import (
    format_checkers,
    validate_id_number,
    validate_region_code,
    validate_uscc,
)

__all__ = ["RecordValidator"]

_IGNORED = frozenset({"title", "description", "examples", "$comment", "default"})
_STRING_RULES = frozenset({"type", "minLength", "maxLength", "pattern", "format", "enum"})
_INTEGER_RULES = frozenset({"type", "minimum", "maximum"})
_TOP_RULES = frozenset({"$schema", "type", "additionalProperties", "required", "properties"})
_DOLLAR = re.compile(r"(?<!\\)\$")  # an unescaped $, which fastjsonschema reads as \Z
_STR_ONLY = frozenset({str})
_INT_ONLY = frozenset({int})
_BOOL_ONLY = frozenset({bool})
ColumnCheck = Callable[[list[Any]], bool]

_EXPLAIN: dict[str, Callable[[str], object]] = {
    "cn-id": validate_id_number,
    "uscc": validate_uscc,
    "region": validate_region_code,
}


class RecordValidator:
    """The compiled schema of one resource; ``check`` returns a reason or None."""

    def __init__(self, definition: ResourceDefinition) -> None:
        self.definition = definition
        formats = format_checkers()
        self._validate: Callable[[Any], Any] = fastjsonschema.compile(
            definition.json_schema, formats=formats
        )
        self._columns = _column_plan(definition.json_schema, formats)
        schema = definition.json_schema
        self._required = frozenset(schema.get("required", []))
        self._known = frozenset(schema.get("properties", {}))
        self._closed = schema.get("additionalProperties") is False

    def check_many(self, records: Sequence[Any]) -> list[str | None]:
        """:meth:`check` of each record, in order; a whole batch at C speed when it passes.

        The batch is first checked column by column (types, lengths, patterns, enums and
        formats of each field over all records; a value seen twice is checked once). That
        check is never more lenient than the schema, so when it passes every record passes;
        otherwise each record is checked on its own, for its exact reason.
        """
        if records and self._columns is not None and self._passes(records):
            return [None] * len(records)
        return [self.check(data) for data in records]

    def _passes(self, records: Sequence[Any]) -> bool:
        if set(map(type, records)) != {dict}:
            return False
        layouts = set(map(tuple, records))
        for names in layouts:
            keys = set(names)
            if not self._required <= keys or (self._closed and not keys <= self._known):
                return False
        columns = self._columns
        assert columns is not None
        if len(layouts) == 1:  # every record has the same fields: transpose in C
            names = next(iter(layouts))
            if len(names) < 2:
                values = {name: [data[name] for data in records] for name in names}
            else:
                rows = map(itemgetter(*names), records)
                values = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))
            return all(columns[name](column) for name, column in values.items() if name in columns)
        return all(
            check([data[name] for data in records if name in data])
            for name, check in columns.items()
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


def _column_plan(
    schema: dict[str, Any], formats: dict[str, Callable[[str], bool]]
) -> dict[str, ColumnCheck] | None:
    """A column check for each property, or None when the schema uses a rule the column
    checks do not cover (the batch is then checked record by record)."""
    if not set(schema) <= _TOP_RULES or schema.get("type") != "object":
        return None
    if schema.get("additionalProperties", True) not in (True, False):
        return None
    plan: dict[str, ColumnCheck] = {}
    for name, rules in schema.get("properties", {}).items():
        check = _column_check(rules, formats)
        if check is None:
            return None
        plan[name] = check
    return plan


def _column_check(
    rules: dict[str, Any], formats: dict[str, Callable[[str], bool]]
) -> ColumnCheck | None:
    kind = rules.get("type")
    used = set(rules) - _IGNORED
    if kind == "string" and used <= _STRING_RULES:
        return _string_check(rules, formats)
    if kind == "integer" and used <= _INTEGER_RULES:
        return _integer_check(rules)
    if kind == "boolean" and used == {"type"}:
        return lambda column: not column or set(map(type, column)) == _BOOL_ONLY
    return None


def _string_check(
    rules: dict[str, Any], formats: dict[str, Callable[[str], bool]]
) -> ColumnCheck | None:
    shortest, longest = rules.get("minLength"), rules.get("maxLength")
    pattern = rules.get("pattern")
    regex = None if pattern is None else re.compile(_DOLLAR.sub(r"\\Z", pattern))
    fmt = rules.get("format")
    checker = None if fmt is None else formats.get(fmt)
    whole = None if fmt is None else COLUMN_FORMATS.get(fmt)  # the column at once (numpy)
    if fmt is not None and checker is None:
        return None  # a format fastjsonschema checks itself
    enum = rules.get("enum")
    if enum is not None and not all(type(v) is str for v in enum):
        return None
    allowed = None if enum is None else frozenset(enum)

    def check(column: list[Any]) -> bool:
        if not column:
            return True
        if set(map(type, column)) != _STR_ONLY:
            return False
        if shortest is not None or longest is not None:
            lengths = list(map(len, column))
            if shortest is not None and min(lengths) < shortest:
                return False
            if longest is not None and max(lengths) > longest:
                return False
        if regex is None and checker is None and allowed is None:
            return True
        distinct = set(column)
        if allowed is not None and not distinct <= allowed:
            return False
        if regex is not None and not all(map(regex.search, distinct)):
            return False
        if checker is None:
            return True
        return whole(distinct) if whole is not None else all(map(checker, distinct))

    return check


def _integer_check(rules: dict[str, Any]) -> ColumnCheck | None:
    low, high = rules.get("minimum"), rules.get("maximum")
    if any(b is not None and type(b) not in (int, float) for b in (low, high)):
        return None

    def check(column: list[Any]) -> bool:
        if not column:
            return True
        if set(map(type, column)) != _INT_ONLY:
            return False
        return (low is None or min(column) >= low) and (high is None or max(column) <= high)

    return check
