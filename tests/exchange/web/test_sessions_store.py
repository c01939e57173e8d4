"""Console sessions that fit a working day, and sign-ins (RELIABILITY I1, I2).

A real demo exchange on a real DuckDB file, driven through its real app; the restart
test runs ``govex serve`` as a subprocess twice on one data directory.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient

from exchange.client import ASSERTION_TYPE
from exchange.config import ConsoleSettings, Settings
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.departments.staff import StaffRole
from exchange.server import build_app
from exchange.service import Exchange
from exchange.web.session import SESSION_COOKIE
from exchange.web.sessions_store import SessionStore

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery staple"
HTML = {"accept": "text/html"}
FIGURES = {"foreign_evicted": 0, "sign_ins": 0, "audited": 0}


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    print(
        f"\nI2 foreign sessions evicted {FIGURES['foreign_evicted']}; unaudited sign-ins "
        f"{FIGURES['sign_ins'] - FIGURES['audited']} (of {FIGURES['sign_ins']})"
    )


def _enrolled(exchange: Exchange, code: str, staff_id: str, *roles: StaffRole) -> str | None:
    """Add and enrol a staff member; their TOTP secret (None when their roles need none)."""
    uscc = exchange.registry.by_code(code).uscc
    enrolment = exchange.staff.add(
        uscc, staff_id, f"测试{staff_id}", frozenset(roles), actor=exchange.identity.uscc
    )
    return exchange.staff.enrol(staff_id, enrolment.code, PASSWORD).totp_secret


def _login_csrf(client: TestClient | httpx.Client) -> str:
    page = client.get("/console/login")
    match = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert match is not None
    return match.group(1)


def _sign_in(
    client: TestClient | httpx.Client, staff_id: str, password: str = PASSWORD, totp: str = ""
) -> httpx.Response:
    FIGURES["sign_ins"] += 1
    return client.post(
        "/console/login",
        data={
            "csrf": _login_csrf(client),
            "method": "staff",
            "staff_id": staff_id,
            "password": password,
            "totp": totp,
        },
        follow_redirects=False,
    )


def _signin_entries(exchange: Exchange) -> int:
    row = exchange.store.fetchone(
        "SELECT count(*) FROM audit_entries WHERE action = 'console.signin'"
    )
    return int(row[0]) if row else 0


def test_a_clerk_signs_in_with_password_and_totp_and_every_entry_names_the_clerk(
    exchange: Exchange,
    client: TestClient,
    city: City,
    auth: Callable[[str], dict[str, str]],
) -> None:
    before = _signin_entries(exchange)
    secret = _enrolled(exchange, "weijian", "wj-clerk", StaffRole.CLERK, StaffRole.SECURITY_OFFICER)
    assert secret is not None
    assert _sign_in(client, "wj-clerk").status_code == 401  # no TOTP code
    r = _sign_in(client, "wj-clerk", totp=pyotp.TOTP(secret).now())
    assert r.status_code == 303, r.text
    page = client.get("/console/catalog", headers=HTML)
    assert page.status_code == 200
    assert "wj-clerk" in page.text
    # the console's own request entry names the clerk
    row = exchange.store.fetchone(
        "SELECT actor, person FROM audit_entries WHERE action = 'http.get' "
        "AND target LIKE '/console/catalog%' ORDER BY seq DESC LIMIT 1"
    )
    assert row == (exchange.registry.by_code("weijian").uscc, "wj-clerk")
    # a conditional record (公安 resident ID card), read for the clerk under a grant, by
    # the department's system naming the clerk (act): the read's entry names the clerk too
    r = client.post(
        "/v1/grants",
        headers=auth("weijian"),
        json={
            "resource": "gongan.resident_id_card",
            "fields": ["name"],
            "purposes": ["weijian.newborn_birth"],
            "reason": "test",
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/v1/grants/{r.json()['id']}/decision",
        headers=auth("gongan"),
        json={"approve": True, "reason": "test"},
    )
    assert r.status_code == 200, r.text
    dept = DemoDepartment.load(exchange, "weijian")
    token = client.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": dept.assertion(exchange.tokens.token_endpoint, act="wj-clerk"),
        },
    ).json()["access_token"]
    r = client.get(
        f"/v1/resources/gongan.resident_id_card/records/{city.people[5].id_number}",
        params={"purpose": "weijian.newborn_birth", "case": "CASE-I1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == city.people[5].name
    row = exchange.store.fetchone(
        "SELECT action, person FROM audit_entries WHERE seq = ?", [r.json()["audit_seq"]]
    )
    assert row == ("query", "wj-clerk")
    FIGURES["audited"] += _signin_entries(exchange) - before


def test_idle_and_absolute_expiry(exchange: Exchange) -> None:
    clock = [time.time()]
    store = SessionStore(
        exchange.store,
        exchange.tokens,
        ConsoleSettings(idle_minutes=30, max_hours=10),
        clock=lambda: clock[0],
    )
    uscc = exchange.registry.by_code("gongan").uscc
    session, _ = store.create(uscc, staff_id=None, method="demo")
    # used every 20 minutes, it lives on past the 10-minute token and past 30 minutes
    for _ in range(6):
        clock[0] += 20 * 60
        assert store.get(session.id) is not None
    # idle for 31 minutes, it ends
    clock[0] += 31 * 60
    assert store.get(session.id) is None
    # used every 25 minutes, it still ends 10 hours after sign-in
    session, _ = store.create(uscc, staff_id=None, method="demo")
    started = clock[0]
    while clock[0] + 25 * 60 < started + 10 * 3600:
        clock[0] += 25 * 60
        assert store.get(session.id) is not None
    clock[0] = started + 10 * 3600 + 1
    assert store.get(session.id) is None


def test_one_persons_sign_ins_never_evict_anothers(exchange: Exchange) -> None:
    store = SessionStore(
        exchange.store,
        exchange.tokens,
        ConsoleSettings(sessions_per_person=3, max_sessions=20),
    )
    exchange.store.execute("DELETE FROM console_sessions")
    uscc = exchange.registry.by_code("zhujian").uscc
    others = [store.create(uscc, staff_id="zj-b", method="staff")[0] for _ in range(3)]
    mine = [store.create(uscc, staff_id="zj-a", method="staff")[0] for _ in range(50)]
    FIGURES["foreign_evicted"] += sum(store.get(s.id) is None for s in others)
    assert FIGURES["foreign_evicted"] == 0
    assert store.count("zj-a") == 3
    assert [store.get(s.id) is not None for s in mine[-3:]] == [True, True, True]
    # with the exchange full, a new person is refused; nobody is evicted for them
    for n in range(14):
        store.create(uscc, staff_id=f"zj-c{n}", method="staff")
    with pytest.raises(Exception, match="as many sessions"):
        store.create(uscc, staff_id="zj-late", method="staff")
    FIGURES["foreign_evicted"] += sum(store.get(s.id) is None for s in others)
    assert FIGURES["foreign_evicted"] == 0
    exchange.store.execute("DELETE FROM console_sessions")


def test_brute_force_is_slowed_and_audited(exchange: Exchange) -> None:
    _enrolled(exchange, "shuiwu", "sw-target", StaffRole.CLERK)
    before = _signin_entries(exchange)
    attempts = 0
    with TestClient(build_app(exchange), raise_server_exceptions=False) as client:
        statuses = []
        for n in range(8):
            statuses.append(
                _sign_in(client, "sw-target", password=f"wrong-password-{n}").status_code
            )
            attempts += 1
        # the right password is refused too while the account is throttled
        statuses.append(_sign_in(client, "sw-target").status_code)
        attempts += 1
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 4
    audited = _signin_entries(exchange) - before
    FIGURES["audited"] += audited
    assert audited == attempts
    rows = exchange.store.fetchall(
        "SELECT code, detail FROM audit_entries WHERE action = 'console.signin' "
        "AND target = 'sw-target'"
    )
    assert {r[0] for r in rows} == {"exchange.signin_failed", "exchange.rate_limited"}
    assert not any("wrong-password" in str(r[1]) for r in rows)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    with log.open("a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"govex serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"govex serve did not answer:\n{log.read_text()}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@pytest.mark.slow
def test_a_restart_keeps_sessions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with create_demo(Settings(data=data)) as fresh:
        _enrolled(fresh, "zhujian", "zj-restart", StaffRole.CLERK)
    port, log = _free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    proc = _serve(data, port, log)
    try:
        with httpx.Client(base_url=base) as client:
            assert _sign_in(client, "zj-restart").status_code == 303
            FIGURES["audited"] += 1  # counted below, from the store, once the server stops
            cookie = client.cookies.get(SESSION_COOKIE)
            assert cookie
    finally:
        _stop(proc)
    proc = _serve(data, port, log)
    try:
        with httpx.Client(base_url=base) as client:
            client.cookies.set(SESSION_COOKIE, cookie, path="/console")
            page = client.get("/console/", headers=HTML, follow_redirects=False)
            assert page.status_code == 200, page.headers.get("location")
            assert "zj-restart" in page.text
    finally:
        _stop(proc)
    with Exchange.open(Settings(data=data)) as reopened:
        assert _signin_entries(reopened) == 1
