"""Issue 11, "Ready for a real shift": one night shift walked end to end in Debian's chromium,
against one `safepassage serve` whose machine translation is the LibreTranslate stand-in.

- A Korean and a Russian applicant, JavaScript off, on a 390 px phone, apply and use the thread,
  pressing Reload and Back (and Forward) at every step of the application and of the thread,
  with axe on every kind of page: this calls ``_apply_and_use_the_thread`` of
  tests/test_browser_shift.py, which walks each step exhaustively, rather than repeating it.
  The Korean applicant writes "I am wounded" in the thread.
- The admin lands on the service page, creates an operator whose console is in Ukrainian, a
  supervisor, a liaison of sector S-NORTH and an analyst; each of them enrols by reading the
  QR code on the enrolment page with a barcode reader (zxing-cpp) and taking the TOTP key from
  the otpauth:// URI it holds.
- A supervisor who reads Korean reviews the Korean text of one starter reply.
- The operator, in Ukrainian, finds the Korean case in the queue, takes it, opens the machine
  translation of what the applicant wrote (from the stand-in), sends the reviewed vetted reply
  (the applicant reads it in Korean, Reload and Back included), logs a call that ends with
  "callback requested" with a window and a number, sees it in the hotline's callback queue,
  and moves the case to ready.
- The supervisor hands the case over to sector S-NORTH; the liaison, on a 390 px phone,
  confirms receipt and the outcome "received".
- The analyst lands on the overview and opens the reports.

With SAFEPASSAGE_SCREENSHOTS=docs/images (a folder, relative to the repository) it saves a
screenshot of each role's main page there, quantised to 64 colours (README's "A night shift").
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import psycopg
import pytest
from django.db import connection
from django.utils import translation

from safepassage.replies.services import starter_entries
from safepassage.testing.fake_libretranslate import FakeLibreTranslate
from tests.browser_support import skip_without_chromium
from tests.server import Platform, postgres_admin_dsn, running_platform

pytestmark = pytest.mark.browser
skip_without_chromium()

import zxingcpp  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.console_browser import CHOSEN_PASSWORD, grant_program_key, totp_now  # noqa: E402
from tests.test_browser_shift import PHONE, Applicant, _apply_and_use_the_thread  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WOUNDED = "DEMO: 부상을 입었습니다"  # the stand-in's phrase book: "DEMO: Я поранений" in uk
DESK = {"width": 1280, "height": 900}
DRONE = {entry["key"]: entry for entry in starter_entries()}["drone"]["text"]


def uk(msgid: str) -> str:
    """A console string as the Ukrainian operator reads it (the compiled uk catalog)."""
    with translation.override("uk"):
        return translation.gettext(msgid)


def _shot(page: Page, name: str, *, full_page: bool = False, height: int = 0) -> None:
    """Save a screenshot into $SAFEPASSAGE_SCREENSHOTS (nothing when it is not set): the
    viewport, the whole page, or its top ``height`` pixels."""
    folder = os.environ.get("SAFEPASSAGE_SCREENSHOTS", "")
    if not folder:
        return
    target = Path(folder) if Path(folder).is_absolute() else REPO / folder
    target.mkdir(parents=True, exist_ok=True)
    if height:
        width = page.viewport_size["width"] if page.viewport_size else 1280
        clip = {"x": 0, "y": 0, "width": width, "height": height}
        png = page.screenshot(full_page=True, clip=clip)  # type: ignore[arg-type]
    else:
        png = page.screenshot(full_page=full_page)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64)
    image.save(target / f"{name}.png", optimize=True)


@contextmanager
def _database() -> Iterator[str | None]:
    if connection.vendor != "postgresql":
        yield None
        return
    s = connection.settings_dict
    name = f"nightshift_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
        yield f"postgres://{s['USER'] or 'postgres'}@{host}/{name}"
    finally:
        with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclasses.dataclass
class Shift:
    platform: Platform
    translator: FakeLibreTranslate


@pytest.fixture
def shift(tmp_path: Path) -> Iterator[Shift]:
    with FakeLibreTranslate() as translator, _database() as url:
        env = {"SAFEPASSAGE_LIBRETRANSLATE_URL": translator.url}
        with running_platform(tmp_path, url, env) as platform:
            yield Shift(platform, translator)


def _submit(page: Page, action: str) -> None:
    """Press the submit button of the form posting to ``action`` (whatever its language)."""
    page.locator(f"form[action$='{action}'] button[type=submit]").first.click()


def _choose_password(page: Page, lang: str) -> None:
    page.wait_for_url(re.compile(r"/console/account/choose-password/$"))
    assert page.locator("html").get_attribute("lang") == lang
    page.fill("#id_new_password1", CHOSEN_PASSWORD)
    page.fill("#id_new_password2", CHOSEN_PASSWORD)
    _submit(page, "/account/choose-password/")
    page.wait_for_url(re.compile(r"/console/(queue|service|overview|field)/$"))


def _log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    _submit(page, "/console/login/")


def _enrol_from_the_qr_code(
    page: Page, base: str, username: str, password: str, shot: str = "", lang: str = "en"
) -> str:
    """First login: the TOTP key is taken from the QR code as an authenticator app reads it.
    The pages are in the member's console language from the first one on."""
    _log_in(page, base, username, password)
    page.wait_for_url(re.compile(r"/console/login/enrol/$"))
    assert page.locator("html").get_attribute("lang") == lang
    qr = page.locator("#totp-qr")
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    assert len(found) == 1, username
    uri = urlparse(found[0].text)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert username in unquote(uri.path)
    (secret,) = parse_qs(uri.query)["secret"]
    assert secret == page.locator("#totp-secret").inner_text().replace(" ", "")
    if shot:
        _shot(page, shot)
    page.fill("#code", totp_now(secret))
    _submit(page, "/console/login/enrol/")
    _choose_password(page, lang)
    return secret


def _log_in_again(page: Page, base: str, username: str, secret: str) -> None:
    """A later login (to take up a granted program key): password, then the next code."""
    _log_in(page, base, username, CHOSEN_PASSWORD)
    page.wait_for_url(re.compile(r"/console/login/verify/$"))
    page.fill("#code", totp_now(secret, steps_ahead=1))
    _submit(page, "/console/login/verify/")
    page.wait_for_load_state()
    if page.url.endswith("/console/login/verify/"):  # a slow machine: the current code then
        page.fill("#code", totp_now(secret))
        _submit(page, "/console/login/verify/")
    page.wait_for_url(re.compile(r"/console/(queue|service|overview|field)/$"))


def _create(admin: Page, base: str, username: str, role: str, **extra: str) -> str:
    admin.goto(f"{base}/console/staff/")
    admin.fill("#username", username)
    admin.select_option("#role", role)
    admin.fill("#sector", extra.get("sector", ""))
    admin.select_option("#language", extra.get("language", "en"))
    admin.get_by_role("button", name="Create").click()
    admin.wait_for_url(re.compile(r"/console/staff/\d+/$"))
    return admin.locator("#new-password").inner_text()


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_a_night_shift_end_to_end(browser: Browser, shift: Shift) -> None:
    base = shift.platform.url
    contexts = []

    def context(**options: object) -> Page:
        made = browser.new_context(**options)  # type: ignore[arg-type]
        contexts.append(made)
        return made.new_page()

    # --- The applicants: Korean and Russian, JavaScript off, 390 px, Reload and Back. ---------
    auditor = context(java_script_enabled=True, bypass_csp=True, viewport=PHONE)
    korean = Applicant(browser, auditor, base, "ko")
    russian = Applicant(browser, auditor, base, "ru")
    contexts += [korean.context, russian.context]
    _apply_and_use_the_thread(korean, message=WOUNDED)
    _apply_and_use_the_thread(
        russian, on_thread=lambda page: _shot(page, "shift-applicant-ru", full_page=True)
    )

    # --- The admin: lands on the service page, creates the night's staff. ---------------------
    admin = context(viewport=DESK)
    _enrol_from_the_qr_code(admin, base, shift.platform.username, shift.platform.password)
    assert admin.url.endswith("/console/service/")
    assert "reachable" in admin.locator("#service-health").inner_text()
    _shot(admin, "shift-admin")
    passwords = {
        "oksana": _create(admin, base, "oksana", "operator", language="uk"),
        "sup": _create(admin, base, "sup", "supervisor"),
        "liaison": _create(admin, base, "liaison", "liaison", sector="S-NORTH"),
        "analyst": _create(admin, base, "analyst", "analyst"),
    }
    admin.goto(f"{base}/console/staff/")
    sup_row = admin.locator("tr:has(td > a:text-is('sup'))")
    sup_row.get_by_label("조선말").check()  # the supervisor reads Korean
    sup_row.get_by_role("button", name="Save").click()
    assert "Українська" in admin.locator("tr:has(td > a:text-is('oksana'))").inner_text()

    # --- Everyone enrols from the QR code; the key holder grants the program key. -------------
    operator = context(viewport=DESK)
    supervisor = context(viewport=DESK)
    liaison = context(viewport=PHONE, is_mobile=True, has_touch=True)
    analyst = context(viewport=DESK)
    secret = {
        "oksana": _enrol_from_the_qr_code(
            operator, base, "oksana", passwords["oksana"], shot="shift-enrol-qr", lang="uk"
        ),
        "sup": _enrol_from_the_qr_code(supervisor, base, "sup", passwords["sup"]),
    }
    # The liaison's first login makes the key pair that handovers are sealed to.
    _enrol_from_the_qr_code(liaison, base, "liaison", passwords["liaison"])
    _enrol_from_the_qr_code(analyst, base, "analyst", passwords["analyst"])
    assert operator.locator("html").get_attribute("lang") == "uk"
    for name, page in (("oksana", operator), ("sup", supervisor)):
        grant_program_key(admin, base, name)
        _submit(page, "/console/logout/")
        _log_in_again(page, base, name, secret[name])

    # --- The supervisor reviews the Korean text of one starter reply. --------------------------
    supervisor.goto(f"{base}/console/replies/")
    supervisor.get_by_role("link", name="Signalling a drone").click()
    supervisor.locator("button[data-review=ko]").click()
    assert "reviewed by sup" in supervisor.locator("#lang-ko").inner_text()

    # --- The operator, in Ukrainian: the Korean case. ------------------------------------------
    operator.goto(f"{base}/console/queue/")
    assert uk("Queue") in operator.locator("header nav").inner_text()
    rows = operator.locator("#queue-rows tr")
    assert rows.count() == 2
    korean_row = rows.filter(has_text="조선말")
    assert "DEMO" in korean_row.inner_text()  # the unread message's preview
    _shot(operator, "shift-queue-uk")
    korean_row.locator("a").first.click()
    operator.wait_for_url(re.compile(r"/console/cases/[0-9a-f-]{36}/$"))
    case_url = operator.url
    operator.locator("#take").click()
    assert "oksana" in operator.locator("#assigned").inner_text()
    assert operator.locator("#korean-warning").is_visible()

    # Machine translation of what he wrote, from the stand-in, marked as such.
    message = operator.locator("#transcript .msg.in", has_text=WOUNDED)
    message.get_by_role("link", name=uk("Machine translation")).click()
    assert "DEMO: Я поранений" in operator.locator("#mt-text").inner_text()
    assert operator.locator("#mt-note").is_visible()
    (asked,) = [r for r in shift.translator.requests if r.path == "/translate"]
    assert (asked.fields["source"], asked.fields["target"], asked.fields["q"]) == (
        "ko",
        "uk",
        WOUNDED,
    )
    operator.get_by_role("link", name=uk("Back to the case")).click()

    # The one reviewed vetted reply, in Korean for him, in Ukrainian for her.
    sendable = operator.locator("table.canned button[data-vetted]")
    assert sendable.count() == 1
    row = operator.locator("table.canned tr:has(button[data-vetted])")
    assert DRONE["ko"] in row.inner_text() and DRONE["uk"] in row.inner_text()
    sendable.click()
    operator.wait_for_load_state()
    said = operator.locator("#transcript .msg").last.inner_text()
    assert DRONE["ko"] in said
    _shot(operator, "shift-case-uk", height=1150)

    # He reads it in his thread: Reload and Back show it, once.
    korean.page.reload()
    thread = korean.steady("thread with a reply", DRONE["ko"])
    assert thread.count(DRONE["ko"]) == 1
    _shot(korean.page, "shift-applicant-ko", full_page=True)

    # A call that ends with "callback requested", with a window and a number.
    now = datetime.now(UTC).replace(tzinfo=None)
    operator.locator("#calls summary").click()
    operator.select_option("#direction", "in")
    operator.select_option("#caller", "relative")
    operator.fill("#started_at", _local(now - timedelta(minutes=10)))
    operator.fill("#duration_minutes", "4")
    operator.select_option("#call_language", "ko")
    operator.select_option("#outcome", "callback")
    operator.fill("#summary", "DEMO-CALL his brother: the group of three waits")
    operator.fill("#call_cb_start", _local(now + timedelta(hours=1)))
    operator.fill("#call_cb_end", _local(now + timedelta(hours=3)))
    operator.select_option("#call_reach_by", "phone")
    operator.fill("#call_reach", "DEMO-PHONE +380 00 000 0000")
    _submit(operator, "/call/")
    assert "DEMO-CALL his brother" in operator.locator("#calls").inner_text()
    operator.goto(f"{base}/console/hotline/")
    callbacks = operator.locator("#callbacks").inner_text()
    assert "DEMO-PHONE +380 00 000 0000" in callbacks and "조선말" in callbacks
    _shot(operator, "shift-hotline")

    # Verified, then ready for a handover.
    operator.goto(case_url)
    for target in ("verified", "ready"):
        operator.select_option("#target", target)
        _submit(operator, "/status/")
    # The history in the operator's Ukrainian: «Перевірена» → «Готова» (console.history).
    assert "«Перевірена» → «Готова»" in operator.locator("#history").inner_text()

    # --- The supervisor hands over; the liaison confirms on a phone. ---------------------------
    supervisor.goto(case_url)
    case_reference = supervisor.locator("#reference").inner_text()
    supervisor.select_option("#sector", "S-NORTH")
    supervisor.fill("#window_start", _local(now + timedelta(hours=5)))
    supervisor.fill("#window_end", _local(now + timedelta(hours=7)))
    supervisor.fill("#meeting", "DEMO-MEET crossroads by the red barn")
    supervisor.check("#confirm_handover")
    supervisor.get_by_role("button", name="Hand over").click()
    assert "Handed over" in supervisor.locator("#status").inner_text()

    liaison.goto(f"{base}/console/field/")
    liaison.locator("tbody a").first.click()
    card = liaison.locator("#field-card").inner_text()
    assert case_reference in card and "DEMO-MEET crossroads" in card
    assert "DEMO-CALL" not in liaison.inner_text("body")
    assert liaison.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(liaison, "shift-liaison-phone", full_page=True)
    liaison.get_by_role("button", name="Confirm receipt of this handover").click()
    liaison.check("#confirm_outcome")
    liaison.get_by_role("button", name="Received").click()
    assert "Received" in liaison.locator("#outcome").inner_text()
    supervisor.goto(case_url)
    assert "Surrendered" in supervisor.locator("#status").inner_text()

    # --- The analyst: the overview, then the reports. -----------------------------------------
    analyst.goto(f"{base}/console/")
    analyst.wait_for_url(re.compile(r"/console/overview/$"))
    assert analyst.locator("#today-counts").is_visible()
    surrenders = analyst.locator("#today-counts tr", has_text="Surrenders recorded")
    assert "<5" in surrenders.inner_text()  # one, counted (and rounded as the reports round)
    _shot(analyst, "shift-analyst")
    analyst.locator("main a[href$='/console/reports/']").first.click()
    analyst.wait_for_url(re.compile(r"/console/reports/$"))
    expect(analyst.locator("h1")).to_be_visible()
    assert case_reference not in analyst.inner_text("body")

    for made in contexts:
        made.close()
