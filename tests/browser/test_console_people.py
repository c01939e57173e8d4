"""The console for the people who use it, in Chromium at 1366×768 and at a phone's 390×844.

Against ``govex serve`` on the demo city (:mod:`tests.browser.site`): every page as every
role shows no API path and no untranslated stable code, and never scrolls sideways on a
phone; the case form keeps its four applicant rows after a wrong check digit; the QR
picture ``govex cert qr`` writes verifies and the licence stacks on a phone; the auditor's
timeline sorts, pages and exports with its filters in the URL, and leaves the console's
page loads out unless 显示页面访问 is ticked; the operator sees
departments, quarantine, grant backlog, connector freshness and call figures.
Screenshots go to ``docs/screenshots/`` only with ``GOVEX_REFRESH_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from exchange.certificates.qr import qr_text, write_qr
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.site import Site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
ROLES = ("dashuju", "gongan", "budongchan", "shenji")
_CODE = re.compile(r"\b(?:exchange|schema|signing|connector)\.[a-z_]+")


@pytest.fixture(params=list(SIZES))
def sized(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Page]]:
    """A fresh browser context at 1366×768 or 390×844: (size name, page)."""
    context = browser.new_context(
        viewport=SIZES[request.param], locale="zh-CN", accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield request.param, page
    finally:
        context.close()
    assert errors == [], errors


def _no_sideways_scroll(page: Page, where: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{where}: {width}px wide in a {viewport}px window"


def _pages(site: Site) -> list[str]:
    return [
        "/console/",
        "/console/verify",
        "/console/cases",
        f"/console/cases/{site.resolved_case}",
        "/console/audit",
        f"/console/audit?case={site.resolved_case}",
        "/console/dashboard",
        "/console/catalog",
        "/console/catalog/gongan.resident_id_card",
        "/console/grants",
    ]


@pytest.mark.parametrize("code", ROLES)
def test_every_page_as_every_role_speaks_to_people_and_fits_a_phone(
    sized: tuple[str, Page],
    server: str,
    site: Site,
    sign_in: Callable[[Page, str], None],
    code: str,
) -> None:
    size, page = sized
    sign_in(page, code)
    walked = 0
    for path in _pages(site):
        page.goto(f"{server}{path}")
        text = page.inner_text("body")
        assert "/v1/" not in text, (code, path)
        assert not _CODE.search(text), (code, path, _CODE.findall(text))
        if size == "phone":
            _no_sideways_scroll(page, f"{code} {path}")
        walked += 1
    assert walked == len(_pages(site))


def test_a_wrong_check_digit_keeps_the_four_applicant_rows(
    sized: tuple[str, Page],
    server: str,
    site: Site,
    sign_in: Callable[[Page, str], None],
    shoot: Callable[..., None],
) -> None:
    size, page = sized
    sign_in(page, "budongchan")
    page.goto(f"{server}/console/cases")
    ids = [a["id"] for a in site.applicants][:2]
    wrong = ids[0][:-1] + ("0" if ids[0][-1] != "0" else "1")
    typed = [*ids, wrong, ""]
    for i, value in enumerate(typed):
        if value:
            page.fill(f"#applicant-id-{i}", value)
            page.fill(f"#applicant-name-{i}", f"申请人{i + 1}")
    page.fill("#case_no", f"BDC-KEEP-{size}")
    with page.expect_response(re.compile(r"/console/cases$")) as answer:
        page.get_by_role("button", name=re.compile("共享获取材料")).click()
    assert answer.value.status == 422
    page.wait_for_selector("#applicant-2-error")
    assert "输入有误" not in page.inner_text("main")
    for i, value in enumerate(typed):
        assert page.input_value(f"#applicant-id-{i}") == value
        assert page.input_value(f"#applicant-name-{i}") == (f"申请人{i + 1}" if value else "")
    assert page.input_value("#case_no") == f"BDC-KEEP-{size}"
    error = page.locator("#applicant-2-error")
    assert "证件号码有误" in error.inner_text()
    # beside its row: the error sits right under the wrong number, above the next row
    row = page.locator(".applicant-row").nth(2).bounding_box()
    box = error.bounding_box()
    assert row is not None
    assert box is not None
    assert row["y"] <= box["y"] <= row["y"] + row["height"]
    if size == "phone":
        _no_sideways_scroll(page, "case form")
    shoot(page, f"console-case-form-error-{size}", full_page=True)


def test_the_qr_picture_verifies_and_the_licence_stacks_on_a_phone(
    sized: tuple[str, Page],
    server: str,
    site: Site,
    sign_in: Callable[[Page, str], None],
    shoot: Callable[..., None],
    tmp_path: Path,
) -> None:
    size, page = sized
    credential: dict[str, Any] = json.loads(site.valid_certificate.read_text())
    picture = tmp_path / "card.png"
    write_qr(qr_text(credential), picture)  # what ``govex cert qr --out card.png`` writes
    sign_in(page, "budongchan")
    page.goto(f"{server}/console/verify")
    camera = page.locator("#camera")
    assert camera.get_attribute("capture") == "environment"
    assert camera.get_attribute("accept") == "image/*"
    assert camera.is_visible() == (size == "phone")
    page.set_input_files("#upload", str(picture))
    page.get_by_role("button", name=re.compile("^核验")).click()
    page.wait_for_selector("[data-verdict=valid]")
    licence = page.locator("article.licence")
    text = licence.inner_text()
    assert re.search(r"性别\s*[男女]", text)
    assert re.search(r"民族\s*\S+族", text)
    dl = licence.locator("dl").bounding_box()
    qr = licence.locator("figure.qr").bounding_box()
    assert dl is not None
    assert qr is not None
    if size == "phone":
        assert qr["y"] >= dl["y"] + dl["height"] - 1  # stacked: the QR code under the facts
        _no_sideways_scroll(page, "licence")
    else:
        assert qr["x"] >= dl["x"] + dl["width"] - 1  # side by side
    shoot(page, f"console-verify-qr-{size}", full_page=True)


def test_an_empty_verify_says_so_beside_the_box(
    sized: tuple[str, Page], server: str, sign_in: Callable[[Page, str], None]
) -> None:
    _, page = sized
    sign_in(page, "budongchan")
    page.goto(f"{server}/console/verify")
    page.get_by_role("button", name=re.compile("^核验")).click()
    page.wait_for_selector("#document-error")
    assert "请粘贴电子证照" in page.inner_text("#document-error")


def test_the_auditor_sorts_pages_and_exports_the_timeline(
    sized: tuple[str, Page],
    server: str,
    site: Site,
    sign_in: Callable[[Page, str], None],
    shoot: Callable[..., None],
) -> None:
    size, page = sized
    sign_in(page, "shenji")
    page.goto(f"{server}/console/audit")
    page.fill("#case", site.resolved_case)
    page.get_by_role("button", name=re.compile("^检索")).click()
    page.wait_for_url(re.compile(rf"/console/audit\?case={site.resolved_case}"))
    seqs = [
        int(s)
        for s in page.locator("#timeline tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.seq)"
        )
    ]
    assert seqs
    assert seqs == sorted(seqs, reverse=True)
    if size == "phone":  # the table's head is hidden on a phone: the sort links above it
        page.click("#sort-seq")
    else:
        page.locator("#timeline thead th").first.locator("a").click()
    page.wait_for_url(re.compile(r"sort=seq"))
    assert f"case={site.resolved_case}" in page.url  # the filter stays in the URL
    ascending = [
        int(s)
        for s in page.locator("#timeline tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.seq)"
        )
    ]
    assert ascending == sorted(seqs)
    with page.expect_download() as download:
        page.click("#export-csv")
    body = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert body.splitlines()[0].startswith("seq,ts_beijing")
    assert len(body.splitlines()) - 1 >= len(seqs)
    assert "北京时间" in page.inner_text("main")
    shoot(page, f"console-audit-timeline-{size}", full_page=size == "desktop")
    page.goto(f"{server}/console/audit?sort=seq&offset=0")
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"offset=50"))


def test_the_timeline_leaves_page_loads_out_unless_the_auditor_asks(
    sized: tuple[str, Page], server: str, sign_in: Callable[[Page, str], None]
) -> None:
    _, page = sized
    sign_in(page, "shenji")
    page.goto(f"{server}/console/catalog")  # a page load: audited (D4), not a use of data
    page.goto(f"{server}/console/audit")
    loads = page.locator('#timeline tr[data-action="http.get"] span[title^="/console"]')
    assert not page.is_checked("#pages")
    assert loads.count() == 0
    page.check("#pages")
    page.get_by_role("button", name=re.compile("^检索")).click()
    page.wait_for_url(re.compile(r"pages=1"))  # the choice is kept in the URL
    assert page.is_checked("#pages")
    assert loads.count() > 0


def test_the_operator_sees_what_a_big_data_bureau_reports(
    sized: tuple[str, Page],
    server: str,
    sign_in: Callable[[Page, str], None],
    shoot: Callable[..., None],
) -> None:
    size, page = sized
    sign_in(page, "dashuju")
    page.goto(f"{server}/console/dashboard")
    for section in ("#calls", "#departments", "#backlog", "#freshness", "#quarantine"):
        assert page.locator(section).is_visible()
    assert "调用量" in page.inner_text("#calls")
    assert "信阳市公安局" in page.inner_text("#freshness")
    quarantine = page.inner_text("#quarantine")
    assert "*" in quarantine
    assert not re.search(r"\d{17}[\dX]", quarantine)
    assert "obtained" in page.inner_text("#chart-materials").lower()
    if size == "phone":
        _no_sideways_scroll(page, "dashboard")
    shoot(page, f"console-operator-{size}", full_page=True)
