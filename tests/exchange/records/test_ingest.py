"""Published records with text that is not valid Unicode are refused at the door (422),
not by DuckDB or pyarrow (500), and the refusal is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
RESOURCE = "shichang.business_licence"


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
    before = exchange.audit.size
    r = client.post(
        "/v1/records",
        headers={**auth("shichang"), "content-type": "application/json"},
        content=json.dumps(body),
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "schema.invalid_text"
    assert exchange.audit.size == before + 1
