"""The staff pages and the landing pages in Debian's chromium, against `safepassage serve`, in
one browser session: the enrolment page's QR code read back by a barcode reader, and axe-core
(axe-playwright-python) finding no accessibility violation of any impact on the enrolment page,
the admin's service page, the staff list and its new-account form (also with an error), a
member's page with their one-time password, and the analyst's overview."""

from __future__ import annotations

import io
import re

import pytest

from tests.browser_support import ARTIFACTS, skip_without_chromium
from tests.server import Platform

pytestmark = pytest.mark.browser
skip_without_chromium()

import zxingcpp  # noqa: E402
from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import Browser, Page  # noqa: E402

from tests.console_browser import choose_password, totp_now  # noqa: E402

AXE = Axe()


def _no_violations(page: Page, what: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, f"{what}:\n{results.generate_report()}"


def _enrol(page: Page, base: str, username: str, password: str) -> str:
    """First login: password, then the enrolment page, checked; returns the TOTP key."""
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/login/enrol/$"))
    # No menu before the factor is set: the page in front of them is all they can reach.
    assert page.locator("header nav a").count() == 1  # the name of the service only
    secret = page.locator("#totp-secret").inner_text()
    uri = page.locator("code.wrap").inner_text()
    # The QR code, as the screen shows it, read by a barcode reader: the same otpauth:// URI.
    shot = page.locator("#totp-qr").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert [r.text for r in found] == [uri] and uri.startswith("otpauth://totp/")
    assert secret.replace(" ", "") in uri
    _no_violations(page, "enrolment page")
    page.fill("#code", totp_now(secret))
    page.get_by_role("button", name="Confirm").click()
    choose_password(page)
    return secret


def test_staff_and_landing_pages_qr_and_accessibility(browser: Browser, platform: Platform) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    base = platform.url
    context = browser.new_context(bypass_csp=True)  # axe is injected into the page
    page = context.new_page()
    _enrol(page, base, platform.username, platform.password)
    # The admin lands on the service's health.
    assert page.url.endswith("/console/service/")
    assert "reachable" in page.locator("#service-health").inner_text()
    _no_violations(page, "service page")
    page.goto(f"{base}/console/staff/")
    _no_violations(page, "staff list")
    # A refused username comes back with the rule and what was typed.
    page.fill("#username", "an analyst")
    page.select_option("#role", "analyst")
    page.get_by_role("button", name="Create").click()
    assert page.input_value("#username") == "an analyst"
    _no_violations(page, "new-account form with an error")
    page.fill("#username", "an_1")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/console/staff/\d+/$"))
    password = page.locator("#new-password").inner_text()
    page.reload()  # nothing is posted again, and the password is still there
    assert page.locator("#new-password").inner_text() == password
    _no_violations(page, "member page")
    page.screenshot(path=str(ARTIFACTS / "console-staff-member.png"), full_page=True)
    page.get_by_role("button", name="Log out").click()
    # The analyst lands on today's counts.
    _enrol(page, base, "an_1", password)
    assert page.url.endswith("/console/overview/")
    assert page.locator("#today-counts").is_visible()
    _no_violations(page, "analyst overview")
    context.close()
