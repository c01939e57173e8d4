"""The web console in headless Chromium, against ``govex serve`` (issue 7 §7).

Each test signs in through the sign-in page as a demo department and uses the pages
with the mouse or the keyboard, as an approver, auditor, operator or department would.
Screenshots of every page go to a temporary folder (see conftest: refreshing docs/screenshots).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from exchange.certificates.qr import qr_text
from tests.browser.checks import assert_readable
from tests.browser.site import Site

pytestmark = pytest.mark.browser

SignIn = Callable[[Page, str], None]
Shoot = Callable[..., None]


def _verify(page: Page, server: str, text: str) -> None:
    page.goto(f"{server}/console/verify")
    page.fill("#document", text)
    page.get_by_role("button", name=re.compile("^核验")).click()
    page.wait_for_selector("#result")


def _check(page: Page, name: str) -> str:
    """'ok' or 'bad': the outcome of one check in the result list."""
    cls = page.locator(f'#result li[data-check="{name}"]').first.get_attribute("class") or ""
    return cls.removeprefix("check-")


def test_sign_in_page_lists_demo_departments_and_refuses_a_forged_token(
    page: Page, server: str, shoot: Shoot
) -> None:
    page.goto(f"{server}/console/login")
    expect(page.locator("h1")).to_contain_text("登录控制台")
    assert page.locator("#department option").count() == 11
    assert_readable(page)
    shoot(page, "login")
    page.fill("#access_token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    page.get_by_role("button", name=re.compile("使用令牌登录")).click()
    expect(page.locator("#login-error")).to_contain_text("Sign-in refused")
    assert "/console/login" in page.url


def test_a_signed_out_browser_is_sent_to_sign_in_and_back(page: Page, server: str) -> None:
    page.goto(f"{server}/console/catalog")
    assert "/console/login?next=/console/catalog" in page.url
    page.select_option("#department", "gongan")
    page.get_by_role("button", name=re.compile("以该部门登录")).click()
    page.wait_for_url(f"{server}/console/catalog")
    expect(page.locator("h1")).to_contain_text("政务信息资源目录")


def test_keyboard_alone_signs_in_and_reaches_a_page(page: Page, server: str) -> None:
    page.goto(f"{server}/console/login")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip"  # the first stop is "skip to content"
    page.focus("#department")
    page.keyboard.press("Home")
    for _ in range(11):  # arrow down to 审计局, an auditor
        if page.input_value("#department") == "shenji":
            break
        page.keyboard.press("ArrowDown")
    assert page.input_value("#department") == "shenji"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/audit"))
    outline = page.evaluate(
        "(() => { const a = document.querySelector('nav a'); a.focus();"
        " return getComputedStyle(a).outlineStyle; })()"
    )
    assert outline != "none"


def test_verify_shows_a_valid_certificate_as_a_licence_with_its_qr_code(
    page: Page, server: str, site: Site, sign_in: SignIn, shoot: Shoot
) -> None:
    sign_in(page, "budongchan")
    _verify(page, server, site.valid_certificate.read_text())
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "valid")
    for name in ("proof", "issuer_chain", "validity_period", "status", "schema", "identifier"):
        assert _check(page, name) == "ok", name
    expect(page.locator("article.licence h2")).to_have_text("居民身份证")
    expect(page.locator("article.licence svg.qr-code")).to_be_visible()
    assert_readable(page)
    page.locator("#result").scroll_into_view_if_needed()
    shoot(page, "verify")


def test_verify_refuses_a_tampered_certificate_on_its_proof(
    page: Page, server: str, site: Site, sign_in: SignIn, shoot: Shoot
) -> None:
    credential = json.loads(site.valid_certificate.read_text())
    credential["credentialSubject"]["address"] = "河南省信阳市浉河区 (改)"
    sign_in(page, "budongchan")
    _verify(page, server, json.dumps(credential, ensure_ascii=False))
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "invalid")
    assert _check(page, "proof") == "bad"
    expect(page.locator('#result li[data-check="proof"]')).to_contain_text("可能被篡改")
    assert _check(page, "status") == "ok"
    page.locator("#result").scroll_into_view_if_needed()
    shoot(page, "verify-tampered", docs=False)


def test_verify_refuses_a_revoked_certificate_uploaded_as_a_file(
    page: Page, server: str, site: Site, sign_in: SignIn, shoot: Shoot
) -> None:
    sign_in(page, "budongchan")
    page.goto(f"{server}/console/verify")
    page.set_input_files("#upload", str(site.revoked_certificate))
    page.get_by_role("button", name=re.compile("^核验")).click()
    page.wait_for_selector("#result")
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "invalid")
    assert _check(page, "status") == "bad"
    assert _check(page, "proof") == "ok"
    expect(page.locator('#result li[data-check="status"]')).to_contain_text("revoked")
    page.locator("#result").scroll_into_view_if_needed()
    shoot(page, "verify-revoked", docs=False)


def test_qr_text_typed_by_a_scanner_verifies_like_the_document(
    page: Page, server: str, site: Site, sign_in: SignIn
) -> None:
    text = qr_text(json.loads(site.valid_certificate.read_text()))
    sign_in(page, "budongchan")
    page.goto(f"{server}/console/verify")
    page.fill("#document", text)
    page.locator("#document").press("Tab")
    page.keyboard.press("Tab")  # past the file input, to the verify button
    page.keyboard.press("Enter")
    page.wait_for_selector("#result")
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "valid")
    expect(page.locator("article.licence h2")).to_have_text("居民身份证")


def test_a_case_bundle_verifies_with_every_certificate_it_carries(
    page: Page, server: str, site: Site, sign_in: SignIn
) -> None:
    sign_in(page, "budongchan")
    bundle = page.request.get(f"{server}/console/cases/{site.resolved_case}/bundle.json")
    assert bundle.status == 200
    _verify(page, server, bundle.text())
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "valid")
    assert _check(page, "bundle_proof") == "ok"
    assert _check(page, "consistency") == "ok"
    assert page.locator("#result article.licence").count() >= 3

    tampered = json.loads(bundle.text())
    tampered["to_bring"] = []
    _verify(page, server, json.dumps(tampered, ensure_ascii=False))
    expect(page.locator("[data-verdict]")).to_have_attribute("data-verdict", "invalid")
    assert _check(page, "bundle_proof") == "bad"


def test_a_case_resolves_materials_and_lists_what_to_bring(
    page: Page, server: str, site: Site, sign_in: SignIn, shoot: Shoot
) -> None:
    sign_in(page, "budongchan")
    page.goto(f"{server}/console/cases")
    expect(page.locator("#matter-pick")).to_have_value(site.matter)
    for i, applicant in enumerate(site.applicants):
        page.select_option(f"#role-{i}", applicant["role"])
        page.fill(f"#applicant-id-{i}", applicant["id"])
        page.fill(f"#applicant-name-{i}", applicant["name"])
    assert_readable(page)
    page.get_by_role("button", name=re.compile("共享获取材料")).click()
    page.wait_for_url(re.compile(r"/console/cases/[A-Z]"))
    expect(page.locator("#obtained-count")).to_have_text("6")
    expect(page.locator("#to-bring-count")).to_have_text("2")
    expect(page.locator("#to-bring li")).to_have_count(2)
    expect(page.locator('tr[data-material="buyer_identity"]')).to_have_attribute(
        "data-status", "obtained"
    )
    expect(page.locator('tr[data-material="buyer_identity"]')).to_contain_text("核验通过")
    assert_readable(page)
    shoot(page, "case")
    page.emulate_media(media="print")
    expect(page.locator("nav.nav")).to_be_hidden()
    expect(page.locator("#materials")).to_be_visible()


def test_an_audit_search_by_case_shows_each_entry_proven_in_the_checkpoint(
    page: Page, server: str, site: Site, sign_in: SignIn, shoot: Shoot
) -> None:
    sign_in(page, "shenji")
    page.goto(f"{server}/console/audit")
    page.fill("#case", site.resolved_case)
    page.get_by_role("button", name=re.compile("^检索")).click()
    page.wait_for_url(re.compile(r"case="))  # filters stay in the URL (not personal ids)
    expect(page.locator("[data-checkpoint]")).to_have_attribute("data-checkpoint", "verified")
    entries = page.locator("#timeline tbody tr")
    assert entries.count() >= 5
    badges = page.locator("#timeline .proof-badge")
    assert badges.count() == entries.count()
    for i in range(badges.count()):
        assert badges.nth(i).get_attribute("data-proof") == "verified"
    expect(page.locator("#timeline")).to_contain_text("一件事办理")
    assert_readable(page)
    shoot(page, "audit")


def test_who_used_my_data_lists_every_read_of_a_subject(
    page: Page, server: str, site: Site, sign_in: SignIn, shoot: Shoot
) -> None:
    sign_in(page, "shenji")
    page.goto(f"{server}/console/audit")
    page.fill("#subject", site.resolved_subject)
    page.get_by_role("button", name=re.compile("^检索")).click()
    page.get_by_role("button", name=re.compile("谁使用了我的数据")).click()
    page.wait_for_url(re.compile(r"/console/audit/subject"))
    rows = page.locator("#report tbody tr")
    assert rows.count() >= 3
    expect(page.locator("#report")).to_contain_text("信阳市不动产登记中心")
    expect(page.locator("#report")).to_contain_text(site.resolved_case)
    subject = page.locator("dl.facts code").first.inner_text()
    assert subject == site.resolved_subject[:6] + "*" * 12
    assert_readable(page)
    shoot(page, "who-used-my-data")


def test_a_grant_is_requested_by_one_department_and_decided_by_the_owner(
    browser_pages: tuple[Page, Page], server: str, sign_in: SignIn, shoot: Shoot
) -> None:
    consumer, owner = browser_pages
    sign_in(consumer, "shichang")
    consumer.goto(f"{server}/console/catalog/yibao.medical_insurance")
    # the purpose is chosen from the matters that read this resource (its fields preselected)
    consumer.check('input[name="purposes"][value="shichang.business_opening"]')
    consumer.check('input[name="fields"][value="insurance_type"]')
    consumer.check('input[name="fields"][value="status"]')
    consumer.fill("#reason", "企业开办: 核验参保状态")
    consumer.get_by_role("button", name=re.compile("提交申请")).click()
    consumer.wait_for_url(re.compile(r"/console/grants\?done=grt_"))
    grant_id = consumer.url.rsplit("=", 1)[1]
    expect(consumer.locator(f"#mine-{grant_id}")).to_contain_text("待答复")

    sign_in(owner, "yibao")
    owner.goto(f"{server}/console/grants")
    item = owner.locator(f"#grant-{grant_id}")
    expect(item).to_contain_text("信阳市市场监督管理局")
    times = item.locator("time")  # the requested expiry and the answer deadline
    expect(times).to_have_count(2)
    for i in range(2):
        expect(times.nth(i)).to_have_attribute("datetime", re.compile(r"\d{4}-\d{2}-\d{2}"))
    assert_readable(owner)
    shoot(owner, "grants")
    item.locator("textarea").fill("同意: 仅用于企业开办")
    item.get_by_role("button", name=re.compile("批准")).click()
    owner.wait_for_url(re.compile(r"done="))
    expect(owner.locator(f"#decided-{grant_id}")).to_contain_text("已批准")

    consumer.goto(f"{server}/console/grants")
    expect(consumer.locator(f"#mine-{grant_id}")).to_contain_text("同意: 仅用于企业开办")


def test_the_catalog_lists_owner_sharing_type_and_fields(
    page: Page, server: str, sign_in: SignIn, shoot: Shoot
) -> None:
    sign_in(page, "dashuju")
    page.goto(f"{server}/console/catalog")
    rows = page.locator("table.data tbody tr")
    assert rows.count() >= 10
    expect(page.locator("table.data")).to_contain_text("不予共享")
    expect(page.locator("table.data")).to_contain_text("信阳市公安局")
    assert_readable(page)
    shoot(page, "catalog")


def test_the_dashboard_draws_its_charts_and_the_latest_checkpoint(
    page: Page, server: str, sign_in: SignIn, shoot: Shoot
) -> None:
    sign_in(page, "dashuju")
    assert page.url.endswith("/console/dashboard")
    charts = page.locator(".chart svg[role=img]")
    assert charts.count() >= 5
    assert int(page.locator("#exchanges-total").inner_text()) > 0
    assert int(page.locator("#refused-total").inner_text()) >= 1
    assert int(page.locator("#quarantine-total").inner_text()) >= 1
    expect(page.locator("#chart-materials")).to_contain_text("新建商品房转移登记")
    expect(page.locator("[data-checkpoint]")).to_have_attribute("data-checkpoint", "verified")
    assert_readable(page)
    shoot(page, "dashboard")


def test_an_approver_cannot_open_the_audit_page(page: Page, server: str, sign_in: SignIn) -> None:
    sign_in(page, "budongchan")
    expect(page.locator("nav.nav")).not_to_contain_text("审计追溯")
    response = page.goto(f"{server}/console/audit")
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_contain_text("无权访问")
    expect(page.locator("main")).to_contain_text("auditor")


def test_an_auditor_cannot_resolve_cases_or_see_the_dashboard(
    page: Page, server: str, sign_in: SignIn
) -> None:
    sign_in(page, "shenji")
    for path in ("/console/cases", "/console/dashboard", "/console/verify"):
        response = page.goto(f"{server}{path}")
        assert response is not None, path
        assert response.status == 403, path


def test_signing_out_ends_the_session(page: Page, server: str, sign_in: SignIn) -> None:
    sign_in(page, "gongan")
    page.get_by_role("button", name=re.compile("退出")).click()
    page.wait_for_url(re.compile(r"/console/login"))
    page.goto(f"{server}/console/catalog")
    assert "/console/login" in page.url


@pytest.mark.parametrize(
    ("code", "path"),
    [
        ("budongchan", "/console/verify"),
        ("budongchan", "/console/cases"),
        ("shenji", "/console/audit"),
        ("yibao", "/console/grants"),
        ("dashuju", "/console/catalog"),
        ("dashuju", "/console/dashboard"),
    ],
)
def test_each_page_reads_on_a_narrow_screen(
    narrow_page: Page, server: str, sign_in: SignIn, shoot: Shoot, code: str, path: str
) -> None:
    sign_in(narrow_page, code)
    narrow_page.goto(f"{server}{path}")
    assert_readable(narrow_page)
    shoot(narrow_page, f"narrow-{path.rsplit('/', 1)[1]}", docs=False, full_page=True)
