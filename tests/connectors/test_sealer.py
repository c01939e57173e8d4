"""The sealer's leaves in one loop are the leaves of the per-record path, whatever the data.

A message sealed now verifies with :func:`signing.seal.record_leaf` over each record (the
path every earlier batch was sealed and checked with), and a message sealed by the
per-record path is ingested by today's intake.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from bench.workload import id_card_rows
from connectors.outbox import PendingRecord
from connectors.sealer import Sealer
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.records.batch import decode
from signing.merkle import root_of
from signing.seal import record_leaf, seal_batch, verify_seal

RESOURCE = "gongan.resident_id_card"
KEY = ed25519.Ed25519PrivateKey.generate()

DATA: dict[str, list[dict[str, Any]]] = {
    "flat": [{"id_number": f"4115{i:04d}", "name": "居民", "n": i, "ok": True} for i in range(9)],
    "floats": [{"id_number": "1", "score": 1.5}, {"id_number": "2", "score": 1e21}],
    "nested": [{"id_number": "1", "names": ["甲", "乙"], "address": {"city": "信阳"}}],
    "beyond_bmp": [{"id_number": "1", "𠀀": "x", "a": "𠀁"}, {"id_number": "2"}],
    "escapes": [{"id_number": "1", "note": 'tab\t"quote"\\ \u0001 \u2028'}],
}


def _pending(rows: list[dict[str, Any]]) -> list[PendingRecord]:
    return [
        PendingRecord(
            i,
            str(r["id_number"]),
            1,
            orjson.dumps({"key": str(r["id_number"]), "version": 1, "data": r}),
            i,
        )
        for i, r in enumerate(rows)
    ]


@pytest.mark.parametrize("kind", sorted(DATA))
def test_a_sealed_message_verifies_with_the_per_record_leaves(kind: str) -> None:
    _, payload = Sealer(RESOURCE, "uscc", KEY, "kid").seal(_pending(DATA[kind]))
    message = orjson.loads(payload)
    seal = verify_seal(message["seal"], KEY.public_key())
    leaves = [record_leaf({**r, "resource": RESOURCE}) for r in message["records"]]
    assert root_of(leaves).hex() == seal.root
    batch = decode(payload, max_bytes=10**7, max_records=10**4)
    assert batch.sorted_is_jcs is (kind in ("flat", "escapes"))


def test_a_batch_sealed_by_the_per_record_path_is_ingested(tmp_path: Any) -> None:
    exchange = create_demo(Settings(data=tmp_path / "data"))
    try:
        dept = DemoDepartment.load(exchange, "gongan")
        rows = list(id_card_rows(40))
        records = [
            {"resource": RESOURCE, "key": r["id_number"], "version": 2, "data": r} for r in rows
        ]
        sealed = seal_batch(  # sorted_is_jcs left off: record_leaf for each record
            records, resource=RESOURCE, issuer=dept.uscc, key=dept.seal_key, kid=dept.seal_kid
        )
        payload = orjson.dumps(
            {
                "resource": RESOURCE,
                "records": [{k: r[k] for k in ("key", "version", "data")} for r in records],
                "seal": sealed.seal.model_dump(),
            }
        )
        result = exchange.intake.take(payload, source="test")
        assert not hasattr(result, "quarantine_id")
        assert result.accepted == 40  # type: ignore[union-attr]
        assert result.quarantined == []  # type: ignore[union-attr]
    finally:
        exchange.close()
