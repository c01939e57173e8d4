"""The canonical (JCS) bytes of a certificate, from a per-type template.

Every certificate of one type by one issuer shares most of its document: contexts, type,
name, issuer, schema and most of its metadata. :class:`Template` canonicalizes that shared
document once, with a marker string where each varying value goes, and cuts the bytes at
the markers; a certificate's canonical bytes are then the pieces joined with the canonical
bytes of its own values. RFC 8785 serializes an object member's value on its own (members
sorted by key, no whitespace), so the joined bytes are exactly ``canonicalize`` of the whole
document. A marker found more than once makes the constructor refuse (``ValueError``), and
the caller canonicalizes each document instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signing.canonical import canonicalize

__all__ = ["SLOTS", "Template"]

SLOTS = (
    "id",
    "validFrom",
    "validUntil",
    "credentialSubject",
    "holder_name",
    "holder_code",
    "issue_date",
    "valid_from",
    "valid_until",
    "credentialStatus",
)
"""The varying values of a certificate, by the name of the member that holds each."""


def marker(slot: str) -> str:
    """The string standing in for ``slot`` in a template document."""
    return f"\u2063govex-slot:{slot}\u2063"


class Template:
    """The canonical bytes of a document with marked slots, cut at the markers."""

    __slots__ = ("_order", "_pieces")

    def __init__(self, document: Mapping[str, Any]) -> None:
        text = canonicalize(document)
        found: list[tuple[int, str, bytes]] = []
        for slot in SLOTS:
            quoted = b'"' + marker(slot).encode("utf-8") + b'"'
            at = text.find(quoted)
            if at < 0:
                continue
            if text.count(quoted) != 1:
                raise ValueError(f"slot {slot} is marked more than once")
            found.append((at, slot, quoted))
        found.sort()
        pieces: list[bytes] = []
        start = 0
        for at, _, quoted in found:
            pieces.append(text[start:at])
            start = at + len(quoted)
        pieces.append(text[start:])
        self._pieces = tuple(pieces)
        self._order = tuple(slot for _, slot, _ in found)

    @property
    def slots(self) -> tuple[str, ...]:
        """The slots this template has, in the order their values appear."""
        return self._order

    def build(self, values: Mapping[str, bytes]) -> bytes:
        """The canonical bytes with each slot's (canonical) value in place."""
        pieces = self._pieces
        out = [pieces[0]]
        for i, slot in enumerate(self._order, start=1):
            out.append(values[slot])
            out.append(pieces[i])
        return b"".join(out)
