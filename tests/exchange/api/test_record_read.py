"""The read contract (exchange.api.record_read): the person a department requires on its
reads (``require_act``) is part of the authorisation both front doors share."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.api.record_read import authorise_read
from exchange.client import ASSERTION_TYPE
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment
from exchange.departments.auth import Principal
from exchange.departments.staff import StaffRole
from exchange.errors import Forbidden
from exchange.server import build_app
from exchange.service import Exchange
from schemas.errors import ErrorCode

DEPT = "budongchan"
CLERK = "bdc-clerk-1"


@pytest.fixture(scope="module")
def routed(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(build_app(exchange, fast_read=False), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def requires_act(exchange: Exchange) -> Iterator[str]:
    uscc = exchange.registry.by_code(DEPT).uscc
    exchange.staff.set_require_act(uscc, True, actor=exchange.identity.uscc)
    try:
        yield uscc
    finally:
        exchange.staff.set_require_act(uscc, False, actor=exchange.identity.uscc)


def _bearer(exchange: Exchange, client: TestClient, act: str | None) -> dict[str, str]:
    assertion = DemoDepartment.load(exchange, DEPT).assertion(
        exchange.tokens.token_endpoint, act=act
    )
    r = client.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _normalised(response: Any) -> tuple[int, Any]:
    body = response.json()
    body.pop("audit_seq", None)
    return response.status_code, body


def test_authorise_read_refuses_a_read_without_the_person_the_department_requires(
    exchange: Exchange, requires_act: str
) -> None:
    dept = exchange.registry.by_code(DEPT)
    principal = Principal(dept.uscc, dept.code, dept.name, frozenset(dept.roles), "t-1")
    with pytest.raises(Forbidden) as refused:
        authorise_read(exchange, principal)
    assert refused.value.code == ErrorCode.ACT_REQUIRED
    named = dataclasses.replace(principal, person=CLERK)
    assert authorise_read(exchange, named) is named


def test_the_hot_path_and_the_route_refuse_and_answer_alike(
    exchange: Exchange, client: TestClient, routed: TestClient, city: City, requires_act: str
) -> None:
    if exchange.staff.member(CLERK) is None:
        enrolment = exchange.staff.add(
            requires_act, CLERK, "赵敏", frozenset({StaffRole.CLERK}), actor=exchange.identity.uscc
        )
        exchange.staff.enrol(CLERK, enrolment.code, "correct horse battery staple")
    plain, named = _bearer(exchange, client, None), _bearer(exchange, client, CLERK)
    path = f"/v1/resources/shichang.business_licence/records/{city.companies[0].uscc}"
    params = {"purpose": "p.contract", "case": "CASE-RC"}
    answers = []
    for headers in (plain, named):
        before = exchange.audit.size
        fast = client.get(path, params=params, headers=headers)
        middle = exchange.audit.size
        slow = routed.get(path, params=params, headers=headers)
        assert (middle - before, exchange.audit.size - middle) == (1, 1)
        assert _normalised(fast) == _normalised(slow)
        answers.append(fast)
    refused, answered = answers
    assert refused.status_code == 403
    assert refused.json()["code"] == "exchange.act_required"
    assert answered.status_code == 200, answered.text
    row = exchange.store.fetchone(
        "SELECT person FROM audit_entries WHERE seq = ?", [answered.json()["audit_seq"]]
    )
    assert row == (CLERK,)
