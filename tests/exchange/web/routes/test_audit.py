"""The console's audit pages (exchange/web/routes/audit.py): the "who used my data" report
is newest first with a visible "more", keeps lookups apart, and escapes every value; a
subject's ID number goes only in POST forms, never in a URL."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.server import build_app
from exchange.service import Exchange
from exchange.web.routes.audit import PAGE_SIZE

Auth = Callable[[str], dict[str, str]]


def _report(client: TestClient, auth: Auth, url: str) -> str:
    r = client.get(url, headers=auth("shenji"))
    assert r.status_code == 200, r.text
    return r.text


def _signed_in(exchange: Exchange, code: str = "shenji") -> TestClient:
    """A console browser signed in as a demo department (its session cookie and CSRF)."""
    browser = TestClient(build_app(exchange), raise_server_exceptions=False)
    form = browser.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    r = browser.post(
        "/console/login",
        data={"method": "demo", "department": code, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return browser


def _csrf(page: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


def _post_report(browser: TestClient, csrf: str, **fields: str) -> str:
    r = browser.post("/console/audit/subject", data={"csrf": csrf, **fields})
    assert r.status_code == 200, r.text
    return r.text


def _more(page: str) -> dict[str, str] | None:
    """The hidden fields of the report's "more" form, if it has one."""
    form = re.search(r'<div id="more" class="no-print">(.*?)</form>', page, re.S)
    if form is None:
        return None
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))


def test_cheap_calls_do_not_push_reads_off_the_report(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    person = city.people[5].id_number
    gongan = exchange.registry.by_code("gongan").uscc
    first = exchange.reader.read(
        gongan, "gongan.resident_id_card", person, purpose="核验", case_no="OLDEST-READ"
    )
    for _ in range(PAGE_SIZE + 5):  # a department's many cheap reads
        exchange.reader.read(
            gongan, "gongan.resident_id_card", person, purpose="核验", case_no="CHEAP-1"
        )
    newest = exchange.reader.read(
        gongan, "gongan.resident_id_card", person, purpose="核验", case_no="NEWEST-READ"
    )
    assert newest.audit_seq > first.audit_seq
    with _signed_in(exchange) as browser:
        csrf = _csrf(browser.get("/console/audit").text)
        page = _post_report(browser, csrf, subject=person)
        assert "NEWEST-READ" in page  # the newest read is on the first page …
        assert "OLDEST-READ" not in page
        more = _more(page)
        assert more is not None  # … and the older ones are a visible "more" away
        seen = page
        while more is not None:
            assert more["subject"] == person  # in the form's body, not in a URL
            seen = _post_report(browser, **more)
            more = _more(seen)
        assert "OLDEST-READ" in seen
        lookups = _post_report(browser, csrf, subject=person, kind="lookups")
        assert "数据使用报告" in lookups  # the report lookups, on their own page


def test_every_value_is_escaped(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    person = city.people[6].id_number
    gongan = exchange.registry.by_code("gongan").uscc
    for purpose in ("[/]", "[bold]x", "<b>y</b>"):
        exchange.reader.read(
            gongan, "gongan.resident_id_card", person, purpose=purpose, case_no="ESC-1"
        )
    with _signed_in(exchange) as browser:
        page = _post_report(browser, _csrf(browser.get("/console/audit").text), subject=person)
    assert "[/]" in page
    assert "[bold]x" in page
    assert "&lt;b&gt;y&lt;/b&gt;" in page
    assert "<b>y</b>" not in page
    search = _report(client, auth, "/console/audit?case=ESC-1")
    assert "[bold]x" in search
    assert "<b>y</b>" not in search


def test_a_subject_never_travels_in_a_url(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    person = city.people[9].id_number
    for url in (f"/console/audit?subject={person}", f"/console/audit/subject?id={person}"):
        r = client.get(url, headers={**auth("shenji"), "Accept": "application/json"})
        assert r.status_code == 405, url
        assert r.json()["code"] == "exchange.subject_in_url"
        assert "POST" in r.json()["detail"]
    with _signed_in(exchange) as browser:
        page = browser.get("/console/audit").text
        assert '<form method="post" action="/console/audit"' in page
        found = browser.post("/console/audit", data={"csrf": _csrf(page), "subject": person})
        assert found.status_code == 200
        assert 'formaction="/console/audit/subject"' in found.text  # the report: a POST too
        assert person not in re.sub(r'value="[^"]*"', "", found.text)  # only in form values
        forged = browser.post("/console/audit/subject", data={"csrf": "forged", "subject": person})
        assert forged.status_code == 403


def test_page_loads_are_logged_but_the_timeline_shows_the_real_uses(
    exchange: Exchange, city: City
) -> None:
    from exchange.audit.query import EntryFilter, Scope, search

    person = city.people[7].id_number
    gongan = exchange.registry.by_code("gongan").uscc
    read = exchange.reader.read(
        gongan, "gongan.resident_id_card", person, purpose="核验", case_no="REAL-USE-1"
    )
    with _signed_in(exchange) as browser:
        before = exchange.audit.size
        for _ in range(3):
            assert browser.get("/console/catalog").status_code == 200
        # D4: each page load has its entry
        loads = search(
            exchange.store, EntryFilter(page_views=True, first_seq=before), Scope.everything()
        )
        assert [(e.entry.action, e.entry.target) for e in loads] == [
            ("http.get", "/console/catalog")
        ] * 3
        page_seqs = {e.entry.seq for e in loads}

        def shown(url: str) -> set[int]:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            return {int(s) for s in re.findall(r'data-seq="(\d+)"', page.text)}

        default = shown("/console/audit")  # the newest page, without page loads
        assert read.audit_seq in default
        assert not default & page_seqs
        assert 'name="pages" value="1" aria' in browser.get("/console/audit").text  # unticked
        with_pages = browser.get("/console/audit?pages=1").text
        assert page_seqs <= {int(s) for s in re.findall(r'data-seq="(\d+)"', with_pages)}
        assert 'name="pages" value="1" checked' in with_pages
        assert "pages=1" in re.findall(r'href="/console/audit/export.csv\?([^"]*)"', with_pages)[0]
        # the search form keeps the choice in the URL; the exports follow the view
        csrf = _csrf(with_pages)
        moved = browser.post(
            "/console/audit",
            data={"csrf": csrf, "case": "", "pages": "1"},
            follow_redirects=False,
        )
        assert moved.status_code == 303
        assert "pages=1" in moved.headers["location"]
        plain = {e["seq"] for e in browser.get("/console/audit/export.json").json()}
        everything = {e["seq"] for e in browser.get("/console/audit/export.json?pages=1").json()}
        assert read.audit_seq in plain
        assert not plain & page_seqs
        assert page_seqs <= everything
