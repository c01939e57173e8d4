"""Schema versions of a resource (``major.minor``) and the compatibility of an update.

An update is *compatible* when every record valid under the current version is still
valid under the new one and reads the same: its key and subjects (the identifiers the
audit log hashes) are where they were. Compatible updates are a minor step (1.0 → 1.1);
anything else is refused with the field named, unless the operator starts a new major
version (1.1 → 2.0), whose records are read as their own version.

Compatible: a new optional field; a required field made optional; a rule widened (an
enum with more values, a longer ``maxLength``, a lower ``minimum`` …); catalog metadata
(names, description, sensitive fields, sharing type, update cycle).

Incompatible: a field removed; a field retyped (``type``, ``format``, the type of its
items); a new required field, or an optional one made required; a rule narrowed or
changed (a ``pattern``, an enum value removed …); other fields refused where they were
allowed; a changed key field; changed subject fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from schemas.catalog import ResourceDefinition

__all__ = ["SchemaVersion", "compatibility_problems", "differences"]

_VERSION = re.compile(r"^([1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$")
_ANNOTATIONS = frozenset({"title", "description", "examples", "$comment", "default"})
_TYPE_RULES = ("type", "format")
# rule: (is the new value at least as wide as the old one?)
_WIDER_IF_GREATER = frozenset({"maxLength", "maximum", "maxItems"})
_WIDER_IF_SMALLER = frozenset({"minLength", "minimum", "minItems"})


@dataclass(frozen=True, order=True)
class SchemaVersion:
    """A resource schema's version: ``major.minor``."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> SchemaVersion:
        match = _VERSION.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a schema version: use major.minor, e.g. 1.0")
        return cls(int(match.group(1)), int(match.group(2)))

    def next(self, *, major: bool) -> SchemaVersion:
        return (
            SchemaVersion(self.major + 1, 0) if major else SchemaVersion(self.major, self.minor + 1)
        )

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def _props(definition: ResourceDefinition) -> dict[str, dict[str, Any]]:
    props: dict[str, dict[str, Any]] = definition.json_schema.get("properties", {})
    return props


def _rules(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in _ANNOTATIONS}


def _narrowed(rule: str, old: Any, new: Any) -> bool:
    """Whether changing ``rule`` from ``old`` to ``new`` may refuse a value it accepted."""
    if new is None:  # the rule was dropped: wider
        return False
    if old is None:  # a new rule: narrower
        return True
    if rule == "enum" and isinstance(old, list) and isinstance(new, list):
        return not all(v in new for v in old)
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers):
        if rule in _WIDER_IF_GREATER:
            return new < old
        if rule in _WIDER_IF_SMALLER:
            return new > old
    return bool(old != new)


def _field_problems(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_rules, new_rules = _rules(old), _rules(new)
    for rule in _TYPE_RULES:
        if old_rules.get(rule) != new_rules.get(rule):
            return [
                f"field {name} was retyped ({rule} {old_rules.get(rule)!r} → "
                f"{new_rules.get(rule)!r})"
            ]
    old_items, new_items = old_rules.pop("items", None), new_rules.pop("items", None)
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        problems = _field_problems(f"{name}[]", old_items, new_items)
        if problems:
            return problems
    elif old_items != new_items:
        return [f"field {name}: the rules of its items changed"]
    narrowed = sorted(
        rule
        for rule in set(old_rules) | set(new_rules)
        if rule not in _TYPE_RULES and _narrowed(rule, old_rules.get(rule), new_rules.get(rule))
    )
    if narrowed:
        return [f"field {name}: its rules were narrowed or changed ({', '.join(narrowed)})"]
    return []


def compatibility_problems(old: ResourceDefinition, new: ResourceDefinition) -> list[str]:
    """What makes ``new`` an incompatible update of ``old``, each naming its field; [] when
    every record valid under ``old`` stays valid under ``new`` with its key and subjects."""
    problems: list[str] = []
    if new.key_field != old.key_field:
        problems.append(f"key field changed: {old.key_field} → {new.key_field}")
    if list(new.subject_fields) != list(old.subject_fields):
        gone = [f for f in old.subject_fields if f not in new.subject_fields]
        added = [f for f in new.subject_fields if f not in old.subject_fields]
        named = ", ".join([*(f"-{f}" for f in gone), *(f"+{f}" for f in added)]) or "order"
        problems.append(f"subject fields changed ({named})")
    old_props, new_props = _props(old), _props(new)
    old_required = set(old.json_schema.get("required", []))
    new_required = set(new.json_schema.get("required", []))
    for name, spec in old_props.items():
        if name not in new_props:
            problems.append(f"field {name} was removed")
            continue
        problems.extend(_field_problems(name, spec, new_props[name]))
        if name in new_required and name not in old_required:
            problems.append(f"field {name} became required")
    for name in new_props:
        if name not in old_props and name in new_required:
            problems.append(f"new field {name} is required (a new field must be optional)")
    for name in sorted(new_required - set(new_props) - set(old_props)):
        problems.append(f"field {name} is required but not defined")
    if old.json_schema.get("additionalProperties", True) is not False and (
        new.json_schema.get("additionalProperties", True) is False
    ):
        problems.append("fields not in the schema are now refused (additionalProperties)")
    return problems


def differences(old: ResourceDefinition, new: ResourceDefinition) -> list[str]:
    """What an update changes, in a few words per change (for the answer and the audit)."""
    out: list[str] = []
    old_props, new_props = _props(old), _props(new)
    new_required = set(new.json_schema.get("required", []))
    for name in new_props:
        if name not in old_props:
            kind = "required" if name in new_required else "optional"
            out.append(f"new {kind} field {name}")
    out.extend(f"field {name} removed" for name in old_props if name not in new_props)
    out.extend(
        f"field {name} changed"
        for name in old_props
        if name in new_props and old_props[name] != new_props[name]
    )
    if old.json_schema.get("required", []) != new.json_schema.get("required", []):
        out.append("required fields changed")
    ignored = {"json_schema", "version"}
    old_meta = old.model_dump(exclude=ignored)
    new_meta = new.model_dump(exclude=ignored)
    out.extend(f"{key} changed" for key in old_meta if old_meta[key] != new_meta.get(key))
    if not out and old.json_schema != new.json_schema:
        out.append("schema changed")
    return out
