"""Masking (个人信息保护法 第6条): what a reader sees of the fields it may not read in clear.

A masked value keeps its shape and hides its content. An identifier keeps at most its
region, never a part that another field could complete: an ID number's birth-date digits
are the record's ``birth_date`` and its serial's parity is ``sex``, so a mask that kept
region and serial (``411503********7596``) was undone by a grant on ``birth_date``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.catalog import ResourceDefinition

__all__ = ["AccessDecision", "apply_mask", "mask_identifier", "mask_value"]


@dataclass(frozen=True)
class AccessDecision:
    """What a consumer may see of a resource for one purpose."""

    resource: ResourceDefinition
    owner: bool
    clear_fields: frozenset[str]
    grant_id: str | None

    def key_in_clear(self) -> bool:
        """Whether the reader may see the resource's key field in clear."""
        return self.owner or self.resource.key_field in self.clear_fields


def mask_identifier(value: str, fmt: str = "cn-id") -> str:
    """An ID number (公民身份号码, ``cn-id``) or USCC (统一社会信用代码, ``uscc``), region only.

    ``411503198012147596`` → ``411503************``; a USCC keeps its registration
    authority, entity type and region (its first 8 characters). A value of any other
    length is masked whole.
    """
    keep = 8 if fmt == "uscc" else 6
    if len(value) != 18:
        return "*" * min(max(len(value), 2), 18)
    return value[:keep] + "*" * (18 - keep)


def _format(field: str, definition: ResourceDefinition) -> str | None:
    spec = definition.json_schema.get("properties", {}).get(field, {})
    fmt = spec.get("format") or (spec.get("items") or {}).get("format")
    return str(fmt) if fmt else None


def mask_value(field: str, value: Any, definition: ResourceDefinition) -> Any:
    """Mask one value: keep the shape, hide the content."""
    if isinstance(value, list):
        return [mask_value(field, v, definition) for v in value]
    if not isinstance(value, str):
        return None
    fmt = _format(field, definition)
    if fmt in ("cn-id", "uscc"):
        return mask_identifier(value, fmt)
    if field.endswith("name") and value:
        return value[0] + "*" * max(1, len(value) - 1)
    return "*" * min(max(len(value), 2), 8)


def apply_mask(data: dict[str, Any], decision: AccessDecision) -> tuple[dict[str, Any], list[str]]:
    """``data`` with every field outside the decision's clear fields masked, and their names."""
    if decision.owner:
        return data, []
    out: dict[str, Any] = {}
    masked: list[str] = []
    for field, value in data.items():
        if field in decision.clear_fields:
            out[field] = value
        else:
            out[field] = mask_value(field, value, decision.resource)
            masked.append(field)
    return out, masked
