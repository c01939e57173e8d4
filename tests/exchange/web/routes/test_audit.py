"""The console's audit pages (exchange/web/routes/audit.py): the "who used my data" report
is newest first with a visible "more", keeps lookups apart, and escapes every value."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from exchange.demo.city import City
from exchange.service import Exchange
from exchange.web.routes.audit import PAGE_SIZE

Auth = Callable[[str], dict[str, str]]


def _report(client: TestClient, auth: Auth, url: str) -> str:
    r = client.get(url, headers=auth("shenji"))
    assert r.status_code == 200, r.text
    return r.text


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
    page = _report(client, auth, f"/console/audit/subject?id={person}")
    assert "NEWEST-READ" in page  # the newest read is on the first page …
    assert "OLDEST-READ" not in page
    more = re.search(r'<p id="more"><a href="([^"]+)"', page)
    assert more is not None  # … and the older ones are a visible "more" away
    seen = page
    url: str | None = more.group(1).replace("&amp;", "&")
    while url:
        seen = _report(client, auth, url)
        found = re.search(r'<p id="more"><a href="([^"]+)"', seen)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert "OLDEST-READ" in seen
    lookups = _report(client, auth, f"/console/audit/subject?id={person}&kind=lookups")
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
    page = _report(client, auth, f"/console/audit/subject?id={person}")
    assert "[/]" in page
    assert "[bold]x" in page
    assert "&lt;b&gt;y&lt;/b&gt;" in page
    assert "<b>y</b>" not in page
    search = _report(client, auth, "/console/audit?case=ESC-1")
    assert "[bold]x" in search
    assert "<b>y</b>" not in search
