"""``/docs`` renders offline: Swagger UI comes from the exchange, nothing from outside.

Real Chromium against ``govex serve``; every request to anywhere but the loopback server
is blocked (the 政务外网 has no internet), and the page still lists the API's operations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

pytestmark = pytest.mark.browser


def test_docs_render_the_operations_with_outside_requests_blocked(page: Page, server: str) -> None:
    own = urlsplit(server).netloc
    served: list[str] = []
    blocked: list[str] = []

    def only_the_exchange(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own:
            served.append(urlsplit(url).path)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_the_exchange)
    page.goto(f"{server}/docs")
    page.locator(".opblock").first.wait_for()
    operations = page.locator(".opblock").count()
    token = page.locator(".opblock-post .opblock-summary-path", has_text="/v1/token")
    assert token.count() == 1
    assert page.locator(".btn.authorize").count() == 1  # the bearer scheme is documented
    print(f"/docs offline: {operations} operations, served {sorted(set(served))}, "
          f"blocked {len(blocked)}")  # fmt: skip
    assert operations > 20
    assert blocked == []
    assert {"/docs", "/openapi.json", "/docs/swagger-ui-bundle.js"} <= set(served)
