"""Sealing outbox records into one batch: one signature over a Merkle root, not per record.

The department's seal key signs the root of the batch's records (:mod:`signing.seal`);
the message carries the records exactly as the outbox holds them, so the exchange
recomputes the same leaves. One seal per batch keeps signing off the critical path:
an Ed25519 signature costs about as much as hashing a few hundred records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from exchange.bus import encode_batch
from signing.algorithms import PrivateKey
from signing.canonical import sorted_is_canonical
from signing.seal import seal_batch

from .outbox import PendingRecord

__all__ = ["Sealer"]


class Sealer:
    """Seals batches of one resource for one department."""

    def __init__(self, resource: str, uscc: str, key: PrivateKey, kid: str) -> None:
        self.resource = resource
        self.uscc = uscc
        self._key = key
        self.kid = kid

    def seal(self, records: Sequence[PendingRecord]) -> tuple[str, bytes]:
        """Seal ``records``; return the batch id and the bus message (the exact bytes to send)."""
        resource = self.resource
        bodies = [r.body for r in records]
        joined = b",".join(bodies)
        full = _as_written(records, resource, joined)
        jcs = full is not None
        if full is None:
            full = orjson.loads(b"[" + joined + b"]")  # one parse per batch
            for record in full:
                record["resource"] = resource
            # the leaves in one loop when orjson's sorted output is the records' JCS form
            jcs = sorted_is_canonical(joined, (r["data"] for r in full))
        sealed = seal_batch(
            full,
            resource=resource,
            issuer=self.uscc,
            key=self._key,
            kid=self.kid,
            sorted_is_jcs=jcs,
        )
        seal_json = orjson.dumps(sealed.seal.model_dump())
        return sealed.seal.batch_id, encode_batch(resource, bodies, seal_json)


def _as_written(
    records: Sequence[PendingRecord], resource: str, joined: bytes
) -> list[dict[str, Any]] | None:
    """The records as this run wrote them into the outbox (no parse of their bodies), when
    every one is at hand and orjson's sorted output of each is its JCS form; else None.

    Such a record holds only a string key, an integer version and data of strings,
    integers, booleans and None, whose ``orjson.dumps`` is its body: parsing the body would
    give back equal values of the same types, so the leaves are the same bytes.
    """
    full: list[dict[str, Any]] = []
    append = full.append
    for r in records:
        o = r.record
        if o is None:
            return None
        key, version, data = o["key"], o["version"], o["data"]
        if type(key) is not str or type(version) is not int or type(data) is not dict:
            return None
        append({"resource": resource, "key": key, "version": version, "data": data})
    if not sorted_is_canonical(joined, (r["data"] for r in full)):
        return None
    return full
