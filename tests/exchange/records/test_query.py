"""Reads by subject keep the grant's field scope in the record key too."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
PURPOSE = "budongchan.new_commercial_housing_transfer"


def _grant(client: TestClient, auth: Auth, reader: str, resource: str, owner: str) -> None:
    r = client.post(
        "/v1/grants",
        headers=auth(reader),
        json={
            "resource": resource,
            "fields": ["name"] if resource.startswith("gongan") else ["address", "area"],
            "purposes": [PURPOSE],
            "reason": "key scope",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    d = client.post(
        f"/v1/grants/{r.json()['id']}/decision",
        headers=auth(owner),
        json={"approve": True, "reason": "ok"},
    )
    assert d.status_code == 200, d.text


def _by_subject(
    client: TestClient, auth: Auth, reader: str, resource: str, subject: str
) -> dict[str, Any]:
    r = client.get(
        f"/v1/resources/{resource}/records",
        params={"purpose": PURPOSE, "case": "CASE-KEY-1", "subject": subject},
        headers=auth(reader),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_key_field_outside_the_grant_is_answered_as_a_handle(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    _grant(client, auth, "budongchan", "gongan.resident_id_card", "gongan")
    _grant(client, auth, "shuiwu", "gongan.resident_id_card", "gongan")
    person = city.people[3]
    body = _by_subject(client, auth, "budongchan", "gongan.resident_id_card", person.id_number)
    (record,) = body["data"]
    assert "id_number" in record["masked_fields"]
    assert record["key"] != person.id_number
    assert record["key"].startswith("h-")
    assert person.id_number not in json.dumps(body)
    assert person.id_number[6:] not in json.dumps(body)
    # stable for one reader, different for another
    again = _by_subject(client, auth, "budongchan", "gongan.resident_id_card", person.id_number)
    assert again["data"][0]["key"] == record["key"]
    other = _by_subject(client, auth, "shuiwu", "gongan.resident_id_card", person.id_number)
    assert other["data"][0]["key"] != record["key"]
    # the owner sees its keys
    own = _by_subject(client, auth, "gongan", "gongan.resident_id_card", person.id_number)
    assert own["data"][0]["key"] == person.id_number


def test_a_property_certificate_number_outside_the_grant_is_not_in_the_answer(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    _grant(client, auth, "shuiwu", "budongchan.property_title", "budongchan")
    row = exchange.store.fetchone(
        "SELECT key, data FROM record_latest WHERE resource = 'budongchan.property_title' LIMIT 1"
    )
    assert row is not None
    number, data = row[0], json.loads(row[1])
    owner_id = data["owner_id_numbers"][0]
    body = _by_subject(client, auth, "shuiwu", "budongchan.property_title", owner_id)
    keys = [r["key"] for r in body["data"]]
    assert keys
    assert number not in json.dumps(body, ensure_ascii=False)
    assert all(k.startswith("h-") for k in keys)
    assert all(r["data"]["certificate_number"] != number for r in body["data"])
