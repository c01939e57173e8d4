"""RELIABILITY A6 and bad input: oversize, deep, duplicate-key, malformed — always 4xx."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from exchange.api.middleware.limits import json_depth

Auth = Callable[[str], dict[str, str]]


def _problem(r: object, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["title"]


def test_hostile_requests_get_4xx_never_5xx(client: TestClient, auth: Auth) -> None:
    h = auth("gongan")
    json_h = {**h, "content-type": "application/json"}
    cases = {
        "oversize body": client.post(
            "/v1/records", headers=json_h, content=b"[" + b"1," * (5 * 1024 * 1024) + b"1]"
        ),
        "deep JSON": client.post(
            "/v1/records", headers=json_h, content=b"[" * 100_000 + b"]" * 100_000
        ),
        "deep JSON object": client.post(
            "/v1/grants", headers=json_h, content=b'{"a":' * 5000 + b"1" + b"}" * 5000
        ),
        "duplicate keys": client.post(
            "/v1/grants", headers=json_h, content=b'{"resource":"a","resource":"b"}'
        ),
        "NaN": client.post("/v1/grants", headers=json_h, content=b'{"resource": NaN}'),
        "huge integer": client.post(
            "/v1/grants", headers=json_h, content=b'{"resource": 123456789012345678901234567890}'
        ),
        "malformed JSON": client.post("/v1/grants", headers=json_h, content=b'{"resource": '),
        "not JSON at all": client.post("/v1/grants", headers=json_h, content=b"\xff\xfe\x00"),
        "wrong content type": client.post(
            "/v1/grants", headers={**h, "content-type": "text/plain"}, content=b"x"
        ),
        "huge page": client.get("/v1/quarantine", params={"limit": 10**9}, headers=h),
        "negative offset": client.get("/v1/audit/entries", params={"offset": -1}, headers=h),
        "huge path key": client.get(
            "/v1/resources/gongan.resident_id_card/records/" + "9" * 5000,
            params={"purpose": "p", "case": "c1"},
            headers=h,
        ),
        "missing purpose": client.get(
            "/v1/resources/gongan.resident_id_card/records/1", params={"case": "c1"}, headers=h
        ),
        "bad case number": client.get(
            "/v1/resources/gongan.resident_id_card/records/1",
            params={"purpose": "p", "case": "../../etc"},
            headers=h,
        ),
        "unknown resource": client.get("/v1/resources/nope.nothing", headers=h),
        "unknown route": client.get("/v1/nothing-here", headers=h),
        "wrong method": client.delete("/v1/resources", headers=h),
        "batch too large": client.post(
            "/v1/records",
            headers=h,
            json={
                "resource": "gongan.resident_id_card",
                "records": [{"key": str(i), "version": 1, "data": {}} for i in range(10_001)],
                "seal": {},
            },
        ),
    }
    server_errors = {name: r.status_code for name, r in cases.items() if r.status_code >= 500}
    print(f"A6 hostile requests {len(cases)}, 5xx = {len(server_errors)}")
    assert server_errors == {}
    for name, r in cases.items():
        assert 400 <= r.status_code < 500, name
        assert r.headers["content-type"].startswith("application/problem+json"), name
    _problem(cases["oversize body"], 413, "exchange.payload_too_large")
    _problem(cases["deep JSON"], 422, "schema.malformed_json")
    _problem(cases["duplicate keys"], 422, "schema.malformed_json")
    _problem(cases["unknown resource"], 404, "schema.unknown_resource")
    _problem(cases["missing purpose"], 422, "schema.invalid_request")


def test_depth_scanner_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": "[[[[[[[[[[[[[[[[[["}', 5) == 1
    assert json_depth(b'{"a": "\\"[[[[[[", "b": [[1]]}', 5) == 3
    assert json_depth(b"[" * 40 + b"]" * 40, 32) > 32
