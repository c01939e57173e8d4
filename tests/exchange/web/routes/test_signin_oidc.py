"""通过本单位统一身份认证登录 (exchange/web/routes/signin_oidc.py): a clerk signs in through
their department's own OpenID Connect provider — the real provider of scripts/oidc.sh —
and gets the same session as a password sign-in; a staff id of another department, a
disabled account, a replayed or foreign callback are refused, and all of it audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from exchange.admin.operations import Operator, run_operation
from exchange.audit.leaf import AuditEntry
from exchange.audit.query import EntryFilter, Scope, search
from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.departments.staff import StaffRole
from exchange.server import build_app
from exchange.service import Exchange
from exchange.web.session import SESSION_COOKIE
from tests.support.oidc import (
    AUDITOR_ID,
    AUDITOR_OTP,
    AUDITOR_PASSWORD,
    AUDITOR_USER,
    STAFF_CLIENT_ID,
    STAFF_CLIENT_SECRET,
    STAFF_ID,
    STAFF_PASSWORD,
    STAFF_USER,
    OidcProvider,
)

pytestmark = pytest.mark.oidc

OPERATOR = Operator("local-operator", None, "direct")
HTML = {"accept": "text/html"}
LINK = "通过本单位统一身份认证登录"


@pytest.fixture(scope="module")
def exchange(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: OidcProvider
) -> Iterator[Exchange]:
    data: Path = tmp_path_factory.mktemp("exchange") / "data"
    ex = create_demo(Settings(data=data))
    gongan = ex.registry.by_code("gongan").uscc
    enrolment = ex.staff.add(
        gongan, STAFF_ID, "孙立民", frozenset({StaffRole.CLERK}), actor=ex.identity.uscc
    )
    ex.staff.enrol(STAFF_ID, enrolment.code, "correct horse battery staple")
    shenji = ex.registry.by_code("shenji").uscc
    enrolment = ex.staff.add(
        shenji, AUDITOR_ID, "周雅琴", frozenset({StaffRole.AUDITOR}), actor=ex.identity.uscc
    )
    ex.staff.enrol(AUDITOR_ID, enrolment.code, "correct horse battery staple")
    for dept in ("gongan", "minzheng", "shenji"):  # the same provider, for three departments
        run_operation(
            ex,
            "staff.oidc",
            {
                "dept": dept,
                "issuer": oidc_provider.issuer,
                "client_id": STAFF_CLIENT_ID,
                "client_secret": STAFF_CLIENT_SECRET,
            },
            OPERATOR,
        )
    yield ex
    ex.close()


@pytest.fixture
def client(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(build_app(exchange), raise_server_exceptions=False) as c:
        yield c


def back_from_provider(
    client: TestClient,
    dept: str,
    user: str = STAFF_USER,
    password: str = STAFF_PASSWORD,
    otp: str = "",
) -> str:
    """Begin at the exchange, sign in at the provider: where it sends the browser back."""
    begin = client.get(f"/console/login/oidc?dept={dept}", follow_redirects=False)
    assert begin.status_code == 303, begin.text
    with httpx.Client(timeout=10.0) as idp:
        answer = idp.get(begin.headers["location"])
        while answer.status_code in (302, 303) and "/interaction/" in answer.headers["location"]:
            answer = idp.get(str(answer.url.join(answer.headers["location"])))
        action = re.search(r'action="([^"]+)"', answer.text)
        assert action is not None, answer.text
        answer = idp.post(
            str(answer.url.join(action.group(1))),
            data={"login": user, "password": password, "otp": otp},
        )
        while answer.status_code in (302, 303) and "testserver" not in answer.headers["location"]:
            answer = idp.get(str(answer.url.join(answer.headers["location"])))
    assert answer.status_code in (302, 303), answer.text
    target = urlsplit(answer.headers["location"])
    return f"{target.path}?{target.query}"


def signins(exchange: Exchange) -> list[AuditEntry]:
    found = search(
        exchange.store, EntryFilter(action="console.signin"), Scope.everything(), limit=1000
    )
    return [s.entry for s in found if (s.entry.detail or {}).get("method") == "oidc"]


def test_a_clerk_signs_in_through_the_departments_own_provider(
    exchange: Exchange, client: TestClient
) -> None:
    page = client.get("/console/login")
    assert LINK in page.text
    assert "/console/login/oidc?dept=gongan" in page.text
    callback = back_from_provider(client, "gongan")
    assert callback.startswith("/console/login/oidc/callback?")
    signed_in = client.get(callback, follow_redirects=False)
    assert signed_in.status_code == 200, signed_in.text
    assert client.cookies.get(SESSION_COOKIE)
    home = re.search(r'id="continue" href="([^"]+)"', signed_in.text)
    assert home is not None
    landed = client.get(home.group(1), headers=HTML, follow_redirects=False)
    assert landed.status_code == 200, landed.text
    session = exchange.store.fetchone(
        "SELECT staff_id, method, uscc FROM console_sessions WHERE kind = 'console' "
        "ORDER BY created_at DESC LIMIT 1"
    )
    assert session == (STAFF_ID, "oidc", exchange.registry.by_code("gongan").uscc)
    last = signins(exchange)[-1]
    assert (last.outcome, last.person) == ("ok", STAFF_ID)
    # the console's own requests name the clerk too
    pages = search(
        exchange.store, EntryFilter(action="token.issue"), Scope.everything(), limit=1000
    )
    assert pages[-1].entry.person == STAFF_ID


def test_another_departments_staff_id_or_a_disabled_account_is_refused(
    exchange: Exchange, client: TestClient
) -> None:
    before = len(signins(exchange))
    # the provider names a 公安局 clerk, but the sign-in is for 民政局
    refused = client.get(back_from_provider(client, "minzheng"), follow_redirects=False)
    assert refused.status_code == 401
    assert "no active staff member of this department" in refused.text
    assert not client.cookies.get(SESSION_COOKIE)
    gongan = exchange.registry.by_code("gongan").uscc
    exchange.staff.set_status(gongan, STAFF_ID, False, actor=exchange.identity.uscc)
    try:
        disabled = client.get(back_from_provider(client, "gongan"), follow_redirects=False)
    finally:
        exchange.staff.set_status(gongan, STAFF_ID, True, actor=exchange.identity.uscc)
    assert disabled.status_code == 401
    assert not client.cookies.get(SESSION_COOKIE)
    audited = signins(exchange)[before:]
    assert [(e.outcome, e.code) for e in audited] == [
        ("refused", "exchange.signin_failed"),
        ("refused", "exchange.signin_failed"),
    ]
    assert audited[0].actor == exchange.registry.by_code("minzheng").uscc


def test_a_replayed_or_foreign_callback_is_refused(exchange: Exchange, client: TestClient) -> None:
    callback = back_from_provider(client, "gongan")
    assert client.get(callback, follow_redirects=False).status_code == 200
    again = client.get(callback, follow_redirects=False)
    assert again.status_code == 401
    with TestClient(build_app(exchange), raise_server_exceptions=False) as victim:
        foreign = victim.get(back_from_provider(client, "gongan"), follow_redirects=False)
        assert foreign.status_code == 401
        assert not victim.cookies.get(SESSION_COOKIE)


def test_a_department_without_a_provider_is_not_offered(client: TestClient) -> None:
    page = client.get("/console/login")
    assert "/console/login/oidc?dept=zhujian" not in page.text
    begin = client.get("/console/login/oidc?dept=zhujian", follow_redirects=False)
    assert begin.status_code == 404
    assert "no identity provider of its own" in begin.text


def test_an_auditor_needs_a_second_factor_the_provider_attests(
    exchange: Exchange, client: TestClient
) -> None:
    """An auditor (TOTP at a password sign-in) signed in at the provider by password alone
    (``amr`` ``["pwd"]``) is refused; with the provider's one-time code as well
    (``["pwd", "otp"]``) signed in."""
    callback = back_from_provider(client, "shenji", AUDITOR_USER, AUDITOR_PASSWORD)
    refused = client.get(callback, follow_redirects=False)
    assert refused.status_code == 401
    assert "need a second factor" in refused.text
    assert not client.cookies.get(SESSION_COOKIE)
    last = signins(exchange)[-1]
    assert (last.outcome, last.actor) == ("refused", exchange.registry.by_code("shenji").uscc)
    callback = back_from_provider(client, "shenji", AUDITOR_USER, AUDITOR_PASSWORD, AUDITOR_OTP)
    assert client.get(callback, follow_redirects=False).status_code == 200
    assert client.cookies.get(SESSION_COOKIE)
    last = signins(exchange)[-1]
    assert (last.outcome, last.person) == ("ok", AUDITOR_ID)
