"""The audit middleware keeps the log bounded (RELIABILITY D6): no raw path, a fixed cost
per anonymous request, floods counted, and a 503 before the disk is full."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.audit.query import EntryFilter, Scope, search
from exchange.demo.city import City
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
B = 512  # bytes of leaf data an anonymous request may cost at most


def _leaf_bytes(exchange: Exchange, first: int) -> list[int]:
    found = search(exchange.store, EntryFilter(first_seq=first), Scope.everything(), limit=10_000)
    return [len(s.entry.leaf_bytes()) for s in found]


def _stored_text(exchange: Exchange, first: int) -> str:
    rows = exchange.store.fetchall(
        "SELECT concat_ws('|', actor, action, target, subject_hash, purpose, case_no, outcome, "
        "code, request_hash, detail) FROM audit_entries WHERE seq >= ?",
        [first],
    )
    return "\n".join(str(r[0]) for r in rows)


def test_an_anonymous_request_costs_at_most_b_bytes(exchange: Exchange) -> None:
    before = exchange.audit.size
    with TestClient(create_app(exchange), raise_server_exceptions=False) as client:
        long_path = "/v1/resources/" + "x" * 60_000
        assert client.get(long_path).status_code in (401, 404)
        assert client.post("/v1/grants/" + "y" * 60_000, content=b"z" * 100_000).status_code
        assert client.request("X" * 1000, "/v1/audit/entries").status_code >= 400
        assert client.get("/nothing/" + "x" * 60_000).status_code == 404
    sizes = _leaf_bytes(exchange, before)
    assert len(sizes) == 4
    print(f"D6: bytes per anonymous request ≤ B = {B} (largest {max(sizes)})")
    assert max(sizes) <= B


def test_a_raw_id_number_in_an_unmatched_path_never_reaches_the_log(
    exchange: Exchange, auth: Auth, city: City
) -> None:
    person = city.people[3].id_number
    gongan = auth("gongan")  # its token first: token issuance is audited
    before = exchange.audit.size
    with TestClient(create_app(exchange), raise_server_exceptions=False) as client:
        for headers in ({}, gongan):
            for path in (
                f"/v1/resources/gongan.resident_id_card/records/{person}/",
                f"/v1/no-such-route/{person}",
                f"/{person}",
            ):
                r = client.get(path, headers=headers, follow_redirects=False)
                assert r.status_code in (307, 401, 404), (path, r.status_code)
    assert exchange.audit.size - before == 6  # every request accounted for
    text = _stored_text(exchange, before)
    assert person not in text
    assert "(no route)" in text


def test_an_anonymous_flood_is_counted_per_address_and_minute(exchange: Exchange) -> None:
    before = exchange.audit.size
    flood = 200
    with TestClient(create_app(exchange), raise_server_exceptions=False) as client:
        for _ in range(flood):
            assert client.get("/v1/audit/entries").status_code == 401
    # the app shut down: the counts kept in memory were written
    found = search(exchange.store, EntryFilter(first_seq=before), Scope.everything(), limit=10_000)
    single = [s for s in found if s.entry.action == "http.get"]
    counted = [s for s in found if s.entry.action == "http.anonymous_refusals"]
    total = len(single) + sum(int((s.entry.detail or {})["count"]) for s in counted)
    assert total == flood  # every request accounted for
    assert len(single) <= 20  # ten per minute (the minute may turn once during the test)
    assert 1 <= len(counted) <= 2
    assert (counted[0].entry.detail or {})["address"] == "testclient"
    cost = sum(len(s.entry.leaf_bytes()) for s in found) / flood
    print(f"D6: a flood of {flood} anonymous requests costs {cost:.0f} bytes per request")
    assert cost <= B


def test_below_the_disk_floor_the_exchange_answers_503_then_reads_again(
    exchange: Exchange, auth: Auth, city: City
) -> None:
    person = city.people[0].id_number
    path = f"/v1/resources/gongan.resident_id_card/records/{person}"
    params = {"purpose": "核验", "case": "D6-FLOOR"}
    space = exchange.audit.space
    floor = space.min_free_bytes
    with TestClient(create_app(exchange), raise_server_exceptions=False) as client:
        headers = auth("gongan")
        assert client.get(path, params=params, headers=headers).status_code == 200
        space.min_free_bytes = shutil.disk_usage(exchange.store.data_dir).free + 2**40
        space.refresh()
        try:
            size = exchange.audit.size
            for _ in range(20):
                r = client.get(path, params=params, headers=headers)
                assert r.status_code == 503
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["code"] == "exchange.audit_disk_full"
            assert client.get("/v1/audit/entries").json()["code"] == "exchange.audit_disk_full"
            health = client.get("/healthz")
            assert health.status_code == 503
            assert health.json()["audit_disk"]["min_free_bytes"] == space.min_free_bytes
            assert "floor" in health.json()["audit"]
            assert exchange.audit.size == size  # nothing written, nothing half written
            assert exchange.audit.healthy
        finally:
            space.min_free_bytes = floor
            space.refresh()
        r = client.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert client.get("/healthz").json()["audit"] == "ok"
