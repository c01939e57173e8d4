"""A grant through its whole life in Chromium, at 1366×768 and at a phone's 390×844.

卫健委 resolves a 新生儿出生一件事 case without a grant on 公安局's household register: the
case page says so in Chinese first and links to the request form (item 1). The request
chooses its purpose from the matters, with the matter's fields preselected (item 4); the
owner sees the requested expiry and the answer deadline on the working-day calendar,
approves, then sees the reads made under the grant (its uses), narrows it and revokes it.
The case page and the licence fit a phone (item 6). Screenshots go to ``docs/screenshots/``
only with ``GOVEX_REFRESH_SCREENSHOTS=1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.site import Site
from tests.browser.test_console_people import SIZES

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

RESOURCE = "gongan.household_register"
MATTER = "weijian.newborn_birth"
_CODE = re.compile(r"\b(?:exchange|schema|signing|connector)\.[a-z_]+")
UNTIL = (date.today() + timedelta(days=700)).isoformat()  # within the longest grant
EARLIER = (date.today() + timedelta(days=400)).isoformat()
_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


@pytest.fixture(params=list(SIZES))
def pair(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Page, Page]]:
    """Two browsers (the consumer's, the owner's) at one size: (size name, consumer, owner)."""
    pages: list[Page] = []
    errors: list[str] = []
    contexts = []
    for _ in range(2):
        context = browser.new_context(viewport=SIZES[request.param], locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS * 2)  # a shared machine: slower answers
        context.set_default_navigation_timeout(TIMEOUT_MS * 2)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        contexts.append(context)
        pages.append(page)
    try:
        yield request.param, pages[0], pages[1]
    finally:
        for context in contexts:
            context.close()
    assert errors == [], errors


def _fits(page: Page, where: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{where}: {width}px wide in a {viewport}px window"


def _speaks_to_people(page: Page, where: str) -> None:
    text = page.inner_text("main")
    assert "/v1/" not in text, where
    assert not _CODE.search(text), (where, _CODE.findall(text))


def _resolve(page: Page, server: str, site: Site, case_no: str) -> None:
    page.goto(f"{server}/console/cases?matter={MATTER}")
    page.select_option("#role-0", "mother")
    page.fill("#applicant-id-0", site.applicants[0]["id"])
    page.fill("#case_no", case_no)
    page.get_by_role("button", name=re.compile("共享获取材料")).click()
    page.wait_for_url(re.compile(rf"/console/cases/{re.escape(case_no)}$"))


def test_a_grant_requested_from_a_case_then_used_narrowed_and_revoked_by_its_owner(
    pair: tuple[str, Page, Page],
    server: str,
    site: Site,
    sign_in: Callable[[Page, str], None],
    shoot: Callable[..., None],
) -> None:
    size, consumer, owner = pair
    sign_in(consumer, "weijian")
    sign_in(owner, "gongan")

    # item 1: the missing grant, Chinese first, names the owner and links to the request
    _resolve(consumer, server, site, f"WJ-NOGRANT-{size}")
    row = consumer.locator('#materials tr[data-material="household_register"]')
    assert row.get_attribute("data-status") != "obtained"
    reason = consumer.locator("#to-bring").inner_text()
    assert "未获授权：请向信阳市公安局申请共享授权" in reason
    assert reason.index("未获授权") < reason.index("No approved grant")
    _speaks_to_people(consumer, "case without a grant")
    if size == "phone":
        _fits(consumer, "case page")
    shoot(consumer, f"console-error-action-{size}", full_page=True)
    row.locator("a.action").click()
    consumer.wait_for_url(re.compile(rf"/console/catalog/{RESOURCE}#request-title$"))

    # item 4: the purpose is a matter, its fields preselected; a date for the expiry
    purpose = consumer.locator(f'input[name="purposes"][value="{MATTER}"]')
    purpose.check()
    preselected = consumer.locator('input[name="fields"]:checked').evaluate_all(
        "boxes => boxes.map(b => b.value)"
    )
    assert "household_number" in preselected
    consumer.fill("#reason", "新生儿出生一件事: 核验落户地户籍")
    consumer.fill("#expires_on", UNTIL)
    if size == "phone":
        _fits(consumer, "request form")
    shoot(consumer, f"console-grant-request-{size}", full_page=True)
    consumer.get_by_role("button", name=re.compile("提交申请")).click()
    consumer.wait_for_url(re.compile(r"/console/grants\?done=grt_"))
    grant = consumer.url.rsplit("=", 1)[1]

    # the owner: the requested expiry and the answer deadline (working days), then approve
    owner.goto(f"{server}/console/grants")
    item = owner.locator(f"#grant-{grant}")
    facts = item.inner_text()
    assert UNTIL in facts
    assert "10个工作日" in facts
    assert "新生儿出生一件事" in facts  # the matter by its name
    assert not _SNAKE.search(item.locator("dl").inner_text()), facts  # fields by title
    item.locator("textarea").fill("同意: 仅用于新生儿落户")
    item.get_by_role("button", name=re.compile("批准")).click()
    owner.wait_for_url(re.compile(r"done="))

    # a read under the grant; the owner sees it among the grant's uses
    _resolve(consumer, server, site, f"WJ-GRANT-{size}")
    assert (
        consumer.locator('#materials tr[data-material="household_register"]').get_attribute(
            "data-status"
        )
        == "obtained"
    )
    if size == "phone":
        _fits(consumer, "case page with its evidence")  # item 6: long codes wrap
    shoot(consumer, f"console-case-{size}", full_page=True)
    owner.goto(f"{server}/console/grants")
    active = owner.locator(f"#active-{grant}")
    assert int(active.locator(".uses-count").inner_text()) >= 1
    uses = active.locator("table.uses").inner_text()
    assert f"WJ-GRANT-{size}" in uses
    assert "新生儿出生一件事" in uses
    _speaks_to_people(owner, "grants with uses")
    if size == "phone":
        _fits(owner, "grants page")
    shoot(owner, f"console-grant-uses-{size}", full_page=True)

    # narrow: one field fewer, an earlier expiry
    active.locator("details.narrow summary").click()
    dropped = active.locator('details.narrow input[name="fields"]').last
    dropped_field = dropped.get_attribute("value")
    dropped.uncheck()
    active.locator(f"#until-{grant}").fill(EARLIER)
    active.locator(f"#nreason-{grant}").fill("只保留必要信息项")
    active.get_by_role("button", name=re.compile("缩小")).click()
    owner.wait_for_url(re.compile(r"done="))
    active = owner.locator(f"#active-{grant}")
    kept = active.locator('details.narrow input[name="fields"]').evaluate_all(
        "boxes => boxes.map(b => b.value)"
    )
    assert dropped_field not in kept
    assert EARLIER in active.inner_text()

    # revoke: the grant leaves the approved list; the consumer's next case must bring it
    active.locator(f"#rreason-{grant}").fill("落户核验已完成")
    active.get_by_role("button", name=re.compile("撤销授权")).click()
    owner.wait_for_url(re.compile(r"done="))
    assert owner.locator(f"#active-{grant}").count() == 0
    assert "已撤销" in owner.locator(f"#decided-{grant}").inner_text()
    shoot(owner, f"console-grant-revoked-{size}", full_page=True)
    _resolve(consumer, server, site, f"WJ-REVOKED-{size}")
    assert (
        consumer.locator('#materials tr[data-material="household_register"]').get_attribute(
            "data-status"
        )
        != "obtained"
    )
