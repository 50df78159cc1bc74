"""An open case page in chromium, against `safepassage serve` with two web processes.

An applicant writes while an operator has his case open: the message appears without a reload.
A supervisor opens the same case and starts writing a reply: the operator's page names them
(presence is shared by the web processes: the database, or Redis on PostgreSQL). The queue,
case and hotline pages have no accessibility violations (axe, every impact).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.browser_support import ARTIFACTS, click, say, skip_without_chromium
from tests.conftest import DEMO_APPLICANT
from tests.server import Platform, postgres_admin_dsn, running_platform

pytestmark = pytest.mark.browser
skip_without_chromium()

from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.console_browser import (  # noqa: E402
    CHOSEN_PASSWORD,
    grant_program_key,
    log_in_and_enrol_totp,
    log_in_with_totp,
)
from tests.redis_support import CONSOLE, redis_url  # noqa: E402

REDIS_URL = redis_url(CONSOLE)


@contextmanager
def _postgres_database() -> Iterator[str]:
    s = connection.settings_dict
    name = f"casework_live_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
        yield f"postgres://{s['USER'] or 'postgres'}@{host}/{name}"
    finally:
        with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[Platform]:
    """The platform as `serve` runs it with SAFEPASSAGE_WEB_PROCESSES=2: requests of one page
    land on either process, so presence and live updates cannot live in one process's memory."""
    env = {"SAFEPASSAGE_WEB_PROCESSES": "2"}
    if connection.vendor == "postgresql":
        env["SAFEPASSAGE_REDIS_URL"] = REDIS_URL
        with _postgres_database() as url, running_platform(tmp_path, url, env) as running:
            yield running
    else:
        with running_platform(tmp_path, None, env) as running:
            yield running


def _no_violations(page: Page, what: str) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, f"{what}:\n{results.generate_report()}"


def _create(admin: Page, base: str, username: str, role: str) -> str:
    admin.goto(f"{base}/console/staff/")
    admin.fill("#username", username)
    admin.select_option("#role", role)
    admin.get_by_role("button", name="Create").click()
    return admin.locator("#new-password").inner_text()


def test_a_message_appears_on_an_open_case_page_and_the_other_staff_member_is_shown(
    browser: Browser, two_processes: Platform
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    base = two_processes.url
    applicant_context = browser.new_context(java_script_enabled=False)
    applicant = applicant_context.new_page()
    applicant.goto(f"{base}/chat/ru/")
    click(applicant, "ru", "apply.who.self")
    click(applicant, "ru", "apply.whereabouts.front")
    click(applicant, "ru", "apply.readiness.now")
    for answer in ("sector", "unit", "name"):
        say(applicant, DEMO_APPLICANT[answer], "ru")
    click(applicant, "ru", "nav.skip")
    click(applicant, "ru", "apply.company.group")
    say(applicant, "3", "ru")
    click(applicant, "ru", "chat.continue")
    click(applicant, "ru", "apply.summary.confirm")
    click(applicant, "ru", "chat.creds.written")  # the credentials page
    say(applicant, "DEMO-FIRST мы ждём", "ru")

    pages = {}
    for name in ("admin", "op", "sup"):
        pages[name] = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin, operator, supervisor = pages["admin"], pages["op"], pages["sup"]
    user, password = two_processes.username, two_processes.password
    log_in_and_enrol_totp(admin, base, user, password)
    passwords = {
        n: _create(admin, base, n, r) for n, r in (("op", "operator"), ("sup", "supervisor"))
    }
    secrets_ = {n: log_in_and_enrol_totp(pages[n], base, n, passwords[n]) for n in ("op", "sup")}
    grant_program_key(admin, base, "op")
    operator.get_by_role("button", name="Log out").click()
    log_in_with_totp(operator, base, "op", CHOSEN_PASSWORD, secrets_["op"])

    # The queue: the applicant's message is unread, with a one-line preview.
    operator.goto(f"{base}/console/queue/")
    row = operator.locator("#queue-rows tr").first
    assert "1 new" in row.inner_text() and "DEMO-FIRST мы ждём" in row.inner_text()
    _no_violations(operator, "queue")

    row.locator("a").first.click()
    operator.wait_for_url(re.compile(r"/console/cases/[0-9a-f-]{36}/$"))
    case_url = operator.url
    assert "3 (from the application)" in operator.locator("#head-count").inner_text()
    operator.get_by_role("button", name="Take", exact=True).click()
    assert "op" in operator.locator("#assigned").inner_text()
    _no_violations(operator, "case")

    # The applicant writes again: it shows up on the open page, no reload.
    operator.evaluate("window.__sameDocument = true")
    say(applicant, "DEMO-SECOND мы у дороги", "ru")
    expect(operator.locator("#transcript")).to_contain_text(
        "DEMO-SECOND мы у дороги", timeout=15_000
    )
    assert operator.evaluate("window.__sameDocument === true")  # the same document: no reload

    # The supervisor opens the case and starts a reply: the operator sees both.
    supervisor.goto(case_url)
    expect(operator.locator("#presence")).to_contain_text(
        "sup also has this case open", timeout=15_000
    )
    supervisor.fill("#reply", "DEMO-DRAFT")
    supervisor.locator("#reply").press("Space")
    expect(operator.locator("#presence")).to_contain_text("sup is writing a reply", timeout=15_000)
    expect(supervisor.locator("#presence")).to_contain_text("op also has this case open")
    assert operator.evaluate("window.__sameDocument === true")
    operator.screenshot(path=str(ARTIFACTS / "console-case-live.png"), full_page=True)

    # The hotline desk: a call ending in a callback request, with the number to call back on.
    operator.locator("#calls summary").click()
    operator.fill("#started_at", "2026-11-23T10:15")
    operator.select_option("#outcome", "callback")
    operator.fill("#call_cb_start", "2026-11-23T18:00")
    operator.fill("#call_cb_end", "2026-11-23T20:00")
    operator.select_option("#call_reach_by", "phone")
    operator.fill("#call_reach", "DEMO-PHONE +380 00 000 0000")
    operator.get_by_role("button", name="Log call").click()
    operator.goto(f"{base}/console/hotline/")
    queue = operator.locator("#callbacks").inner_text()
    assert "DEMO-PHONE +380 00 000 0000" in queue and "overdue" in queue
    _no_violations(operator, "hotline")
    applicant_context.close()
