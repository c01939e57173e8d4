"""Ingest judges a batch seal at receipt, and refuses a sealed_at far ahead of it; published
records with text that is not valid Unicode are refused at the door (422), not by DuckDB
or pyarrow (500), and the refusal is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.bus.models import BatchIn
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
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


@pytest.mark.parametrize("where", ["data value", "data key", "record key", "nested value"])
def test_a_lone_surrogate_in_a_published_batch_is_a_422_and_audited(
    exchange: Exchange, client: TestClient, auth: Auth, city: City, where: str
) -> None:
    dept = DemoDepartment.load(exchange, "shichang")
    row = dict(city.business_licences()[0])
    body: dict[str, Any] = dept.seal(RESOURCE, [row], "uscc").model_dump()
    record = body["records"][0]
    if where == "data value":
        record["data"]["name"] = "信阳\ud800有限公司"
    elif where == "data key":
        record["data"]["\udc00"] = "x"
    elif where == "record key":
        record["key"] = "\ud83d"
    else:
        record["data"]["extra"] = {"list": ["ok", "\udfff"]}
    headers = {**auth("shichang"), "content-type": "application/json"}  # issuance is audited
    before = exchange.audit.size
    r = client.post(
        "/v1/records",
        headers=headers,
        content=json.dumps(body),
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "schema.invalid_text"
    assert exchange.audit.size == before + 1
