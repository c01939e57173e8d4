"""People in the console (RELIABILITY I1), in real Chromium against ``govex serve``.

The operator adds two staff members with ``govex staff add`` while the exchange runs
(its admin socket); each enrols in the browser with the one-time code and signs in with
password and TOTP. The clerk of 不动产登记中心 resolves a case, which reads 公安's
resident ID cards (a conditional register) under the grant the site holds; the auditor
of 审计局 searches the log by that case and sees the clerk by name on its entries.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from exchange.admin.channel import server_listening
from tests.browser.checks import assert_readable
from tests.browser.site import Site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
CASE_NO = "BDC-STAFF-0001"
CLERK = ("bdc-lina", "李娜", "budongchan", "clerk,approver,security_officer")
AUDITOR = ("sj-wangjing", "王静", "shenji", "auditor")


def _staff_add(data: Path, staff_id: str, name: str, dept: str, roles: str) -> str:
    """``govex staff add`` through the running exchange's admin socket; the enrolment code."""
    deadline = time.monotonic() + 30
    while not server_listening(data / "admin.sock"):
        assert time.monotonic() < deadline, "the admin socket of govex serve is not there"
        time.sleep(0.2)
    args = ["-v", "staff", "add", "--data", str(data), "--dept", dept]
    args += ["--staff-id", staff_id, "--name", name, "--roles", roles]
    done = subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "admin socket" in done.stderr, done.stderr
    code = re.search(rf"enrolment code for {staff_id}: ([0-9A-F-]{{19}})", done.stdout)
    assert code is not None, done.stdout
    return code.group(1)


def _enrol(page: Page, server: str, staff_id: str, code: str) -> str:
    """Enrol in the browser; the TOTP secret the page shows once."""
    page.goto(f"{server}/console/enrol")
    page.fill("#staff_id", staff_id)
    page.fill("#code", code)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name=re.compile("设置密码")).click()
    secret = page.locator("#totp-secret")
    expect(secret).to_be_visible()
    assert_readable(page)
    return secret.inner_text().strip()


def _sign_in(page: Page, server: str, staff_id: str, secret: str) -> None:
    page.goto(f"{server}/console/login")
    page.fill("#staff_id", staff_id)
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    page.get_by_role("button", name=re.compile("^登录")).click()
    page.wait_for_url(re.compile(r"/console/(?!login)"))


def test_a_clerk_reads_under_a_grant_and_the_auditor_sees_the_clerk_by_name(
    browser_pages: tuple[Page, Page], server: str, site: Site
) -> None:
    clerk_page, auditor_page = browser_pages
    clerk_id, clerk_name, *_ = CLERK
    auditor_id = AUDITOR[0]
    clerk_secret = _enrol(clerk_page, server, clerk_id, _staff_add(site.data, *CLERK))
    auditor_secret = _enrol(auditor_page, server, auditor_id, _staff_add(site.data, *AUDITOR))

    # a password without the TOTP code is refused, and the form keeps the staff id
    clerk_page.goto(f"{server}/console/login")
    clerk_page.fill("#staff_id", clerk_id)
    clerk_page.fill("#password", PASSWORD)
    clerk_page.get_by_role("button", name=re.compile("^登录")).click()
    expect(clerk_page).to_have_url(re.compile(r"/console/login"))

    _sign_in(clerk_page, server, clerk_id, clerk_secret)
    expect(clerk_page.locator(".who-person")).to_contain_text(f"{clerk_name} ({clerk_id})")
    clerk_page.goto(f"{server}/console/cases")
    for i, applicant in enumerate(site.applicants):
        clerk_page.select_option(f"#role-{i}", applicant["role"])
        clerk_page.fill(f"#applicant-id-{i}", applicant["id"])
        clerk_page.fill(f"#applicant-name-{i}", applicant["name"])
    clerk_page.fill("#case_no", CASE_NO)
    clerk_page.get_by_role("button", name=re.compile("共享获取材料")).click()
    clerk_page.wait_for_url(re.compile(rf"/console/cases/{CASE_NO}"))
    identity = clerk_page.locator('tr[data-material="buyer_identity"]')  # 公安, conditional
    expect(identity).to_have_attribute("data-status", "obtained")

    _sign_in(auditor_page, server, auditor_id, auditor_secret)
    auditor_page.goto(f"{server}/console/audit")
    auditor_page.fill("#case", CASE_NO)
    auditor_page.get_by_role("button", name=re.compile("^检索")).click()
    auditor_page.wait_for_url(re.compile(r"case="))
    entries = auditor_page.locator("#timeline tbody tr")
    assert entries.count() >= 2
    named = auditor_page.locator("#timeline tbody tr", has_text=clerk_name)
    assert named.count() == entries.count()  # every entry of the case names the clerk
    expect(auditor_page.locator("#timeline")).to_contain_text("经办人")
    assert_readable(auditor_page)
