"""The console as its users read it, over HTTP (no browser): every page as every role.

A demo city (the one the browser tests drive: grants, certificates, a quarantined record,
a refused read, a resolved case) on a real DuckDB file, served in process. No page shows
an API path or a stable error code to a person; forms keep what was typed and say what is
wrong beside the field; a QR picture written by ``govex cert qr`` verifies; the timeline
is paged with its filters in the URL and exports what it shows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from exchange.cases.models import CaseRequest
from exchange.certificates.qr import qr_text, write_qr
from exchange.config import Settings
from exchange.server import build_app
from exchange.service import Exchange
from tests.browser.site import Site, build_site

HTML = {"accept": "text/html"}
ROLES = {
    "dashuju": "operator",
    "gongan": "department",
    "budongchan": "approver",
    "shenji": "auditor",
}


class _Text(HTMLParser):
    """The text a person sees: no tags, attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "title"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("console-pages"))


@pytest.fixture(scope="module")
def exchange(site: Site) -> Iterator[Exchange]:
    ex = Exchange.open(Settings(data=site.data))
    yield ex
    ex.close()


@pytest.fixture
def client(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(build_app(exchange), raise_server_exceptions=False) as c:
        yield c


def _token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]*)"', html)
    assert match is not None
    return match.group(1)


def sign_in(client: TestClient, code: str) -> str:
    login = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={"csrf": _token(login.text), "method": "demo", "department": code},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return _token(client.get("/console/catalog", headers=HTML).text)


def _pages(site: Site, exchange: Exchange) -> list[str]:
    resource = next(iter(d.code for d, _ in exchange.catalog.resources()))
    return [
        "/console/",
        "/console/verify",
        "/console/cases",
        f"/console/cases/{site.resolved_case}",
        "/console/cases/NO-SUCH-CASE",
        "/console/audit",
        f"/console/audit?case={site.resolved_case}",
        "/console/audit?since=not-a-date",
        "/console/audit?subject=110101199003070011",
        "/console/dashboard",
        "/console/catalog",
        f"/console/catalog/{resource}",
        "/console/grants",
        "/console/catalog/no.such_resource",
        "/console/login",
        "/console/enrol",
        "/console/login/oidc?dept=gongan",
        "/console/login/oidc/callback?error=access_denied",
        "/console/citizen",
        "/console/citizen/login",
        "/console/citizen/callback?error=access_denied",
    ]


# GET routes that answer a file or a redirect, not a page a person reads
NOT_PAGES = frozenset(
    {
        "/console/audit/export.{kind}",
        "/console/cases/{case_no}/bundle.json",
        "/console/static",
    }
)


def _forms(site: Site) -> list[tuple[str, dict[str, str | list[str]]]]:
    """Every console form, sent with wrong or empty input: the pages a refusal shows."""
    subject = "110101199003070011"
    return [
        ("/console/audit", {"subject": subject}),
        ("/console/audit/subject", {"subject": subject}),
        ("/console/audit/subject", {"subject": site.resolved_subject}),
        ("/console/verify", {"document": "not a credential"}),
        ("/console/verify", {"document": ""}),
        ("/console/cases", {"matter": site.matter, "case_no": "WALK-1", **_rows(site, 0)}),
        ("/console/cases", {"matter": "no.such_matter", "case_no": "WALK-2"}),
        (
            "/console/grants",
            {"resource": "no.such", "reason": "", "expires_on": "2020-01-01", "purposes": "x"},
        ),
        (
            "/console/grants",
            {
                "resource": "gongan.resident_id_card",
                "reason": "核验",
                "expires_on": "2099-12-31",
                "purposes": "a purpose no matter has",
            },
        ),
        ("/console/grants/NO-SUCH-GRANT/decision", {"answer": "approve"}),
        ("/console/grants/NO-SUCH-GRANT/revocation", {"reason": ""}),
        ("/console/grants/NO-SUCH-GRANT/revocation", {"reason": "不再需要"}),
        ("/console/grants/NO-SUCH-GRANT/narrowing", {"expires_on": "not-a-date"}),
        ("/console/grants/NO-SUCH-GRANT/narrowing", {"reason": "缩小", "fields": ["x"]}),
        ("/console/enrol", {"code": "WRONG-CODE", "password": "x", "password2": "y"}),
        ("/console/login", {"method": "password", "department": "gongan", "password": "x"}),
        ("/console/citizen/records", {}),
    ]


@pytest.mark.parametrize("code", list(ROLES))
def test_no_console_page_shows_an_api_path_or_a_stable_code_to_any_role(
    client: TestClient, site: Site, exchange: Exchange, code: str
) -> None:
    sign_in(client, code)
    shown = 0
    for path in _pages(site, exchange):
        r = client.get(path, headers=HTML)
        assert r.status_code < 500, (path, r.status_code)
        text = visible(r.text)
        assert "/v1/" not in text, (code, path, text)
        assert not re.search(r"\b(exchange|schema|signing|connector)\.[a-z_]+", text), (
            code,
            path,
            re.findall(r"\b(?:exchange|schema|signing|connector)\.[a-z_]+", text),
        )
        assert "Traceback" not in text
        shown += 1
    assert shown == len(_pages(site, exchange))


def _shows_no_api_path_or_code(where: object, r: httpx.Response) -> None:
    assert r.status_code < 500, (where, r.status_code)
    text = visible(r.text)
    assert "/v1/" not in text, (where, text)
    codes = re.findall(r"\b(?:exchange|schema|signing|connector)\.[a-z_]+", text)
    assert not codes, (where, codes, text)
    assert "Traceback" not in text


@pytest.mark.parametrize("code", list(ROLES))
def test_no_form_refusal_shows_an_api_path_or_a_stable_code_to_any_role(
    client: TestClient, site: Site, code: str
) -> None:
    csrf = sign_in(client, code)
    for path, fields in _forms(site):
        r = client.post(path, data={"csrf": csrf, **fields}, headers=HTML)
        _shows_no_api_path_or_code((code, path, fields), r)


def test_the_walk_covers_every_console_page(
    client: TestClient, site: Site, exchange: Exchange
) -> None:
    from fastapi.routing import APIRoute

    walked = _pages(site, exchange)
    posted = {path for path, _ in _forms(site)}
    for route in client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if not path.startswith("/console") or path in NOT_PAGES:
            continue
        assert isinstance(route, APIRoute), path
        if "GET" in route.methods:
            assert any(route.path_regex.match(p.split("?")[0]) for p in walked), path
        if "POST" in route.methods and path not in ("/console/logout", "/console/citizen/logout"):
            assert any(route.path_regex.match(p) for p in posted), path


def test_a_refusal_page_is_chinese_first_and_links_to_the_action(client: TestClient) -> None:
    sign_in(client, "gongan")
    r = client.get("/console/audit", headers=HTML)  # an auditor's page
    assert r.status_code == 403
    text = visible(r.text)
    assert "当前账号没有此功能的权限" in text
    assert text.index("当前账号没有此功能的权限") < text.index("Your account does not hold")
    assert 'data-code="exchange.role_forbidden"' in r.text  # the stable code, not shown
    # the API keeps its stable code
    assert client.get("/console/audit").json()["code"] == "exchange.role_forbidden"


def test_a_missing_grant_names_the_owner_and_links_to_the_request(
    client: TestClient, site: Site, exchange: Exchange
) -> None:
    # 卫健委 holds no grant on 公安局's household register: the material is to bring
    weijian = exchange.tokens.authenticate(
        exchange.tokens.mint(exchange.registry.by_code("weijian").uscc)
    )
    mother = {"role": "mother", "id": site.applicants[0]["id"]}
    exchange.cases.resolve(
        weijian,
        CaseRequest.model_validate(
            {"matter": "weijian.newborn_birth", "applicants": [mother], "case_no": "WJ-GRANT-1"}
        ),
    )
    sign_in(client, "weijian")
    page = client.get("/console/cases/WJ-GRANT-1", headers=HTML).text
    text = visible(page)
    assert "未获授权：请向信阳市公安局申请共享授权" in text
    assert "No approved grant" in text
    # the action: the resource's request form
    assert '<a class="action" href="/console/catalog/gongan.household_register#request-title">' in (
        page
    )
    assert "request one with" not in text


def test_case_times_are_beijing_time(client: TestClient, site: Site) -> None:
    sign_in(client, "budongchan")
    page = client.get(f"/console/cases/{site.resolved_case}", headers=HTML).text
    assert not re.search(r"\dZ\s*</dd>", page)  # not "…Z"
    assert "北京时间" in visible(page)


def _rows(site: Site, bad_index: int) -> dict[str, list[str]]:
    ids = [a["id"] for a in site.applicants] + [""] * 4
    ids = ids[:4]
    wrong = ids[bad_index]
    ids[bad_index] = wrong[:-1] + ("0" if wrong[-1] != "0" else "1")
    roles = [a["role"] for a in site.applicants] + ["applicant"] * 4
    names = [a.get("name") or "" for a in site.applicants] + [""] * 4
    return {"role": roles[:4], "applicant_id": ids, "applicant_name": names[:4]}


def test_a_wrong_check_digit_keeps_every_applicant_row_and_says_so_beside_the_field(
    client: TestClient, site: Site
) -> None:
    csrf = sign_in(client, "budongchan")
    rows = _rows(site, 1)
    r = client.post(
        "/console/cases",
        data={"csrf": csrf, "matter": site.matter, "case_no": "BDC-KEEP-1", **rows},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert "输入有误" not in r.text  # not a whole-page refusal
    for value in rows["applicant_id"] + [n for n in rows["applicant_name"] if n]:
        if value:
            assert f'value="{value}"' in r.text, value
    assert 'value="BDC-KEEP-1"' in r.text
    assert 'id="applicant-1-error"' in r.text
    assert 'id="applicant-0-error"' not in r.text
    assert "证件号码有误" in visible(r.text)


def test_a_reused_case_number_is_refused_beside_it_with_the_applicants_kept(
    client: TestClient, site: Site
) -> None:
    csrf = sign_in(client, "budongchan")
    ids = [a["id"] for a in site.applicants]
    data = {
        "csrf": csrf,
        "matter": site.matter,
        "case_no": site.resolved_case,
        "role": [a["role"] for a in site.applicants],
        "applicant_id": ids,
        "applicant_name": [a.get("name") or "" for a in site.applicants],
    }
    r = client.post("/console/cases", data=data, headers=HTML, follow_redirects=False)
    assert r.status_code == 422
    assert 'id="case_no-error"' in r.text
    assert "该办件编号已使用" in visible(r.text)
    for value in ids:
        assert f'value="{value}"' in r.text


def test_an_empty_verify_is_refused_beside_the_box(client: TestClient) -> None:
    csrf = sign_in(client, "budongchan")
    r = client.post("/console/verify", data={"csrf": csrf, "document": "  "}, headers=HTML)
    assert r.status_code == 422
    assert 'id="document-error"' in r.text
    assert "请粘贴电子证照" in visible(r.text)
    assert 'id="document"' in r.text


def test_the_qr_picture_govex_cert_qr_writes_verifies(
    client: TestClient, site: Site, tmp_path: Path
) -> None:
    credential = json.loads(site.valid_certificate.read_text())
    picture = tmp_path / "c.png"
    write_qr(qr_text(credential), picture)  # what ``govex cert qr --out c.png`` writes
    csrf = sign_in(client, "budongchan")
    r = client.post(
        "/console/verify",
        data={"csrf": csrf, "document": ""},
        files={"upload": ("c.png", picture.read_bytes(), "image/png")},
        headers=HTML,
    )
    assert r.status_code == 200, visible(r.text)
    assert 'data-verdict="valid"' in r.text
    text = visible(r.text)
    assert "性别" in text
    assert re.search(r"性别\s*[男女]", text)  # decoded, not 1 or 2
    assert re.search(r"民族\s*\S+族", text)  # 01 → 汉族


def test_a_picture_without_a_qr_code_is_refused_beside_the_upload(client: TestClient) -> None:
    csrf = sign_in(client, "budongchan")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    r = client.post(
        "/console/verify",
        data={"csrf": csrf, "document": "kept text"},
        files={"upload": ("x.png", png, "image/png")},
        headers=HTML,
    )
    assert r.status_code == 422
    assert 'id="upload-error"' in r.text
    assert "kept text" in r.text


def test_static_files_are_not_audited(client: TestClient, exchange: Exchange) -> None:
    before = exchange.audit.size
    for name in ("console.css", "console.js", "favicon.svg"):
        assert client.get(f"/console/static/{name}").status_code == 200
    assert exchange.audit.size == before


def test_the_timeline_pages_keeps_its_filters_in_the_url_and_exports_them(
    client: TestClient, site: Site
) -> None:
    csrf = sign_in(client, "shenji")
    r = client.post(
        "/console/audit",
        data={"csrf": csrf, "case": site.resolved_case},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/console/audit?case={site.resolved_case}")
    page = client.get(r.headers["location"], headers=HTML)
    assert page.status_code == 200
    seqs = [int(s) for s in re.findall(r'<tr class="[^"]*" data-seq="(\d+)"', page.text)]
    assert seqs
    assert seqs == sorted(seqs, reverse=True)
    oldest_first = client.get(
        f"/console/audit?case={site.resolved_case}&sort=seq", headers=HTML
    ).text
    assert [int(s) for s in re.findall(r'data-seq="(\d+)"', oldest_first)] == sorted(seqs)
    exported = client.get(f"/console/audit/export.csv?case={site.resolved_case}")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows
    assert {row["case_no"] for row in rows} == {site.resolved_case}
    assert {int(row["seq"]) for row in rows} >= set(seqs)
    as_json = client.get(f"/console/audit/export.json?case={site.resolved_case}").json()
    assert [e["seq"] for e in as_json] == [int(row["seq"]) for row in rows]
    # a subject never goes into a URL, the export of a search by subject included
    assert client.get("/console/audit/export.csv?subject=110101199003070011").status_code == 405
    by_subject = client.post(
        "/console/audit/export.json", data={"csrf": csrf, "subject": site.resolved_subject}
    )
    assert by_subject.status_code == 200
    assert by_subject.json()


def test_the_timeline_is_paginated(client: TestClient, exchange: Exchange) -> None:
    sign_in(client, "shenji")
    first = client.get("/console/audit?sort=seq&offset=0", headers=HTML).text
    assert 'rel="next"' in first
    seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"', first)]
    assert len(seqs) == 50
    second = client.get("/console/audit?sort=seq&offset=50", headers=HTML).text
    assert 'rel="prev"' in second
    assert min(int(s) for s in re.findall(r'data-seq="(\d+)"', second)) > max(seqs)


def test_the_operator_sees_departments_quarantine_backlog_freshness_calls_and_measured_materials(
    client: TestClient, exchange: Exchange
) -> None:
    sign_in(client, "dashuju")
    client.get("/console/catalog", headers=HTML)
    r = client.get("/console/dashboard", headers=HTML)
    assert r.status_code == 200
    text = visible(r.text)
    for heading in ("部门、状态与密钥", "隔离记录", "待答复的授权申请", "前置机数据更新情况"):
        assert heading in text
    assert "调用量" in text
    assert "响应时长" in text
    assert "信阳市大数据管理局" in text.split("各部门调用量与响应时长", 1)[1]
    assert "居民身份证" in text.split("前置机数据更新情况", 1)[1]
    # the quarantined record: its reason in Chinese, its ID number masked
    quarantine = text.split("隔离记录（最近 50 条", 1)[1]
    assert "*" in quarantine
    assert not re.search(r"\d{17}[\dX]", quarantine)
    # measured: the resolved case's obtained and to-bring averages, not only the theory
    figures = {f.matter: f for f in exchange.cases.figures()}
    resolved = next(f for f in figures.values() if f.cases)
    row = re.search(rf'<tr data-matter="{resolved.matter}">(.*?)</tr>', r.text)
    assert row is not None
    assert f">{resolved.obtained_avg}<" in row.group(1)
    assert f">{resolved.to_bring_avg}<" in row.group(1)


def test_the_owner_reads_its_grants_by_field_titles_and_matter_names(
    client: TestClient, exchange: Exchange
) -> None:
    from exchange.web.messages import field_title, resource_name

    owner = exchange.registry.by_code("minzheng").uscc
    grant = next(g for g in exchange.grants.grants_for(owner) if g.owner == owner and g.active)
    sign_in(client, "minzheng")
    text = visible(client.get("/console/grants", headers=HTML).text)
    for name in grant.fields:
        assert field_title(name) in text
        if "_" in name:
            assert name not in text, name  # never male_party_id_number
    for matter in grant.purposes:
        assert resource_name(matter) in text
        assert matter not in text, matter


def test_a_case_page_names_materials_and_roles_never_their_codes(
    client: TestClient, site: Site, exchange: Exchange
) -> None:
    sign_in(client, "budongchan")
    text = visible(client.get(f"/console/cases/{site.resolved_case}", headers=HTML).text)
    matter = exchange.cases.matters[site.matter]
    for material in matter.materials:
        assert material.code not in text, material.code  # e.g. buyer_identity
    assert re.search(r"[\u4e00-\u9fff]", text)
