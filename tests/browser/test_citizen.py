"""A citizen signs in through the real OpenID Connect provider (scripts/oidc.sh) in real
Chromium and sees 不动产登记中心's read of their marriage record — only their own data;
asking for anyone else's report is refused."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from exchange.config import Settings
from exchange.demo.case import MATTER, grant_real_estate
from exchange.demo.city import generate_city
from exchange.demo.setup import create_demo, publish_city
from tests.browser.checks import assert_readable
from tests.browser.conftest import serving
from tests.support import free_port
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, PASSWORD, USER, started_oidc_provider

pytestmark = [pytest.mark.browser, pytest.mark.oidc]

Shoot = Callable[..., None]

MARRIAGE = "minzheng.marriage_registration"
MY_CASE = "BDC-CITIZEN-0001"
OTHER_CASE = "BDC-CITIZEN-0002"


@dataclass(frozen=True)
class CitizenSite:
    url: str
    me: str  # the test citizen's 公民身份号码 (the provider's static user)
    other: str  # someone else's


def _build(data: Path) -> tuple[str, str]:
    """A demo exchange where 不动产登记中心 read two people's marriage records under its grant."""
    city = generate_city()
    exchange = create_demo(Settings(data=data))
    try:
        publish_city(exchange, city)
        grant_real_estate(exchange)
        bdc = exchange.registry.by_code("budongchan").uscc
        me, other = city.couples[0][0].id_number, city.couples[1][0].id_number
        exchange.reader.by_subject(bdc, MARRIAGE, me, purpose=MATTER, case_no=MY_CASE)
        exchange.reader.by_subject(bdc, MARRIAGE, other, purpose=MATTER, case_no=OTHER_CASE)
        exchange.checkpoints.sign_now()
        return me, other
    finally:
        exchange.close()


@pytest.fixture(scope="module")
def citizen_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CitizenSite]:
    folder = tmp_path_factory.mktemp("citizen")
    me, other = _build(folder / "data")
    port = free_port()
    provider = started_oidc_provider([f"http://127.0.0.1:{port}/console/citizen/callback"])
    env = {
        "GOVEX_CITIZEN__ISSUER": provider.issuer,
        "GOVEX_CITIZEN__CLIENT_ID": CLIENT_ID,
        "GOVEX_CITIZEN__CLIENT_SECRET": CLIENT_SECRET,
    }
    try:
        with serving(folder / "data", folder / "serve.log", port=port, env=env) as url:
            yield CitizenSite(url, me, other)
    finally:
        provider.close()


def test_a_citizen_signs_in_through_the_provider_and_sees_the_read_of_their_data(
    page: Page, citizen_site: CitizenSite, shoot: Shoot
) -> None:
    page.goto(f"{citizen_site.url}/console/citizen")
    page.locator("#citizen-signin").click()
    page.wait_for_url(re.compile(r"/interaction/"))  # the provider's own login page
    page.fill("#login", USER)
    page.fill("#password", PASSWORD)
    page.locator("#submit").click()
    page.wait_for_url(f"{citizen_site.url}/console/citizen")

    reads = page.locator("#citizen-reads")
    expect(reads).to_contain_text("信阳市不动产登记中心")
    expect(reads).to_contain_text(MY_CASE)
    expect(reads).not_to_contain_text(OTHER_CASE)
    assert citizen_site.me not in page.content()
    expect(page.locator("#citizen-id")).to_have_text(citizen_site.me[:6] + "*" * 12)
    row = page.locator("#citizen-reads tbody tr").first
    expect(row.locator(".proof-badge")).to_have_attribute("data-proof", "verified")
    row.locator("details.proof summary").click()
    expect(row.locator(".proof-hash").first).to_be_visible()
    assert_readable(page)
    shoot(page, "citizen-my-data")

    page.reload()
    page.emulate_media(media="print")  # printable: no buttons; every proof printed open
    expect(page.locator("#citizen-signout")).to_be_hidden()
    expect(reads).to_be_visible()
    expect(page.locator("#citizen-reads .proof-hash").first).to_be_visible()
    page.emulate_media(media="screen")

    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    refused = page.request.post(
        f"{citizen_site.url}/console/citizen/records",
        form={"csrf": csrf or "", "id": citizen_site.other},
        headers={"Accept": "application/json"},
    )
    assert refused.status == 403
    assert refused.json()["code"] == "exchange.not_your_data"
