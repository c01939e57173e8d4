"""``POST /v1/admin/ops/{name}``: the operator's operations over the API (``govex --url``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

Auth = Callable[[str], dict[str, str]]


def test_an_operator_runs_an_operation_and_it_is_audited(client: TestClient, auth: Auth) -> None:
    r = client.post("/v1/admin/ops/departments.list", json={}, headers=auth("dashuju"))
    assert r.status_code == 200, r.text
    assert "gongan" in {d["code"] for d in r.json()}
    operator = next(d["uscc"] for d in r.json() if d["code"] == "dashuju")
    trail = client.post(
        "/v1/admin/ops/audit.trace", json={"dept": operator}, headers=auth("dashuju")
    )
    assert trail.status_code == 200, trail.text
    assert "admin.departments.list" in {e["action"] for e in trail.json()["entries"]}


def test_only_the_operator_role_may_call(client: TestClient, auth: Auth) -> None:
    r = client.post("/v1/admin/ops/departments.list", json={}, headers=auth("gongan"))
    assert r.status_code == 403
    assert r.json()["code"] == "exchange.role_forbidden"
    assert client.post("/v1/admin/ops/departments.list", json={}).status_code == 401


def test_refusals_are_problems_with_their_own_codes(client: TestClient, auth: Auth) -> None:
    op = auth("dashuju")
    cases = [
        ("backup", {"out": "/tmp/x.tar.gz"}, 403, "exchange.local_only"),
        ("no.such", {}, 404, "exchange.unknown_operation"),
        ("token.demo", {"dept": "gongan", "extra": 1}, 422, "exchange.invalid_option"),
        ("audit.trace", {"case": "A", "dept": "B"}, 422, "exchange.invalid_option"),
    ]
    for name, params, status, code in cases:
        r = client.post(f"/v1/admin/ops/{name}", json=params, headers=op)
        assert r.status_code == status, (name, r.text)
        assert r.json()["code"] == code
