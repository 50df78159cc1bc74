"""The quick start, as a person would use it: Debian's chromium driven by Playwright.

The platform runs as `safepassage serve` in its own process with the credentials it prints;
the applicant's browser has JavaScript disabled, as Tor Browser at "Safest" does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from safepassage.conversations import catalog
from tests.conftest import DEMO_APPLICANT
from tests.server import Platform, fresh_postgres_database, running_platform

CHROMIUM = os.environ.get("SAFEPASSAGE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("SAFEPASSAGE_REQUIRE_BROWSER"):
        raise RuntimeError(f"chromium not found at {CHROMIUM}; CI must install it")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from tests.console_browser import log_in_and_enrol_totp  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    if connection.vendor == "postgresql":
        with fresh_postgres_database() as url, running_platform(tmp_path, url) as running:
            yield running
    else:
        with running_platform(tmp_path) as running:
            yield running


def _click(page: Page, lang: str, msgid: str) -> None:
    page.get_by_role("button", name=catalog.text(lang, msgid), exact=True).click()


def _say(page: Page, text: str, lang: str) -> None:
    page.locator("form:not(.nav) input[name=text], form:not(.nav) textarea[name=text]").first.fill(
        text
    )
    _click(page, lang, "chat.send")


def _apply(page: Page, base: str, lang: str) -> str:
    page.goto(f"{base}/chat/{lang}/")
    assert page.locator("h1#q").inner_text() == catalog.text(lang, "apply.who.prompt")
    _click(page, lang, "apply.who.self")
    _click(page, lang, "apply.whereabouts.front")
    _click(page, lang, "apply.readiness.now")
    _say(page, DEMO_APPLICANT["sector"], lang)
    _say(page, DEMO_APPLICANT["unit"], lang)
    _say(page, DEMO_APPLICANT["name"], lang)
    _click(page, lang, "nav.skip")
    _click(page, lang, "apply.company.group")
    _say(page, "3", lang)
    page.get_by_label(catalog.text(lang, "apply.wishes.record_as_captured")).check()
    page.get_by_label(catalog.text(lang, "apply.wishes.no_exchange")).check()
    _click(page, lang, "chat.continue")
    assert catalog.text(lang, "apply.wishes.no_exchange") in page.content()
    _click(page, lang, "apply.summary.confirm")
    assert catalog.text(lang, "apply.done.prompt") in page.inner_text("body")
    reference = page.locator("#reference").inner_text()
    assert page.locator("#passphrase").inner_text()
    return reference


@pytest.mark.parametrize("lang", ["ko", "ru"])
def test_apply_with_javascript_off_then_operator_reads_and_replies(
    browser: Browser, platform: Platform, lang: str
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    applicant = browser.new_context(
        java_script_enabled=False, viewport={"width": 320, "height": 640}
    )
    page = applicant.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    reference = _apply(page, platform.url, lang)
    page.screenshot(path=str(ARTIFACTS / f"applicant-done-{lang}.png"), full_page=True)
    assert all(url.startswith(platform.url) for url in requests), requests
    assert page.locator("body").bounding_box()["width"] <= 320  # no sideways scrolling

    # The first admin printed by `safepassage serve` logs in, enrols TOTP and creates an
    # operator; admins see no case content, operators do.
    staff = browser.new_context()
    console = staff.new_page()
    log_in_and_enrol_totp(console, platform.url, platform.username, platform.password)
    console.fill("#username", f"op_{lang}")
    console.select_option("#role", "operator")
    console.get_by_role("button", name="Create").click()
    password = console.locator("#new-password").inner_text()
    console.get_by_role("button", name="Log out").click()
    log_in_and_enrol_totp(console, platform.url, f"op_{lang}", password)
    console.locator("tbody a").first.click()
    body = console.inner_text("body")
    assert DEMO_APPLICANT["name"] in body and DEMO_APPLICANT["unit"] in body
    assert reference in body
    assert "Register me as captured" in body and "Do not exchange me back" in body
    console.fill("#reply", "DEMO: operator reply, stay where you are")
    console.get_by_role("button", name="Send reply").click()
    console.screenshot(path=str(ARTIFACTS / f"console-case-{lang}.png"), full_page=True)

    _click(page, lang, "chat.continue")
    page.wait_for_load_state()
    page.goto(f"{platform.url}/chat/{lang}/")
    assert "DEMO: operator reply, stay where you are" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / f"applicant-thread-{lang}.png"), full_page=True)
    applicant.close()
    staff.close()
