"""Fixtures of the console tests: a demo exchange served by ``govex serve``, and Chromium.

``site`` builds the demo city once per session (see :mod:`tests.browser.site`);
``server`` runs ``python -m exchange serve`` on a free loopback port against it, as a
subprocess, and checks that it prints the console's address; ``browser`` launches
Debian's Chromium through Playwright. Without Chromium the browser tests are skipped on
a developer's machine and fail in CI (env ``CI`` set): they must never be skipped
silently there. Every wait is bounded.

``shoot`` saves a screenshot to a temporary folder (``GOVEX_SCREENSHOTS`` names another);
only ``GOVEX_REFRESH_SCREENSHOTS=1 python -m pytest tests/browser`` also copies them to
``docs/screenshots/`` (committed; the README shows them), so a test run never edits the tree.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.browser.site import Site, build_site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
DOCS_SHOTS = ROOT / "docs" / "screenshots"
REFRESH_DOCS = os.environ.get("GOVEX_REFRESH_SCREENSHOTS") == "1"
CHROMIUM = Path(os.environ.get("GOVEX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 412, "height": 915}
TIMEOUT_MS = 15_000
SERVER_START_S = 60.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (browser tests must run in CI; .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("console"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    data: Path, log: Path, *, port: int | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """``govex serve`` on ``data`` (a subprocess on a loopback port): its base URL."""
    port = port or _free_port()
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    environ.update(env or {})
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"govex serve exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"govex serve did not answer in {SERVER_START_S}s:\n{log.read_text()}")
            time.sleep(0.2)
        printed = log.read_text()
        assert f"console: {base}/console/" in printed, printed
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def server(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of ``govex serve`` running the demo site; stopped after the session."""
    with serving(site.data, tmp_path_factory.mktemp("server") / "serve.log") as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def _page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    # a page may be a 403 on purpose; what it loads (styles, scripts, icons) may not fail
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280×800."""
    with _page(browser, WIDE) as fresh:
        yield fresh


@pytest.fixture
def narrow_page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context at a phone's width."""
    with _page(browser, NARROW) as fresh:
        yield fresh


@pytest.fixture
def browser_pages(browser: Browser) -> Iterator[tuple[Page, Page]]:
    """Two independent browsers' pages (two departments signed in at once)."""
    with _page(browser, WIDE) as first, _page(browser, WIDE) as second:
        yield first, second


@pytest.fixture
def sign_in(server: str) -> Callable[[Page, str], None]:
    """Sign ``page`` in as a demo department, through the sign-in form."""

    def go(page: Page, code: str) -> None:
        page.goto(f"{server}/console/login")
        page.select_option("#department", code)
        page.get_by_role("button", name=re.compile("以该部门登录")).click()
        page.wait_for_url(re.compile(r"/console/(?!login)"))

    return go


@pytest.fixture(scope="session")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., None]:
    """Save a screenshot in a temporary folder; to docs/screenshots only when refreshing."""
    named = os.environ.get("GOVEX_SCREENSHOTS")
    folder = Path(named) if named else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    if REFRESH_DOCS:
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Page, name: str, *, docs: bool = True, **options: Any) -> None:
        target = folder / f"{name}.png"
        page.screenshot(path=str(target), **options)
        if docs and REFRESH_DOCS:
            shutil.copyfile(target, DOCS_SHOTS / f"{name}.png")

    return save
