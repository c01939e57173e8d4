"""Who may call what: RELIABILITY A1 (auth everywhere), A5 (deny by default), A4 (roles)."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from exchange.api.deps import PUBLIC_PATHS, api_routes, current_principal


def _depends_on(dependant: object, target: object) -> bool:
    for dep in getattr(dependant, "dependencies", []):
        if dep.call is target or _depends_on(dep, target):
            return True
    return False


def unguarded_routes(app: FastAPI) -> list[str]:
    """Routes outside the public list that do not depend on the authentication dependency."""
    return [
        f"{sorted(r.methods)} {r.path}"
        for r in api_routes(app)
        if r.path not in PUBLIC_PATHS and not _depends_on(r.dependant, current_principal)
    ]


def test_every_route_outside_the_public_list_requires_authentication(client: TestClient) -> None:
    unguarded = unguarded_routes(client.app)  # type: ignore[arg-type]
    total = len(api_routes(client.app))
    print(f"A5 routes {total}, unguarded routes = {len(unguarded)}")
    assert total > 10
    assert unguarded == []


def test_the_guard_check_catches_a_route_added_without_the_dependency() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/v1/new")

    @router.get("/leak")
    def leak() -> dict[str, str]:
        return {}

    app.include_router(router)
    assert unguarded_routes(app) == ["['GET'] /v1/new/leak"]


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_protected_route_refuses_an_unauthenticated_call(client: TestClient) -> None:
    checked = non_401 = 0
    for route in api_routes(client.app):
        if route.path in PUBLIC_PATHS:
            continue
        for method in route.methods:
            for headers in (
                {},
                {"Authorization": "Bearer"},
                {"Authorization": "Basic eDp5"},
                {"Authorization": "Bearer not-a-jwt"},
            ):
                r = client.request(method, _fill(route.path), headers=headers, json={})
                checked += 1
                if r.status_code != 401:
                    non_401 += 1
                    print("not 401:", method, route.path, r.status_code)
                else:
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.json()["code"] in (
                        "exchange.unauthenticated",
                        "exchange.invalid_token",
                    )
    print(f"A1 routes checked {checked}, non-401 = {non_401}")
    assert checked > 20
    assert non_401 == 0


def test_public_list_is_reachable_without_a_token(client: TestClient) -> None:
    for path in ("/healthz", "/openapi.json", "/v1/keys", "/.well-known/govex", "/docs",
                 "/log/checkpoint", "/log/tile/0/000.p/1"):  # fmt: skip
        assert client.get(path).status_code == 200, path


def test_of_the_audit_log_only_the_checkpoint_and_hash_tiles_are_public() -> None:
    """C2SP tlog-tiles: checkpoint and hash tiles carry only hashes; entries need a token."""
    assert {p for p in PUBLIC_PATHS if p.startswith("/log")} == {
        "/log/checkpoint",
        "/log/tile/{level}/{index:path}",
    }
    assert "/log/tile/entries/{index:path}" not in PUBLIC_PATHS


# A4: the role matrix — (role holder code, method, path, body, allowed?)
ROLE_CALLS: list[tuple[str, str, str, dict[str, object] | None]] = [
    ("shenji", "POST", "/v1/records", {"resource": "x", "records": [], "seal": {}}),
    ("dashuju", "POST", "/v1/records", {"resource": "x", "records": [], "seal": {}}),
    ("shenji", "GET", "/v1/resources/shichang.business_licence/records/x?purpose=p&case=c1", None),
    ("dashuju", "GET", "/v1/resources/shichang.business_licence/records/x?purpose=p&case=c1", None),
    (
        "shenji",
        "POST",
        "/v1/grants",
        {
            "resource": "minzheng.marriage_registration",
            "fields": ["kind"],
            "purposes": ["p"],
            "reason": "r",
            "expires_at": "2099-01-01T00:00:00Z",
        },
    ),
    ("shenji", "POST", "/v1/grants/grt_x/decision", {"approve": True, "reason": "r"}),
    # the department lifecycle is the operator's alone (not the auditor's, not a department's)
    ("shenji", "GET", "/v1/admin/departments", None),
    ("gongan", "GET", "/v1/admin/departments", None),
    ("gongan", "POST", "/v1/admin/departments", {"uscc": "x"}),
    ("budongchan", "POST", "/v1/admin/departments/gongan/keys/auth/rotate", {"pem": "x"}),
    ("shenji", "POST", "/v1/admin/departments/gongan/keys/seal/revoke", {"reason": "r"}),
    ("gongan", "POST", "/v1/admin/departments/minzheng/suspend", {"reason": "r"}),
    ("shenji", "POST", "/v1/admin/departments/minzheng/resume", {"reason": "r"}),
    ("budongchan", "POST", "/v1/admin/departments/minzheng/remove", {"reason": "r"}),
]


def test_roles_do_only_their_own_functions(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    outside = 0
    for code, method, path, body in ROLE_CALLS:
        r = client.request(method, path, headers=auth(code), json=body)
        if r.status_code < 400:
            outside += 1
        assert r.status_code == 403, (code, path, r.status_code, r.text)
        assert r.json()["code"] == "exchange.role_forbidden"
    print(f"A4 calls outside the role matrix {len(ROLE_CALLS)}, succeeded = {outside}")
    assert outside == 0
