"""The quick start, as a person would use it: Debian's chromium driven by Playwright.

The platform runs as `safepassage serve` in its own process with the credentials it prints;
the applicant's browser has JavaScript disabled, as Tor Browser at "Safest" does.
"""

from __future__ import annotations

import pytest

from safepassage.conversations import catalog
from tests.browser_support import (
    ARTIFACTS,
    click,
    say,
    skip_without_chromium,
)
from tests.conftest import DEMO_APPLICANT
from tests.server import Platform

pytestmark = pytest.mark.browser
skip_without_chromium()

from playwright.sync_api import Browser, Page  # noqa: E402

from tests.console_browser import (  # noqa: E402
    CHOSEN_PASSWORD,
    grant_program_key,
    log_in_and_enrol_totp,
    log_in_with_totp,
)


def _apply(page: Page, base: str, lang: str) -> str:
    page.goto(f"{base}/chat/{lang}/")
    assert page.locator("h1#q").inner_text() == catalog.text(lang, "apply.who.prompt")
    click(page, lang, "apply.who.self")
    click(page, lang, "apply.whereabouts.front")
    click(page, lang, "apply.readiness.now")
    say(page, DEMO_APPLICANT["sector"], lang)
    say(page, DEMO_APPLICANT["unit"], lang)
    say(page, DEMO_APPLICANT["name"], lang)
    click(page, lang, "nav.skip")
    click(page, lang, "apply.company.group")
    say(page, "3", lang)
    page.get_by_label(catalog.text(lang, "apply.wishes.record_as_captured")).check()
    page.get_by_label(catalog.text(lang, "apply.wishes.no_exchange")).check()
    click(page, lang, "chat.continue")
    assert catalog.text(lang, "apply.wishes.no_exchange") in page.content()
    click(page, lang, "apply.summary.confirm")
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
    admin_secret = log_in_and_enrol_totp(
        console, platform.url, platform.username, platform.password
    )
    console.goto(f"{platform.url}/console/staff/")  # the admin lands on the service page
    console.fill("#username", f"op_{lang}")
    console.select_option("#role", "operator")
    console.get_by_role("button", name="Create").click()
    password = console.locator("#new-password").inner_text()
    console.get_by_role("button", name="Log out").click()
    op_secret = log_in_and_enrol_totp(console, platform.url, f"op_{lang}", password)
    # The operator reads cases once a key holder (here the first admin, bootstrapping) grants
    # the program key and the operator logs in again.
    console.get_by_role("button", name="Log out").click()
    log_in_with_totp(console, platform.url, platform.username, CHOSEN_PASSWORD, admin_secret)
    grant_program_key(console, platform.url, f"op_{lang}")
    console.get_by_role("button", name="Log out").click()
    log_in_with_totp(console, platform.url, f"op_{lang}", CHOSEN_PASSWORD, op_secret)
    console.locator("tbody a").first.click()
    body = console.inner_text("body")
    assert DEMO_APPLICANT["name"] in body and DEMO_APPLICANT["unit"] in body
    assert reference in body
    assert "Wants to be recorded as captured" in body
    assert "Does not want to be exchanged back" in body
    console.fill("#reply", "DEMO: operator reply, stay where you are")
    console.get_by_role("button", name="Send reply").click()
    console.screenshot(path=str(ARTIFACTS / f"console-case-{lang}.png"), full_page=True)

    click(page, lang, "chat.creds.written")
    page.wait_for_load_state()
    page.goto(f"{platform.url}/chat/{lang}/")
    assert "DEMO: operator reply, stay where you are" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / f"applicant-thread-{lang}.png"), full_page=True)
    applicant.close()
    staff.close()
