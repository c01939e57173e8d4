"""The quarantine: what ingest refused, and why (nothing is dropped silently).

A quarantined row names its record's key and, in its reason, often the identifier that
failed (an ID number with its expected check character: the corrected number). The
publishing department sees its rows as they are; everyone else (the operator, through
the API or ``govex connector quarantine``) sees keys and identifiers masked to at most
their region.
"""

from __future__ import annotations

import re
from datetime import datetime

from exchange.catalog.masking import mask_identifier
from exchange.store import Store
from schemas.base import StrictModel

__all__ = ["QuarantinePublic", "list_quarantine", "mask_identifiers_in"]

# an ID number, a USCC or a near miss (one character short or long): 15-20 letters and
# digits, not inside a longer word
_IDENTIFIER = re.compile(
    r"(?<![0-9A-Za-z])(?=[0-9A-Za-z]*[0-9]{6})[0-9A-Za-z]{15,20}(?![0-9A-Za-z])"
)


class QuarantinePublic(StrictModel):
    id: str
    received_at: datetime
    resource: str | None
    publisher: str | None
    batch_id: str | None
    record_index: int | None
    key: str | None
    reason_code: str
    reason: str
    source: str


def mask_identifiers_in(text: str) -> str:
    """``text`` with every identifier-like run of characters masked to its region."""
    return _IDENTIFIER.sub(lambda m: m.group(0)[:6] + "*" * (len(m.group(0)) - 6), text)


def _mask_key(key: str | None) -> str | None:
    if key is None:
        return None
    if len(key) == 18:
        return mask_identifier(key, "cn-id" if key[:6].isdigit() else "uscc")
    return "*" * min(max(len(key), 2), 8)


def list_quarantine(
    store: Store,
    viewer: str | None,
    *,
    everyone: bool,
    resource: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[QuarantinePublic]:
    """Quarantined rows, oldest first: all of them when ``everyone`` (the operator), else
    those ``viewer`` published. Rows of other publishers than ``viewer`` come masked."""
    rows = store.fetchall(
        "SELECT id, received_at, resource, publisher, batch_id, record_index, key, reason_code, "
        "reason, source FROM quarantine WHERE (? OR publisher = ?) AND (? IS NULL OR resource = ?) "
        "ORDER BY received_at, record_index LIMIT ? OFFSET ?",
        [everyone, viewer, resource, resource, limit, offset],
    )
    cols = list(QuarantinePublic.model_fields)
    out = []
    for row in rows:
        item = QuarantinePublic(**dict(zip(cols, row, strict=True)))
        if viewer is None or item.publisher != viewer:
            item = item.model_copy(
                update={"key": _mask_key(item.key), "reason": mask_identifiers_in(item.reason)}
            )
        out.append(item)
    return out
