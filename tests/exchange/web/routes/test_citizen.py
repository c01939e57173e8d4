"""The citizen's own view (exchange/web/routes/citizen.py), signed in through the real
OpenID Connect provider (scripts/oidc.sh): only their own reads, each with its proof;
anyone else's report refused and audited; a forged or replayed sign-in refused."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from exchange.audit.context import REQUEST, RequestContext
from exchange.audit.leaf import AuditEntry
from exchange.audit.query import EntryFilter, Scope, search
from exchange.catalog.masking import mask_identifier
from exchange.config import CitizenSettings, Settings
from exchange.demo.city import City
from exchange.demo.setup import create_demo, publish_city
from exchange.departments.staff import StaffRole
from exchange.server import build_app
from exchange.service import Exchange
from exchange.web.citizen import CITIZEN_COOKIE, CitizenSessions
from exchange.web.oidc_client import Citizen
from exchange.web.routes.citizen import PAGE_SIZE
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, PASSWORD, USER, OidcProvider

pytestmark = pytest.mark.oidc

RESOURCE = "gongan.resident_id_card"


@pytest.fixture(scope="module")
def exchange(
    tmp_path_factory: pytest.TempPathFactory, city: City, oidc_provider: OidcProvider
) -> Iterator[Exchange]:
    data: Path = tmp_path_factory.mktemp("exchange") / "data"
    citizen = CitizenSettings(
        issuer=oidc_provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    ex = create_demo(Settings(data=data, citizen=citizen))
    publish_city(ex, city)
    yield ex
    ex.close()


@pytest.fixture
def client(exchange: Exchange) -> Iterator[TestClient]:
    """A browser of its own per test (its own cookies)."""
    with TestClient(build_app(exchange), raise_server_exceptions=False) as c:
        yield c


def provider_redirect(client: TestClient, *, password: str = PASSWORD) -> httpx.Response:
    """Begin at the exchange, sign in at the provider; the provider's last answer (the
    redirect back to the exchange, or its login page when refused)."""
    begin = client.get("/console/citizen/login", follow_redirects=False)
    assert begin.status_code == 303, begin.text
    with httpx.Client(timeout=10.0) as idp:
        answer = idp.get(begin.headers["location"])
        while answer.status_code in (302, 303) and "/interaction/" in answer.headers["location"]:
            answer = idp.get(str(answer.url.join(answer.headers["location"])))
        assert 'name="login"' in answer.text, answer.text
        action = re.search(r'action="([^"]+)"', answer.text)
        assert action is not None
        answer = idp.post(
            str(answer.url.join(action.group(1))), data={"login": USER, "password": password}
        )
        while answer.status_code in (302, 303) and "testserver" not in answer.headers["location"]:
            answer = idp.get(str(answer.url.join(answer.headers["location"])))
        return answer


def sign_in(client: TestClient) -> str:
    """Sign a citizen in; the path and query the provider sent the browser back to."""
    back = provider_redirect(client)
    assert back.status_code in (302, 303), back.text
    target = urlsplit(back.headers["location"])
    callback = client.get(f"{target.path}?{target.query}", follow_redirects=False)
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/console/citizen"
    return f"{target.path}?{target.query}"


def entries(exchange: Exchange, action: str) -> list[AuditEntry]:
    """The log's entries of one action, oldest first."""
    found = search(exchange.store, EntryFilter(action=action), Scope.everything(), limit=1000)
    return [stored.entry for stored in found]


def test_a_citizen_sees_every_read_of_their_data_and_nothing_else(
    exchange: Exchange, client: TestClient, city: City
) -> None:
    me = city.couples[0][0]
    other = city.people[7]
    gongan = exchange.registry.by_code("gongan").uscc
    exchange.reader.read(gongan, RESOURCE, me.id_number, purpose="核验身份", case_no="MY-CASE-1")
    exchange.reader.read(gongan, RESOURCE, other.id_number, purpose="核验", case_no="NOT-MINE")
    exchange.checkpoints.sign_now()
    exchange.reader.read(gongan, RESOURCE, me.id_number, purpose="核验身份", case_no="MY-CASE-2")

    sign_in(client)
    page = client.get("/console/citizen")
    assert page.status_code == 200
    assert "我的数据使用记录" in page.text
    assert "MY-CASE-1" in page.text
    assert "MY-CASE-2" in page.text
    assert "NOT-MINE" not in page.text
    assert me.id_number not in page.text  # masked on the page
    assert page.text.index("MY-CASE-2") < page.text.index("MY-CASE-1")  # newest first
    assert "公安局" in page.text
    assert 'data-proof="verified"' in page.text  # the first read, proven in the checkpoint
    assert 'class="small proof-hash"' in page.text
    signed = entries(exchange, "citizen.sign_in")
    assert signed[-1].outcome == "ok"
    assert signed[-1].actor.startswith("citizen:")
    mine = exchange.audit.find_subject_hash(me.id_number)
    reports = entries(exchange, "audit.subject_report")
    assert reports[-1].subject_hash == mine  # the report itself is audited


def test_anyone_elses_report_is_refused_and_audited(
    exchange: Exchange, client: TestClient, city: City
) -> None:
    gongan = exchange.registry.by_code("gongan").uscc
    me = city.couples[0][0].id_number
    others = [p.id_number for p in city.people[8:18] if p.id_number != me]
    for other in others:
        exchange.reader.read(gongan, RESOURCE, other, purpose="核验", case_no="THEIRS-1")
    # someone else's number however written, and a company's credit code
    asked = [*others, others[0].lower(), f" {others[1]} ", city.companies[0].uscc]
    sign_in(client)
    page = client.get("/console/citizen")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    served = audited = 0
    for subject in asked:
        before = len(entries(exchange, "audit.subject_report"))
        answer = client.post(
            "/console/citizen/records",
            data={"csrf": csrf.group(1), "id": subject},
            headers={"Accept": "application/json"},
        )
        if answer.status_code == 200 or "THEIRS-1" in answer.text:
            served += 1
        assert answer.status_code == 403
        assert answer.json()["code"] == "exchange.not_your_data"
        reports = entries(exchange, "audit.subject_report")
        last = reports[-1]
        if (
            len(reports) == before + 1
            and last.outcome == "refused"
            and last.code == "exchange.not_your_data"
            and last.actor.startswith("citizen:")
        ):
            audited += 1
    assert last.subject_hash == exchange.audit.find_subject_hash(city.companies[0].uscc)
    own = client.post("/console/citizen/records", data={"csrf": csrf.group(1), "id": me})
    assert own.status_code == 200
    assert "THEIRS-1" not in own.text
    print(
        f"I3 requests for another subject's report {len(asked)}, foreign reports served "
        f"{served}, refusals audited {audited}/{len(asked)}"
    )
    assert served == 0
    assert audited == len(asked)


def test_a_citizen_session_opens_no_staff_page_and_no_api(client: TestClient) -> None:
    sign_in(client)
    assert client.cookies.get(CITIZEN_COOKIE)
    staff = client.get("/console/audit", headers={"Accept": "text/html"}, follow_redirects=False)
    assert staff.status_code == 303
    assert staff.headers["location"].startswith("/console/login")
    api = client.get("/v1/audit/checkpoint")
    assert api.status_code == 401


def test_a_replayed_or_foreign_sign_in_is_refused_and_audited(
    exchange: Exchange, client: TestClient
) -> None:
    callback = sign_in(client)
    again = client.get(callback, follow_redirects=False)  # the same code and state, again
    assert again.status_code == 401
    assert "exchange.citizen_sign_in_failed" in again.text or "登录失败" in again.text
    # a sign-in begun in another browser cannot be finished in this one
    with TestClient(build_app(exchange), raise_server_exceptions=False) as victim:
        back = provider_redirect(client)
        target = urlsplit(back.headers["location"])
        foreign = victim.get(f"{target.path}?{target.query}", follow_redirects=False)
        assert foreign.status_code == 401
        assert not victim.cookies.get(CITIZEN_COOKIE)
    refused = [e for e in entries(exchange, "citizen.sign_in") if e.outcome == "refused"]
    assert len(refused) >= 2
    assert refused[-1].code == "exchange.citizen_sign_in_failed"


def test_a_wrong_password_at_the_provider_signs_nobody_in(client: TestClient) -> None:
    answer = provider_redirect(client, password="wrong")
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.text
    assert client.get("/console/citizen").text.count("通过统一身份认证登录") >= 1


def test_the_report_pages_back_newest_first(
    exchange: Exchange, client: TestClient, city: City
) -> None:
    me = city.couples[0][0].id_number
    gongan = exchange.registry.by_code("gongan").uscc
    exchange.reader.read(gongan, RESOURCE, me, purpose="核验", case_no="PAGE-OLDEST")
    for _ in range(PAGE_SIZE + 2):
        exchange.reader.read(gongan, RESOURCE, me, purpose="核验", case_no="PAGE-MIDDLE")
    sign_in(client)
    page = client.get("/console/citizen").text
    assert "PAGE-OLDEST" not in page
    seen = page
    more = re.search(r'<p id="more" class="no-print"><a href="([^"]+)"', page)
    assert more is not None
    while more is not None:
        seen = client.get(more.group(1)).text
        more = re.search(r'<p id="more" class="no-print"><a href="([^"]+)"', seen)
    assert "PAGE-OLDEST" in seen


def test_without_a_provider_the_page_says_so(tmp_path: Path) -> None:
    ex = create_demo(Settings(data=tmp_path / "data"))
    try:
        with TestClient(build_app(ex), raise_server_exceptions=False) as c:
            page = c.get("/console/citizen")
            assert page.status_code == 200
            assert "未配置统一身份认证" in page.text
            begin = c.get("/console/citizen/login", follow_redirects=False)
            assert begin.status_code == 404
    finally:
        ex.close()


def test_the_page_names_the_clerk_beside_the_staff_id(
    exchange: Exchange, client: TestClient, city: City
) -> None:
    me = city.couples[0][0].id_number
    gongan = exchange.registry.by_code("gongan").uscc
    exchange.staff.add(
        gongan, "ga-name-1", "李文静", frozenset({StaffRole.CLERK}), actor=exchange.identity.uscc
    )
    acting = REQUEST.set(RequestContext("GET", "/v1/records", "", person="ga-name-1"))
    try:
        exchange.reader.read(gongan, RESOURCE, me, purpose="核验身份", case_no="NAMED-CLERK")
    finally:
        REQUEST.reset(acting)
    sign_in(client)
    page = client.get("/console/citizen").text
    row = page[page.index("NAMED-CLERK") - 2000 : page.index("NAMED-CLERK")]
    assert "李文静 (ga-name-1)" in row


def test_a_restart_keeps_a_citizen_signed_in(
    tmp_path: Path, city: City, oidc_provider: OidcProvider
) -> None:
    """The exchange closed and opened again on its data directory, with a new app: the
    citizen's cookie still opens their report (sessions are rows of the store)."""
    citizen = CitizenSettings(
        issuer=oidc_provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    settings = Settings(data=tmp_path / "data", citizen=citizen)
    masked = mask_identifier(city.couples[0][0].id_number, "cn-id")
    ex = create_demo(settings)
    try:
        with TestClient(build_app(ex), raise_server_exceptions=False) as before:
            sign_in(before)
            cookie = before.cookies.get(CITIZEN_COOKIE)
            assert masked in before.get("/console/citizen").text
    finally:
        ex.close()
    assert cookie
    ex = Exchange.open(settings)
    try:
        with TestClient(build_app(ex), raise_server_exceptions=False) as after:
            after.cookies.set(CITIZEN_COOKIE, cookie, path="/console/citizen")
            page = after.get("/console/citizen")
            assert page.status_code == 200
            assert masked in page.text
            assert "通过统一身份认证登录" not in page.text
            # a made-up cookie opens nothing
            after.cookies.set(CITIZEN_COOKIE, "x" * 43, path="/console/citizen")
            assert masked not in after.get("/console/citizen").text
    finally:
        ex.close()


def test_citizen_sessions_end_when_idle_and_at_their_absolute_end(exchange: Exchange) -> None:
    clock = [time.time()]
    settings = CitizenSettings(session_ttl_s=3600, idle_minutes=15)
    sessions = CitizenSessions(exchange.store, settings)
    sessions.sessions.clock = lambda: clock[0]
    me = Citizen("https://idp.example", "sub-1", "赵浩然", "413023198012147596")
    session = sessions.create(me)
    # the store holds no readable 公民身份号码: the claims are sealed under the session id
    sealed = exchange.store.fetchone(
        "SELECT sealed FROM console_sessions WHERE kind = 'citizen' AND owner LIKE '%sub-1'"
    )
    assert sealed is not None
    assert me.id_number.encode() not in bytes(sealed[0])
    for _ in range(4):  # used every 10 minutes, it lives past 15 minutes
        clock[0] += 10 * 60
        assert sessions.get(session.id) is not None
    clock[0] += 16 * 60  # idle too long
    assert sessions.get(session.id) is None
    session = sessions.create(me)
    started = clock[0]
    while clock[0] + 10 * 60 < started + 3600:
        clock[0] += 10 * 60
        assert sessions.get(session.id) is not None
    clock[0] = started + 3600 + 1
    assert sessions.get(session.id) is None
