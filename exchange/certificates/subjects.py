"""Who a certificate is about, for the audit log: the holder and every other person or
company its subject names (the spouse on a marriage certificate, both parents on a birth
certificate, the seller on a contract filing). A read or lookup of a certificate is an
entry about each of them (RELIABILITY D5)."""

from __future__ import annotations

from typing import Any

from schemas.certificates import certificate_type

__all__ = ["IDENTIFIER_FORMATS", "certificate_subjects"]

IDENTIFIER_FORMATS = frozenset({"cn-id", "uscc"})


def certificate_subjects(type_code: str, holder_code: str, credential: dict[str, Any]) -> list[str]:
    """The holder's code, then every identifier in the credential subject's fields."""
    properties: dict[str, Any] = certificate_type(type_code).json_schema.get("properties", {})
    subject = credential.get("credentialSubject") or {}
    out = [holder_code]
    for name, spec in properties.items():
        item = spec.get("items", {}) if spec.get("type") == "array" else spec
        if item.get("format") not in IDENTIFIER_FORMATS:
            continue
        value = subject.get(name)
        for found in value if isinstance(value, list) else (value,):
            if isinstance(found, str) and found.strip():
                out.append(found)
    return out
