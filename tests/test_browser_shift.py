"""Issue 11 in a real browser: a Korean and a Russian applicant, JavaScript off, a 390 px wide
phone screen, pressing Reload and Back at every step of the application and of the thread.
Nothing is sent twice, no page breaks (no "confirm form resubmission", no ERR_CACHE_MISS), the
credentials stay until written down, and every kind of chat page passes axe with no violation.

axe needs JavaScript, which the applicant's browser has off: each page is opened again, with
the applicant's cookies, in a second context where scripts run (a GET shows the same page)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from safepassage.conversations import catalog
from tests.browser_support import ARTIFACTS, click, say, skip_without_chromium
from tests.conftest import DEMO_APPLICANT
from tests.server import Platform

pytestmark = pytest.mark.browser
skip_without_chromium()

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, BrowserContext, Page  # noqa: E402

PHONE = {"width": 390, "height": 780}


class Applicant:
    def __init__(self, browser: Browser, auditor: Page, base: str, lang: str) -> None:
        self.context: BrowserContext = browser.new_context(
            java_script_enabled=False, viewport=PHONE
        )
        self.page = self.context.new_page()
        self.auditor = auditor
        self.base = base
        self.lang = lang
        self.audited: set[str] = set()
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def text(self, msgid: str) -> str:
        return catalog.text(self.lang, msgid)

    def body(self) -> str:
        return self.page.inner_text("body")

    def sound(self) -> str:
        """The page is one of ours, whole, and fits the screen."""
        body = self.body()
        titles = {catalog.text(code, "chat.title") for code in catalog.languages()}
        assert self.page.title() in titles, self.page.url
        assert "ERR_" not in body and "resubmission" not in body.lower()
        box = self.page.locator("body").bounding_box()
        assert box is not None and box["width"] <= PHONE["width"]
        return body

    def audit(self, kind: str) -> None:
        """axe on this kind of page (once per kind and language): zero violations, any impact."""
        if kind in self.audited:
            return
        self.audited.add(kind)
        auditor = self.auditor.context
        auditor.clear_cookies()
        auditor.add_cookies(self.context.cookies())  # type: ignore[arg-type]
        self.auditor.goto(self.page.url)
        results = Axe().run(self.auditor)
        assert results.violations_count == 0, (self.lang, kind, results.generate_report())

    def steady(self, kind: str, *expected: str, back: bool = True) -> str:
        """Reload, then Back and Forward: the same step, every time, and nothing re-sent."""
        body = self.sound()
        for text in expected:
            assert text in body, (kind, text)
        self.page.reload()
        again = self.sound()
        for text in expected:
            assert text in again, ("reload", kind, text)
        if back:
            self.page.go_back()
            self.sound()
            self.page.go_forward()
        back_and_forth = self.sound()
        for text in expected:
            assert text in back_and_forth, ("back", kind, text)
        self.audit(kind)
        return back_and_forth


def _apply_and_use_the_thread(
    person: Applicant,
    message: str | None = None,
    on_thread: Callable[[Page], None] | None = None,
) -> None:
    """The whole application and the thread, Reload and Back at every step. ``message`` is what
    he writes in the thread; ``on_thread`` is called on the thread page once it shows it."""
    page, lang, base = person.page, person.lang, person.base
    message = message or f"DEMO question from the {lang} applicant"
    page.goto(f"{base}/chat/")
    page.locator(f'a[hreflang="{lang}"]').click()
    person.steady("first question", person.text("apply.who.prompt"))
    click(page, lang, "apply.who.self")
    person.steady("choice", person.text("apply.whereabouts.prompt.self"))
    click(page, lang, "apply.whereabouts.front")
    person.steady("choice", person.text("apply.readiness.prompt"))
    click(page, lang, "apply.readiness.now")
    person.steady("text", person.text("apply.sector.prompt"))
    say(page, DEMO_APPLICANT["sector"], lang)
    person.steady("text", person.text("apply.unit.prompt"))
    say(page, DEMO_APPLICANT["unit"], lang)
    person.steady("text", person.text("apply.name.prompt"))
    say(page, DEMO_APPLICANT["name"], lang)
    person.steady("text", person.text("apply.birth_date.prompt"))
    click(page, lang, "nav.skip")
    person.steady("choice", person.text("apply.company.prompt"))
    click(page, lang, "apply.company.group")
    person.steady("number", person.text("apply.group_size.prompt.self"))
    say(page, "abc", lang)  # a re-ask, after a redirect like everything else
    assert person.text("reask.number") in person.sound()
    person.audit("re-ask")
    person.steady("number", person.text("apply.group_size.prompt.self"))
    say(page, "3", lang)
    person.steady("multi", person.text("apply.wishes.record_as_captured"))
    page.get_by_label(person.text("apply.wishes.record_as_captured")).check()
    click(page, lang, "chat.continue")
    person.steady("summary", person.text("apply.summary.prompt"), DEMO_APPLICANT["name"])
    assert page.locator("button.primary").inner_text() == person.text("apply.summary.confirm")
    click(page, lang, "apply.summary.confirm")

    reference = page.locator("#reference").inner_text()
    passphrase = page.locator("#passphrase").inner_text()
    person.steady("credentials", reference, passphrase, person.text("chat.creds.written"))
    page.screenshot(path=str(ARTIFACTS / f"shift-credentials-{lang}.png"), full_page=True)
    click(page, lang, "chat.creds.written")
    menu = person.steady("thread", person.text("menu.prompt"), person.text("thread.empty"))
    assert passphrase not in menu

    page.fill("#msg", message)
    click(page, lang, "chat.send")
    assert person.text("thread.sent") in person.sound()
    thread = person.steady("thread sent", person.text("thread.received"))
    assert thread.count(message) == 1
    assert person.body().count(message) == 1
    page.screenshot(path=str(ARTIFACTS / f"shift-thread-{lang}.png"), full_page=True)
    if on_thread is not None:
        on_thread(page)
    click(page, lang, "menu.ready_now")
    person.steady("info", person.text("menu.ready_now.done"))
    click(page, lang, "nav.menu")
    person.steady("thread", person.text("menu.prompt"))
    click(page, lang, "nav.leave")
    person.steady("left", person.text("chat.left"))

    # Coming back with the written-down pair: the thread says he wrote, not what (the browser's
    # key went with "leave").
    page.goto(f"{base}/chat/{lang}/return/")
    person.steady("return", person.text("chat.return.prompt"))
    page.fill("#ref", reference)
    page.fill("#pass", passphrase)
    click(page, lang, "chat.return.submit")
    back_in = person.steady("thread", person.text("menu.prompt"), person.text("thread.hidden"))
    assert message not in back_in
    assert all(url.startswith(base) for url in person.requests), person.requests


def test_reload_and_back_at_every_step_for_a_korean_and_a_russian_applicant(
    browser: Browser, platform: Platform
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    auditing = browser.new_context(java_script_enabled=True, bypass_csp=True, viewport=PHONE)
    auditor = auditing.new_page()
    for lang in ("ko", "ru"):
        person = Applicant(browser, auditor, platform.url, lang)
        _apply_and_use_the_thread(person)
        person.context.close()
    auditing.close()
