"""The query cache never answers with a value older than the last acknowledged publish."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.service import Exchange

RESOURCE = "shichang.business_licence"


def test_a_read_after_a_publish_sees_the_new_version(
    exchange: Exchange, client: TestClient, auth: Callable[[str], dict[str, str]], city: City
) -> None:
    dept = DemoDepartment.load(exchange, "shichang")
    row = dict(city.business_licences()[7])
    path = f"/v1/resources/{RESOURCE}/records/{row['uscc']}"
    params = {"purpose": "p.cache", "case": "CASE-CACHE"}
    for version in range(20, 26):
        row["name"] = f"信阳版本{version}有限公司"
        r = client.post(
            "/v1/records",
            headers=auth("shichang"),
            json=dept.seal(RESOURCE, [row], "uscc", version=version).model_dump(),
        )
        assert r.json()["accepted"] == 1
        seen = client.get(path, params=params, headers=auth("budongchan")).json()
        again = client.get(path, params=params, headers=auth("budongchan")).json()
        assert seen["version"] == version
        assert seen["data"]["name"] == row["name"]
        assert again["version"] == version  # the second read is served from the cache
    assert exchange.reader.cache.hits > 0
