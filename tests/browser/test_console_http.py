"""The console's sessions, CSRF protection and security headers, over HTTP (no browser).

A real demo exchange on a real DuckDB file, driven through the app in process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from exchange.api.deps import PUBLIC_PATHS
from exchange.config import Settings, SigningSettings
from exchange.demo.setup import create_demo, demo_departments, publish_city
from exchange.keyring import default_identity
from exchange.server import build_app
from exchange.service import Exchange
from exchange.web import CONSOLE_PUBLIC_PATHS
from exchange.web.charts import Series, bars, nice_ceiling, stacked_columns
from exchange.web.pages import safe_next
from exchange.web.session import SESSION_COOKIE, SessionStore

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    ex = create_demo(Settings(data=tmp_path_factory.mktemp("console-http") / "data"))
    publish_city(ex)
    yield ex
    ex.close()


@pytest.fixture
def client(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(build_app(exchange), raise_server_exceptions=False) as c:
        yield c


def _form_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]*)"', html)
    assert match is not None
    return match.group(1)


def _sign_in(client: TestClient, code: str) -> str:
    """Sign in with the demo picker; return the CSRF token of the signed-in session."""
    login = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"csrf": _form_token(login.text), "method": "demo", "department": code},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return _form_token(client.get("/console/catalog", headers=HTML).text)


def test_sign_in_sets_a_strict_httponly_console_cookie_that_expires_with_the_token(
    client: TestClient, exchange: Exchange
) -> None:
    login = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"csrf": _form_token(login.text), "method": "demo", "department": "shenji"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/console/audit"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 0 < max_age <= exchange.settings.api.access_token_ttl_s
    # the cookie holds a random session id, not the access token
    value = cookie.split(";")[0].split("=", 1)[1]
    assert "." not in value
    assert len(value) >= 40


def test_the_session_cookie_is_not_a_credential_for_the_api(client: TestClient) -> None:
    _sign_in(client, "budongchan")
    session_id = client.cookies.get(SESSION_COOKIE) or ""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, session_id)  # sent everywhere, not only to /console
    assert client.get("/console/catalog", headers=HTML).status_code == 200
    r = client.get("/v1/resources")
    assert r.status_code == 401
    assert r.json()["code"] == "exchange.unauthenticated"


def test_a_form_without_the_session_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, exchange: Exchange
) -> None:
    _sign_in(client, "shichang")
    before = len(exchange.grants.grants_for(exchange.registry.by_code("shichang").uscc))
    form = {
        "resource": "yibao.medical_insurance",
        "fields": ["status"],
        "purposes": "shichang.business_opening",
        "reason": "r",
        "expires_on": "2099-01-01",
    }
    for token in ("", "not-the-token"):
        r = client.post("/console/grants", data={**form, "csrf": token}, headers=HTML)
        assert r.status_code == 403
        assert "CSRF" in r.text
    after = len(exchange.grants.grants_for(exchange.registry.by_code("shichang").uscc))
    assert after == before


def test_the_sign_in_form_needs_its_double_submit_token(client: TestClient) -> None:
    client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"csrf": "forged", "method": "demo", "department": "shenji"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_a_pasted_access_token_signs_in_and_a_forged_one_does_not(
    client: TestClient, exchange: Exchange
) -> None:
    token = exchange.tokens.mint(exchange.registry.by_code("dashuju").uscc)
    login = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"csrf": _form_token(login.text), "method": "token", "access_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/console/dashboard"

    client.cookies.clear()
    login = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"csrf": _form_token(login.text), "method": "token", "access_token": token[:-4]},
        follow_redirects=False,
    )
    assert r.status_code == 401
    assert "Sign-in refused" in r.text


def test_an_expired_session_sends_the_browser_back_to_sign_in(
    client: TestClient, exchange: Exchange
) -> None:
    store: SessionStore = client.app.state.console_sessions  # type: ignore[attr-defined]
    uscc = exchange.registry.by_code("gongan").uscc
    session, _ = store.create(uscc, staff_id=None, method="token", expires_at=time.time() - 1)
    client.cookies.set(SESSION_COOKIE, session.id, path="/console")
    r = client.get("/console/catalog", headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?next=/console/catalog&expired=1"
    assert store.get(session.id) is None


def test_signing_out_ends_the_session_on_the_server(client: TestClient) -> None:
    csrf = _sign_in(client, "gongan")
    old = client.cookies.get(SESSION_COOKIE)
    r = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set(SESSION_COOKIE, old or "", path="/console")
    r = client.get("/console/catalog", headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login")


def test_console_pages_refuse_api_clients_with_problem_json(client: TestClient) -> None:
    r = client.get("/console/audit")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_role_the_page_does_not_allow_gets_a_403_page(client: TestClient) -> None:
    _sign_in(client, "budongchan")
    r = client.get("/console/audit", headers=HTML)
    assert r.status_code == 403
    assert "无权访问" in r.text
    assert "exchange.role_forbidden" in r.text


def test_pages_forbid_framing_inline_scripts_and_caching(client: TestClient) -> None:
    r = client.get("/console/login")
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text
    assert client.get("/console/static/console.css").status_code == 200


def test_the_demo_picker_exists_only_in_a_demo_exchange(tmp_path: Path) -> None:
    settings = Settings(
        data=tmp_path / "data",
        signing=SigningSettings(key_passphrase=SecretStr("a passphrase of a real exchange")),
    )
    departments = demo_departments()
    identity = default_identity("测试平台", "411500", departments[0].uscc, demo=False)
    with Exchange.init(settings, identity, departments) as real, TestClient(build_app(real)) as c:
        login = c.get("/console/login")
        assert 'name="department"' not in login.text
        r = c.post(
            "/console/login",
            data={"csrf": _form_token(login.text), "method": "demo", "department": "shenji"},
            follow_redirects=False,
        )
        assert r.status_code == 403
        assert "demo exchange" in r.text
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/console/audit?case=X", "/console/audit?case=X"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/v1/resources", "/console/"),
        ("/console/\\evil", "/console/"),
        (None, "/console/"),
    ],
)
def test_after_sign_in_only_console_paths_are_followed(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_axis_tops_are_round_numbers_of_equal_steps() -> None:
    assert [nice_ceiling(v) for v in (0, 3, 5, 33, 40, 41, 999)] == [4, 4, 8, 40, 40, 80, 2000]


def test_chart_text_is_escaped_and_charts_scale_with_a_viewbox() -> None:
    svg = str(stacked_columns("t<x>", ["d1"], [Series("<script>", [3])]))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert 'viewBox="0 0 640 320"' in svg
    assert "style=" not in svg
    empty = str(bars("nothing", [("a", 0)], empty="no data"))
    assert "no data" in empty


def test_only_the_sign_in_page_and_static_files_are_public() -> None:
    assert CONSOLE_PUBLIC_PATHS <= PUBLIC_PATHS
    assert {p for p in PUBLIC_PATHS if p.startswith("/console")} == CONSOLE_PUBLIC_PATHS
