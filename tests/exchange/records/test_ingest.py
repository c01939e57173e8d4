"""Ingest judges a batch seal at receipt, and refuses a sealed_at far ahead of it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.records.ingest import BatchIn
from exchange.service import Exchange
from signing.seal import seal_batch

Auth = Callable[[str], dict[str, str]]
RESOURCE = "shichang.business_licence"


def _batch(dept: DemoDepartment, rows: list[dict[str, Any]], sealed_at: datetime) -> BatchIn:
    records = [{"resource": RESOURCE, "key": str(r["uscc"]), "version": 3, "data": r} for r in rows]
    sealed = seal_batch(
        records,
        resource=RESOURCE,
        issuer=dept.uscc,
        key=dept.seal_key,
        kid=dept.seal_kid,
        sealed_at=sealed_at,
    )
    return BatchIn.model_validate(
        {
            "resource": RESOURCE,
            "records": [{k: v for k, v in r.items() if k != "resource"} for r in records],
            "seal": sealed.seal.model_dump(),
        }
    )


def test_a_batch_sealed_far_in_the_future_is_quarantined_with_its_code(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    dept = DemoDepartment.load(exchange, "shichang")
    rows = [dict(r) for r in city.business_licences()[10:12]]
    now = datetime.now(UTC).replace(microsecond=0)
    ahead = _batch(dept, rows, now + timedelta(hours=1))
    r = client.post("/v1/records", headers=auth("shichang"), json=ahead.model_dump())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 0
    assert {q["reason_code"] for q in body["quarantined"]} == {"signing.seal_in_future"}
    assert "check the connector's clock" in body["quarantined"][0]["reason"]
    # a little clock drift is fine
    drift = _batch(dept, rows, now + timedelta(minutes=2))
    r = client.post("/v1/records", headers=auth("shichang"), json=drift.model_dump())
    assert r.json()["accepted"] == 2, r.text
    # and a replay of a batch already stored still goes through (duplicates, not refused)
    again = client.post("/v1/records", headers=auth("shichang"), json=drift.model_dump())
    assert again.json()["quarantined"] == [], again.text
