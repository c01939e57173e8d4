"""The person on every request (RELIABILITY I1): staff accounts and the RFC 8693 act claim.

A real demo exchange on a real DuckDB file, driven through its real API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from exchange.client import ASSERTION_TYPE
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.departments.staff import StaffRole
from exchange.errors import AuthError
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
PASSWORD = "correct horse battery staple"
FIGURES = {"named": 0, "person_requests": 0, "forged_accepted": 0}


def _staff(exchange: Exchange, code: str, staff_id: str, name: str, *roles: StaffRole) -> None:
    uscc = exchange.registry.by_code(code).uscc
    if exchange.staff.member(staff_id) is None:
        enrolment = exchange.staff.add(
            uscc, staff_id, name, frozenset(roles), actor=exchange.identity.uscc
        )
        exchange.staff.enrol(staff_id, enrolment.code, PASSWORD)


def _token(exchange: Exchange, client: TestClient, code: str, act: str | None) -> object:
    dept = DemoDepartment.load(exchange, code)
    return client.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": dept.assertion(exchange.tokens.token_endpoint, act=act),
        },
    )


def _bearer(exchange: Exchange, client: TestClient, code: str, act: str | None) -> dict[str, str]:
    r = _token(exchange, client, code, act)
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {r.json()['access_token']}"}  # type: ignore[attr-defined]


def _read(client: TestClient, headers: dict[str, str], key: str) -> object:
    return client.get(
        f"/v1/resources/shichang.business_licence/records/{key}",
        params={"purpose": "p.staff", "case": "CASE-I1"},
        headers=headers,
    )


def _person_of(exchange: Exchange, seq: int) -> str | None:
    row = exchange.store.fetchone("SELECT person FROM audit_entries WHERE seq = ?", [seq])
    assert row is not None
    return row[0]


@pytest.fixture(scope="module", autouse=True)
def _figures() -> object:
    yield
    print(
        f"\nI1 entries naming the person / person requests "
        f"{FIGURES['named']}/{FIGURES['person_requests']}; forged act accepted "
        f"{FIGURES['forged_accepted']}"
    )


def test_an_act_claim_reaches_the_token_and_the_audit_entry(
    exchange: Exchange, client: TestClient, city: City
) -> None:
    _staff(exchange, "zhujian", "zj-clerk-1", "王芳", StaffRole.CLERK)
    headers = _bearer(exchange, client, "zhujian", "zj-clerk-1")
    for company in city.companies[:3]:
        r = _read(client, headers, company.uscc)
        assert r.status_code == 200, r.text  # type: ignore[attr-defined]
        FIGURES["person_requests"] += 1
        seq = r.json()["audit_seq"]  # type: ignore[attr-defined]
        if _person_of(exchange, seq) == "zj-clerk-1":
            FIGURES["named"] += 1
    assert FIGURES["named"] == FIGURES["person_requests"] == 3
    issued = exchange.store.fetchone(
        "SELECT count(*) FROM audit_entries WHERE action = 'token.issue' AND person = ?",
        ["zj-clerk-1"],
    )
    assert issued is not None
    assert issued[0] >= 1


def test_a_department_that_requires_act_refuses_reads_without_it(
    exchange: Exchange, client: TestClient, city: City
) -> None:
    _staff(exchange, "shuiwu", "sw-clerk-1", "李强", StaffRole.CLERK)
    uscc = exchange.registry.by_code("shuiwu").uscc
    plain = _bearer(exchange, client, "shuiwu", None)
    named = _bearer(exchange, client, "shuiwu", "sw-clerk-1")
    key = city.companies[0].uscc
    assert _read(client, plain, key).status_code == 200  # type: ignore[attr-defined]
    exchange.staff.set_require_act(uscc, True, actor=exchange.identity.uscc)
    try:
        refused = _read(client, plain, key)
        assert refused.status_code == 403  # type: ignore[attr-defined]
        assert refused.json()["code"] == "exchange.act_required"  # type: ignore[attr-defined]
        r = _read(client, named, key)
        assert r.status_code == 200, r.text  # type: ignore[attr-defined]
        FIGURES["person_requests"] += 1
        if _person_of(exchange, r.json()["audit_seq"]) == "sw-clerk-1":  # type: ignore[attr-defined]
            FIGURES["named"] += 1
    finally:
        exchange.staff.set_require_act(uscc, False, actor=exchange.identity.uscc)


def test_a_forged_act_is_refused(exchange: Exchange, client: TestClient, city: City) -> None:
    _staff(exchange, "zhujian", "zj-clerk-2", "赵敏", StaffRole.CLERK)
    _staff(exchange, "shuiwu", "sw-clerk-2", "孙丽", StaffRole.CLERK)
    attempts = {
        "another department's staff": ("zhujian", "sw-clerk-2"),
        "nobody": ("zhujian", "no-such-person"),
    }
    for _, (code, act) in attempts.items():
        r = _token(exchange, client, code, act)
        FIGURES["forged_accepted"] += r.status_code == 200  # type: ignore[attr-defined]
        assert r.status_code == 401  # type: ignore[attr-defined]
        assert r.json()["code"] == "exchange.invalid_act"  # type: ignore[attr-defined]
    # a token issued while the clerk was active stops working when the account is disabled
    uscc = exchange.registry.by_code("zhujian").uscc
    headers = _bearer(exchange, client, "zhujian", "zj-clerk-2")
    assert _read(client, headers, city.companies[1].uscc).status_code == 200  # type: ignore[attr-defined]
    exchange.staff.set_status(uscc, "zj-clerk-2", False, actor=exchange.identity.uscc)
    r = _read(client, headers, city.companies[1].uscc)
    FIGURES["forged_accepted"] += r.status_code == 200  # type: ignore[attr-defined]
    assert r.status_code == 401  # type: ignore[attr-defined]
    r = _token(exchange, client, "zhujian", "zj-clerk-2")
    FIGURES["forged_accepted"] += r.status_code == 200  # type: ignore[attr-defined]
    assert r.status_code == 401  # type: ignore[attr-defined]
    refused = exchange.store.fetchone(
        "SELECT count(*) FROM audit_entries WHERE action = 'token.issue' AND outcome = 'refused'"
    )
    assert refused is not None
    assert refused[0] >= 3
    assert FIGURES["forged_accepted"] == 0


def test_a_security_officer_manages_the_departments_staff_and_nobody_else_does(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    _staff(exchange, "weijian", "wj-officer", "周安", StaffRole.SECURITY_OFFICER)
    officer = _bearer(exchange, client, "weijian", "wj-officer")
    r = client.post(
        "/v1/staff",
        headers=officer,
        json={"staff_id": "wj-clerk-9", "name": "钱多", "roles": ["clerk"]},
    )
    assert r.status_code == 201, r.text
    code = r.json()["enrolment_code"]
    assert client.get("/v1/staff", headers=officer).json()["count"] == 2
    # the department itself, with no person named, may not manage staff
    assert client.get("/v1/staff", headers=auth("weijian")).status_code == 403
    r = client.post("/v1/staff/wj-clerk-9/disable", headers=officer)
    assert r.json()["status"] == "disabled"
    # another department's officer sees nothing of it
    _staff(exchange, "gongan", "ga-officer", "吴警", StaffRole.SECURITY_OFFICER)
    other = _bearer(exchange, client, "gongan", "ga-officer")
    assert client.post("/v1/staff/wj-clerk-9/enable", headers=other).status_code == 404
    entry = exchange.store.fetchone(
        "SELECT actor, person FROM audit_entries WHERE action = 'staff.add' AND target = ?",
        ["wj-clerk-9"],
    )
    assert entry == (exchange.registry.by_code("weijian").uscc, "wj-officer")
    assert code not in str(exchange.store.fetchall("SELECT detail FROM audit_entries"))


def test_an_enrolment_code_works_once_and_totp_roles_get_a_secret(exchange: Exchange) -> None:
    uscc = exchange.registry.by_code("shenji").uscc
    enrolment = exchange.staff.add(
        uscc,
        "sj-auditor-1",
        "郑审",
        frozenset({StaffRole.AUDITOR}),
        actor=exchange.identity.uscc,
    )
    assert enrolment.expires_at > datetime.now(UTC) + timedelta(days=6)
    enrolled = exchange.staff.enrol("sj-auditor-1", enrolment.code, PASSWORD)
    assert enrolled.totp_secret is not None
    assert enrolled.otpauth_uri is not None
    assert enrolled.otpauth_uri.startswith("otpauth://totp/")
    with pytest.raises(AuthError, match="enrolment code"):
        exchange.staff.enrol("sj-auditor-1", enrolment.code, PASSWORD)
    stored = exchange.store.fetchone(
        "SELECT password_hash FROM staff WHERE staff_id = 'sj-auditor-1'"
    )
    assert stored is not None
    assert str(stored[0]).startswith("$argon2id$")
