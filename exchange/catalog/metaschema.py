"""The resource meta-schema: what a resource definition must be before the catalog takes it.

The shape of every packaged definition in ``schemas/resources``, checked here for the
definitions an operator adds or updates on a running exchange:

- the catalog entry (:class:`~schemas.catalog.ResourceDefinition`: code, catalog number,
  names, owner, sharing type, key and subject fields, update cycle, schema);
- the code is ``<owner>.<name>``;
- the schema is a JSON Schema (draft 2020-12) of an object that refuses fields it does not
  define, every field typed (string, integer, boolean, or an array of one of those) and
  titled, its required fields defined;
- the key field is required; subject and sensitive fields are defined; a subject field
  holds an identifier (``cn-id`` or ``uscc``, or a list of them), as the audit log
  hashes it;
- the schema compiles (:class:`~schemas.validation.RecordValidator`).

:func:`parse_definition` turns raw JSON into a checked definition or raises
:class:`~exchange.errors.InvalidRequest` with one line that names the first problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from exchange.errors import InvalidRequest
from schemas.catalog import ResourceDefinition
from schemas.errors import ErrorCode
from schemas.validation import RecordValidator

__all__ = ["DRAFT_2020_12", "check_definition", "parse_definition"]

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_FIELD_TYPES = frozenset({"string", "integer", "boolean", "array"})
_IDENTIFIER_FORMATS = frozenset({"cn-id", "uscc"})


def _invalid(problem: str) -> InvalidRequest:
    return InvalidRequest(
        f"the resource definition does not fit the meta-schema: {problem}",
        code=ErrorCode.INVALID_DEFINITION,
    )


def parse_definition(raw: Mapping[str, Any] | ResourceDefinition) -> ResourceDefinition:
    """A checked definition from raw JSON (or a model), else one clear InvalidRequest."""
    if isinstance(raw, ResourceDefinition):
        definition = raw
    else:
        if not isinstance(raw, Mapping):
            raise _invalid("a definition is a JSON object")
        try:
            definition = ResourceDefinition.model_validate(dict(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "definition"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise _invalid(f"{where}: {first['msg']}{more}") from None
    check_definition(definition)
    return definition


def check_definition(definition: ResourceDefinition) -> None:
    """Raise InvalidRequest naming the first rule of the meta-schema ``definition`` breaks."""
    code, schema = definition.code, definition.json_schema
    if code.split(".")[0] != definition.owner:
        raise _invalid(f"code {code} must start with its owner's code ({definition.owner}.)")
    if schema.get("$schema") != DRAFT_2020_12:
        raise _invalid(f"schema.$schema must be {DRAFT_2020_12}")
    if schema.get("type") != "object":
        raise _invalid("schema.type must be object")
    if schema.get("additionalProperties") is not False:
        raise _invalid("schema.additionalProperties must be false (unknown fields are refused)")
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise _invalid("schema.properties must define the record's fields")
    for name, spec in props.items():
        if not isinstance(spec, dict):
            raise _invalid(f"field {name}: its schema must be an object")
        if spec.get("type") not in _FIELD_TYPES:
            raise _invalid(f"field {name}: type must be one of {', '.join(sorted(_FIELD_TYPES))}")
        if not isinstance(spec.get("title"), str) or not spec["title"].strip():
            raise _invalid(f"field {name}: a title (信息项名称) is required")
        items = spec.get("items")
        if spec["type"] == "array" and (
            not isinstance(items, dict) or items.get("type") not in _FIELD_TYPES - {"array"}
        ):
            raise _invalid(f"field {name}: a list needs items of type string, integer or boolean")
        if spec["type"] != "array" and items is not None:
            raise _invalid(f"field {name}: only a list (type array) has items")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise _invalid("schema.required must be a list of field names")
    for name in required:
        if name not in props:
            raise _invalid(f"required field {name} is not defined in schema.properties")
    if definition.key_field not in required:
        raise _invalid(f"key field {definition.key_field} must be a required field")
    if not definition.subject_fields:
        raise _invalid("subject_fields must name the field(s) holding the ID number or USCC")
    for name in definition.subject_fields:
        spec = props.get(name)
        if spec is None:
            raise _invalid(f"subject field {name} is not defined in schema.properties")
        item = spec.get("items", {}) if spec.get("type") == "array" else spec
        if not isinstance(item, dict) or item.get("format") not in _IDENTIFIER_FORMATS:
            raise _invalid(f"subject field {name} must have format cn-id or uscc")
    for name in definition.sensitive_fields:
        if name not in props:
            raise _invalid(f"sensitive field {name} is not defined in schema.properties")
    try:
        RecordValidator(definition)
    except Exception as exc:  # whatever fails to compile is bad input, not a server error
        raise _invalid(f"the schema does not compile: {exc}") from exc
