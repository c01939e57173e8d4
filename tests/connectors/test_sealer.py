"""The sealer's leaves in one loop are the leaves of the per-record path, whatever the data.

A message sealed now verifies with :func:`signing.seal.record_leaf` over each record (the
path every earlier batch was sealed and checked with), and a message sealed by the
per-record path is ingested by today's intake.
"""

from __future__ import annotations

from datetime import date
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


class _Name(str):
    """A string of another type: its JSON is a string's, its type not ``str``."""


WRITTEN: dict[str, list[dict[str, Any]]] = {
    **DATA,
    "typed": [{"id_number": "1", "born": date(1990, 1, 2), "name": _Name("居民")}],
}


def _written(kind: str) -> list[PendingRecord]:
    """Pending records as a run stores them: each with the object its body was written from."""
    out = []
    for i, r in enumerate(WRITTEN[kind]):
        record = {"key": str(r["id_number"]), "version": 1, "data": r}
        out.append(PendingRecord(i, str(r["id_number"]), 1, orjson.dumps(record), i, record))
    return out


@pytest.mark.parametrize("kind", sorted(WRITTEN))
def test_records_sealed_as_written_give_the_leaves_of_their_bodies(kind: str) -> None:
    """A run's records are sealed from the objects it wrote, not parsed back: the seal is
    still over the leaves of the message's records, whatever the data's types."""
    pending = _written(kind)
    _, payload = Sealer(RESOURCE, "uscc", KEY, "kid").seal(pending)
    message = orjson.loads(payload)
    seal = verify_seal(message["seal"], KEY.public_key())
    leaves = [record_leaf({**r, "resource": RESOURCE}) for r in message["records"]]
    assert root_of(leaves).hex() == seal.root
    assert [r.body for r in pending] == [orjson.dumps(r) for r in message["records"]]
    _, parsed = Sealer(RESOURCE, "uscc", KEY, "kid").seal(_pending(WRITTEN[kind]))
    assert orjson.loads(parsed)["seal"]["root"] == seal.root


def test_a_batch_with_a_record_read_back_from_the_outbox_is_sealed_from_its_bodies() -> None:
    pending = _written("flat")
    back = pending[3]
    pending[3] = PendingRecord(back.seq, back.key, back.version, back.body, back.line)
    _, payload = Sealer(RESOURCE, "uscc", KEY, "kid").seal(pending)
    message = orjson.loads(payload)
    leaves = [record_leaf({**r, "resource": RESOURCE}) for r in message["records"]]
    assert root_of(leaves).hex() == verify_seal(message["seal"], KEY.public_key()).root
