"""The console end to end, in Debian's chromium, against `safepassage serve`.

An urgent Korean application arrives and tops the queue; a supervisor who reads Korean reviews
the Korean text of a starter reply; an operator logs in with password and TOTP, takes the case,
answers with that vetted reply (the applicant reads the Korean text in the web chat, the
transcript shows it in both languages), logs a hotline call and moves it to ready; the
supervisor hands it to a liaison, who sees only what receiving the person needs and records
"received"; the analyst and an anonymous visitor are refused everywhere. A second test signs in
with a WebAuthn security key held by Chromium's virtual authenticator.
"""

from __future__ import annotations

import re

import pytest

from safepassage.conversations import catalog
from safepassage.replies.services import starter_entries
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

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    expect,
)

from tests.console_browser import (  # noqa: E402
    CHOSEN_PASSWORD,
    choose_password,
    grant_program_key,
    log_in_and_enrol_totp,
    log_in_with_totp,
)


def _apply(page: Page, base: str, lang: str, readiness: str) -> str:
    page.goto(f"{base}/chat/{lang}/")
    click(page, lang, "apply.who.self")
    click(page, lang, "apply.whereabouts.front")
    click(page, lang, f"apply.readiness.{readiness}")
    say(page, DEMO_APPLICANT["sector"], lang)
    say(page, DEMO_APPLICANT["unit"], lang)
    say(page, DEMO_APPLICANT["name"], lang)
    click(page, lang, "nav.skip")
    click(page, lang, "apply.company.group")
    say(page, "3", lang)
    page.get_by_label(catalog.text(lang, "apply.wishes.record_as_captured")).check()
    page.get_by_label(catalog.text(lang, "apply.wishes.medical")).check()
    click(page, lang, "chat.continue")
    click(page, lang, "apply.summary.confirm")
    return page.locator("#reference").inner_text()


def _create(console: Page, username: str, role: str, sector: str = "") -> str:
    console.goto(console.url.split("/console/")[0] + "/console/staff/")
    console.fill("#username", username)
    console.select_option("#role", role)
    console.fill("#sector", sector)
    console.get_by_role("button", name="Create").click()
    return console.locator("#new-password").inner_text()


SECRETS: dict[str, str] = {}
STARTER = {entry["key"]: entry for entry in starter_entries()}


def _staff_page(browser: Browser, platform: Platform, user: str, password: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    SECRETS[user] = log_in_and_enrol_totp(page, platform.url, user, password)
    return page


def test_urgent_korean_case_from_queue_to_the_field(browser: Browser, platform: Platform) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    base = platform.url
    applicants: list[BrowserContext] = []

    def applicant(lang: str, readiness: str) -> tuple[Page, str]:
        context = browser.new_context(java_script_enabled=False)
        applicants.append(context)
        page = context.new_page()
        return page, _apply(page, base, lang, readiness)

    applicant("ru", "later")
    korean, reference = applicant("ko", "now")

    admin = _staff_page(browser, platform, platform.username, platform.password)
    passwords = {
        "op": _create(admin, "op", "operator"),
        "sup": _create(admin, "sup", "supervisor"),
        "liaison": _create(admin, "liaison", "liaison", "S-NORTH"),
        "analyst": _create(admin, "analyst", "analyst"),
    }

    # The supervisor reads Korean (the admin says so on the staff page) and reviews the Korean
    # text of one starter reply: only then can it be sent.
    admin.goto(f"{base}/console/staff/")  # creating an account ends on its member page
    sup_row = admin.locator("tr:has(td > a:text-is('sup'))")
    sup_row.get_by_label("조선말").check()
    sup_row.get_by_role("button", name="Save").click()
    supervisor = _staff_page(browser, platform, "sup", passwords["sup"])
    grant_program_key(admin, base, "sup")
    supervisor.get_by_role("button", name="Log out").click()
    log_in_with_totp(supervisor, base, "sup", CHOSEN_PASSWORD, SECRETS["sup"])
    supervisor.goto(f"{base}/console/replies/")
    supervisor.get_by_role("link", name="Signalling a drone").click()
    supervisor.locator("button[data-review=ko]").click()
    assert "reviewed by sup" in supervisor.locator("#lang-ko").inner_text()

    # The operator: the urgent Korean case is on top; take it; answer with a vetted reply.
    operator = _staff_page(browser, platform, "op", passwords["op"])
    # Enrolled, own password chosen; the admin (the bootstrap key holder) grants the program
    # key, which the operator's next login (password and a TOTP code) takes up.
    grant_program_key(admin, base, "op")
    operator.get_by_role("button", name="Log out").click()
    log_in_with_totp(operator, base, "op", CHOSEN_PASSWORD, SECRETS["op"])
    first_row = operator.locator("#queue-rows tr").first
    assert "조선말" in first_row.inner_text() and "Ready now" in first_row.inner_text()
    operator.screenshot(path=str(ARTIFACTS / "console-queue.png"), full_page=True)
    # A new application shows up in the open queue without a reload (console.js).
    assert operator.locator("#queue-rows tr").count() == 2
    applicant("uk", "days")
    expect(operator.locator("#queue-rows tr")).to_have_count(3, timeout=20_000)
    assert "조선말" in operator.locator("#queue-rows tr").first.inner_text()
    operator.keyboard.press("n")  # keyboard shortcut: take next
    operator.wait_for_url(re.compile(r"/console/cases/[0-9a-f-]{36}/$"))
    assert reference in operator.locator("#reference").inner_text()
    assert operator.locator("#korean-warning").is_visible()
    drone = STARTER["drone"]["text"]
    row = operator.locator("table.canned tr", has_text="Signalling a drone")
    assert drone["ko"] in row.inner_text() and drone["en"] in row.inner_text()
    assert operator.locator("table.canned button").count() == 1  # the one reviewed text
    row.get_by_role("button", name="Send").click()
    operator.wait_for_load_state()
    said = operator.locator("#conversation .msg").last.inner_text()
    assert drone["ko"] in said and drone["en"] in said  # both languages in the transcript

    click(korean, "ko", "chat.creds.written")
    korean.goto(f"{base}/chat/ko/")
    assert drone["ko"] in korean.inner_text("body")

    # A hotline call on the case, then verified → ready.
    operator.locator("#calls summary").click()
    operator.select_option("#direction", "in")
    operator.select_option("#caller", "relative")
    operator.fill("#started_at", "2026-11-23T10:15")
    operator.fill("#duration_minutes", "6")
    operator.select_option("#outcome", "spoke")
    operator.fill("#summary", "DEMO-CALL his sister confirms the group of three")
    operator.get_by_role("button", name="Log call").click()
    assert "DEMO-CALL his sister" in operator.locator("#calls").inner_text()
    for target in ("verified", "ready"):
        operator.select_option("#target", target)
        operator.get_by_role("button", name="Change status").click()
    assert "Ready" in operator.locator("#status").inner_text()
    case_url = operator.url
    operator.screenshot(path=str(ARTIFACTS / "console-case-operator.png"), full_page=True)
    # On a tablet the page still fits its width.
    operator.set_viewport_size({"width": 820, "height": 1180})
    for url in (case_url, f"{base}/console/queue/"):
        operator.goto(url)
        assert operator.evaluate("document.documentElement.scrollWidth") <= 820, url
    operator.screenshot(path=str(ARTIFACTS / "console-queue-tablet.png"), full_page=True)

    # The liaison of sector S-NORTH has logged in once: their own key pair, which handovers are
    # sealed to (they hold no program key).
    liaison = _staff_page(browser, platform, "liaison", passwords["liaison"])
    # The supervisor hands it over to the liaison of sector S-NORTH.
    supervisor.goto(case_url)
    supervisor.select_option("#sector", "S-NORTH")
    supervisor.fill("#window_start", "2026-11-25T04:00")
    supervisor.fill("#window_end", "2026-11-25T06:00")
    supervisor.fill("#meeting", "DEMO-MEET crossroads by the red barn")
    supervisor.check("#confirm_handover")  # a destructive action asks first, JavaScript or not
    supervisor.get_by_role("button", name="Hand over").click()
    assert "Handed over" in supervisor.locator("#status").inner_text()

    # The liaison sees only what receiving the person needs, and records "received".
    liaison.goto(f"{base}/console/field/")
    liaison.locator("tbody a").first.click()
    card = liaison.inner_text("body")
    assert reference in card and "DEMO-MEET crossroads" in card and "조선말" in card
    assert "needs medical care" in card and "Wants to be recorded as captured" in card
    assert re.search(r"Group size\s+3", card)
    for hidden in DEMO_APPLICANT.values():
        assert hidden not in card
    assert "DEMO-CALL" not in card
    liaison.screenshot(path=str(ARTIFACTS / "console-liaison.png"), full_page=True)
    liaison.get_by_role("button", name="Confirm receipt of this handover").click()
    liaison.check("#confirm_outcome")
    liaison.get_by_role("button", name="Received").click()
    assert "Received" in liaison.locator("#outcome").inner_text()
    assert liaison.goto(case_url).status == 403  # type: ignore[union-attr]

    supervisor.goto(case_url)
    assert "Surrendered" in supervisor.locator("#status").inner_text()
    assert supervisor.locator(".wishes").is_visible()

    # The analyst and an anonymous visitor are refused everywhere.
    analyst = _staff_page(browser, platform, "analyst", passwords["analyst"])
    anonymous = browser.new_context().new_page()
    for path in (
        "/console/queue/",
        case_url.removeprefix(base),
        "/console/hotline/",
        "/console/field/",
        "/console/staff/",
        case_url.removeprefix(base) + "audit/",
    ):
        response = analyst.goto(base + path)
        assert response is not None and response.status == 403, path
        anonymous.goto(base + path)
        assert anonymous.url.startswith(f"{base}/console/login/"), path
    for context in applicants:
        context.close()


def test_security_key_enrolment_and_login_with_a_virtual_authenticator(
    browser: Browser, platform: Platform
) -> None:
    # WebAuthn needs a domain as relying party id: reach the same server as localhost.
    base = platform.url.replace("127.0.0.1", "localhost")
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", platform.username)
    page.fill("#id_password", platform.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/login/enrol/$"))
    page.get_by_role("button", name="Register a security key").click()
    choose_password(page)  # the first admin's password was one-time
    page.wait_for_url(re.compile(r"/console/service/$"))

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/console/login/$"))
    page.fill("#id_username", platform.username)
    page.fill("#id_password", CHOSEN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/login/verify/$"))
    assert page.locator("#code").count() == 0  # this account has a key, no TOTP
    page.get_by_role("button", name="Use my security key").click()
    page.wait_for_url(re.compile(r"/console/service/$"))
    page.goto(f"{base}/console/account/")
    assert "Security key" in page.inner_text("body")
    context.close()
