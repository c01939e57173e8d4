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


BAD_PARAMS = [
    # the department lifecycle
    ("department.add", {"uscc": "X", "code": "c"}, 422, "exchange.invalid_option"),
    (
        "department.add",
        {
            "uscc": "not-a-uscc",
            "code": "c",
            "name": "n",
            "region": "411500",
            "auth_public_key": "x",
            "seal_csr": "x",
            "cert_csr": "x",
        },
        422,
        "schema.invalid_identifier",
    ),
    (
        "department.key.rotate",
        {"dept": "gongan", "purpose": "sign", "pem": "x"},
        422,
        "exchange.invalid_option",
    ),
    ("department.key.rotate", {"dept": "gongan", "purpose": "seal", "pem": "x"}, 422, None),
    ("department.key.revoke", {"dept": "nobody", "purpose": "auth", "reason": "r"}, 404, None),
    ("department.key.revoke", {"dept": "gongan", "purpose": "auth", "reason": ""}, 422, None),
    ("department.suspend", {"dept": "nobody", "reason": "r"}, 404, None),
    ("department.resume", {"dept": "gongan", "reason": "r"}, 409, "exchange.conflict"),
    ("department.remove", {"dept": "gongan"}, 422, "exchange.invalid_option"),
    # the catalog
    ("catalog.add", {"definition": {"code": "x"}}, 422, "exchange.invalid_definition"),
    ("catalog.add", {"definition": []}, 422, "exchange.invalid_option"),
    ("catalog.update", {"definition": {"code": "gongan.none"}, "major": "maybe"}, 422, None),
    ("catalog.list", {"all": True}, 422, "exchange.invalid_option"),
    # bulk issuance, archive, live verify
    ("cert.issue_bulk", {"issuer": "gongan", "type": "resident_id_card", "items": []}, 422, None),
    (
        "cert.issue_bulk",
        {"issuer": "nobody", "type": "resident_id_card", "items": [{"line": 2, "subject": {}}]},
        404,
        None,
    ),
    ("audit.archive", {"before": "yesterday"}, 422, "exchange.invalid_date"),
    ("audit.archive", {"before": "2999-01-01"}, 422, None),
    ("audit.verify", {"full": True}, 422, "exchange.invalid_option"),
]


def test_each_new_operation_answers_bad_input_with_a_4xx_problem(
    client: TestClient, auth: Auth
) -> None:
    op = auth("dashuju")
    for name, params, status, code in BAD_PARAMS:
        r = client.post(f"/v1/admin/ops/{name}", json=params, headers=op)
        assert r.status_code == status, (name, params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), name
        if code is not None:
            assert r.json()["code"] == code, (name, r.json())


def test_the_admin_routes_are_in_the_openapi_that_schemathesis_walks(client: TestClient) -> None:
    # tests/exchange/api/test_schemathesis.py generates requests for every operation of
    # this document, the admin routes with the operator's token among them
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/admin/ops/{name}", "/v1/admin/departments", "/v1/admin/catalog"):
        assert path in paths, path


def test_remote_lifecycle_and_catalog_calls_name_the_operator_department(
    client: TestClient, auth: Auth
) -> None:
    op = auth("dashuju")
    listed = client.post("/v1/admin/ops/departments.list", json={}, headers=op).json()
    operator = next(d["uscc"] for d in listed if d["code"] == "dashuju")
    for name, params in (
        ("department.suspend", {"dept": "minzheng", "reason": "审计抽查 (audit check)"}),
        ("department.resume", {"dept": "minzheng", "reason": "抽查完毕 (check done)"}),
        ("catalog.list", {}),
        ("audit.verify", {}),
    ):
        r = client.post(f"/v1/admin/ops/{name}", json=params, headers=op)
        assert r.status_code == 200, (name, r.text)
    trail = client.post("/v1/admin/ops/audit.trace", json={"dept": operator}, headers=op).json()[
        "entries"
    ]
    actions = {e["action"] for e in trail}
    for action in (
        "admin.department.suspend",
        "department.suspend",
        "admin.department.resume",
        "department.resume",
        "admin.catalog.list",
        "admin.audit.verify",
    ):
        assert action in actions, action


def test_the_audit_groups_share_of_latency_is_reported_and_cleared(
    client: TestClient, auth: Auth
) -> None:
    op = auth("dashuju")
    for _ in range(3):  # audited calls: each waits for its group to be durable
        assert client.get("/v1/departments/me", headers=auth("gongan")).status_code == 200
    found = client.post("/v1/admin/ops/audit.latency", json={"clear": True}, headers=op).json()
    assert found["groups"] >= 3
    assert found["entries"] >= found["groups"]
    assert 0 < found["commit_p50_ms"] <= found["commit_p99_ms"] <= found["commit_max_ms"]
    assert 0 < found["wait_p50_ms"] <= found["wait_p99_ms"] <= found["wait_max_ms"]
    after = client.post("/v1/admin/ops/audit.latency", json={}, headers=op).json()
    assert after["groups"] <= 1  # forgotten: at most the group of the clearing call itself
    assert (
        client.post("/v1/admin/ops/audit.latency", json={"clear": "maybe"}, headers=op).json()[
            "code"
        ]
        == "exchange.invalid_option"
    )
