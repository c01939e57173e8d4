"""A sealed batch as plain records: decoded once for the whole batch, no model per record.

:func:`decode` turns a bus message into a :class:`PlainBatch` with the same verdicts as
:func:`exchange.bus.message.decode_batch`: the envelope and the seal are validated once,
the records are checked in one loop over plain dicts (the :class:`~exchange.bus.models.RecordIn`
rules: exactly ``key``, ``version``, ``data``; a key of 1–256 characters; a version that is
an integer in 0 … 2^53-1; data an object of at most 1024 fields). Whatever this loop
does not accept as is — a version pydantic would convert, a lone surrogate, any
malformed part — is decoded by ``decode_batch`` itself, so a refused message carries
exactly its reason and an accepted one exactly its values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from exchange.bus.message import decode_batch
from exchange.bus.models import BatchIn
from signing.canonical import MAX_SAFE_INTEGER, parse_strict, sorted_is_canonical
from signing.errors import CanonicalizationError
from signing.seal import BatchSeal

__all__ = ["PlainBatch", "decode", "plain"]

_ENVELOPE = frozenset({"resource", "records", "seal"})
_RECORD = frozenset({"key", "version", "data"})
_MAX_RECORDS = 1_000_000  # BatchIn's own cap
_SURROGATE_ESCAPE = (b"\\ud", b"\\uD")


@dataclass(frozen=True, slots=True)
class PlainBatch:
    """A sealed batch: records as ``{"key", "version", "data"}`` dicts.

    ``sorted_is_jcs``: orjson's sorted output of each record is its canonical JSON (the
    leaves are then hashed in one loop, :func:`signing.seal.record_leaves`).
    """

    resource: str
    records: list[dict[str, Any]]
    seal: BatchSeal
    sorted_is_jcs: bool = False


def plain(batch: BatchIn) -> PlainBatch:
    """A validated :class:`BatchIn` (e.g. an HTTP body) as a :class:`PlainBatch`."""
    records = [{"key": r.key, "version": r.version, "data": r.data} for r in batch.records]
    return PlainBatch(batch.resource, records, batch.seal)


def decode(payload: bytes, *, max_bytes: int, max_records: int) -> PlainBatch:
    """The sealed batch in ``payload``; raises :class:`~exchange.bus.message.PoisonMessage`
    with the reason ``decode_batch`` gives when it is not one."""
    fast = _decode_fast(payload, max_bytes=max_bytes, max_records=max_records)
    if fast is not None:
        return fast
    return plain(decode_batch(payload, max_bytes=max_bytes, max_records=max_records))


def _decode_fast(payload: bytes, *, max_bytes: int, max_records: int) -> PlainBatch | None:
    """The batch, or None for anything :func:`decode_batch` must judge (or convert)."""
    if len(payload) > max_bytes or any(s in payload for s in _SURROGATE_ESCAPE):
        return None
    try:
        value = parse_strict(payload)
    except CanonicalizationError:
        return None
    if type(value) is not dict or value.keys() != _ENVELOPE:
        return None
    resource, records, seal = value["resource"], value["records"], value["seal"]
    if type(resource) is not str or len(resource) > 128 or type(records) is not list:
        return None
    if not 0 < len(records) <= min(max_records, _MAX_RECORDS):
        return None
    for r in records:
        if type(r) is not dict or r.keys() != _RECORD:
            return None
        key, version, data = r["key"], r["version"], r["data"]
        if (
            type(key) is not str
            or not 0 < len(key) <= 256
            or type(version) is not int
            or not 0 <= version <= MAX_SAFE_INTEGER
            or type(data) is not dict
            or len(data) > 1024
        ):
            return None
    out: list[dict[str, Any]] = records  # exactly the three fields each, checked above
    try:
        checked = BatchSeal.model_validate(seal)
    except ValidationError:
        return None
    jcs = sorted_is_canonical(payload, (r["data"] for r in out))
    return PlainBatch(resource, out, checked, jcs)
