"""The read hot path answers exactly as the FastAPI route does, request for request,
and leaves exactly one audit entry per request either way (D4)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.demo.city import City
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
PATH = "/v1/resources/{}/records/{}"


@pytest.fixture(scope="module")
def routed(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(create_app(exchange, fast_read=False), raise_server_exceptions=False) as c:
        yield c


def _requests(city: City, auth: Auth) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
    """(label, path, params, headers): answers, refusals and every fall-through case."""
    licence = city.business_licences()[0]["uscc"]
    person = city.people[0].id_number
    reader, auditor = auth("budongchan"), auth("shenji")
    ok = {"purpose": "fast.read", "case": "FAST-1"}
    lic = PATH.format("shichang.business_licence", licence)
    card = PATH.format("gongan.resident_id_card", person)
    return [
        ("answered", lic, ok, reader),
        ("chinese purpose", lic, {"purpose": "二手房转移登记", "case": "FAST-2"}, reader),
        ("grant missing", card, ok, reader),
        ("not found", PATH.format("shichang.business_licence", "91411500MA0000000X"), ok, reader),
        ("unknown resource", PATH.format("nosuch.resource", licence), ok, reader),
        ("blank purpose", lic, {"purpose": " ", "case": "FAST-3"}, reader),
        ("empty purpose", lic, {"purpose": "", "case": "FAST-3"}, reader),
        ("purpose too long", lic, {"purpose": "x" * 201, "case": "FAST-3"}, reader),
        ("bad case", lic, {"purpose": "p", "case": "bad case!"}, reader),
        ("case with newline", lic, {"purpose": "p", "case": "FAST-4\n"}, reader),
        ("no case", lic, {"purpose": "p"}, reader),
        ("extra parameter", lic, {**ok, "fields": "name"}, reader),
        ("no token", lic, ok, {}),
        ("bad token", lic, ok, {"Authorization": "Bearer not.a.token"}),
        ("basic scheme", lic, ok, {"Authorization": "Basic Zm9vOmJhcg=="}),
        ("auditor role", lic, ok, auditor),
        ("odd key", PATH.format("shichang.business_licence", "a%20b"), ok, reader),
    ]


def _normalised(response: Any) -> tuple[int, str, Any]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("audit_seq", None)
    return response.status_code, response.headers["content-type"], body


def test_the_hot_path_answers_as_the_route_does_with_one_audit_entry_each(
    exchange: Exchange, client: TestClient, routed: TestClient, auth: Auth, city: City
) -> None:
    answered = []
    for label, path, params, headers in _requests(city, auth):
        before = exchange.audit.size
        fast = client.get(path, params=params, headers=headers)
        middle = exchange.audit.size
        slow = routed.get(path, params=params, headers=headers)
        after = exchange.audit.size
        assert _normalised(fast) == _normalised(slow), label
        assert (middle - before, after - middle) == (1, 1), label
        if fast.status_code == 200:
            answered.append(label)
            assert fast.json()["audit_seq"] == before  # the entry that read wrote
    # FastAPI ignores parameters it does not know, so the hot path hands those to it
    assert answered == ["answered", "chinese purpose", "extra parameter"]


def test_a_refused_read_shows_the_record_to_neither_path(
    client: TestClient, routed: TestClient, auth: Auth, city: City
) -> None:
    person = city.people[0]
    path = PATH.format("gongan.resident_id_card", person.id_number)
    for c in (client, routed):
        r = c.get(path, params={"purpose": "p", "case": "FAST-5"}, headers=auth("minzheng"))
        assert r.status_code == 403
        assert r.json()["code"] == "exchange.grant_missing"
        assert person.name not in r.text
