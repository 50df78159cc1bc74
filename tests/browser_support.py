"""Shared parts of the browser tests: Debian's chromium under Playwright, the platform running
as `safepassage serve`, and the web chat's buttons and text boxes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, sync_playwright

from safepassage.conversations import catalog
from tests.server import Platform, fresh_postgres_database, running_platform

CHROMIUM = os.environ.get("SAFEPASSAGE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def skip_without_chromium() -> None:
    """Call at import of a browser test module: skip it where chromium is missing (CI sets
    SAFEPASSAGE_REQUIRE_BROWSER, so a missing browser fails there instead)."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("SAFEPASSAGE_REQUIRE_BROWSER"):
        raise RuntimeError(f"chromium not found at {CHROMIUM}; CI must install it")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(
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
        yield launched
        launched.close()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    if connection.vendor == "postgresql":
        with fresh_postgres_database() as url, running_platform(tmp_path, url) as running:
            yield running
    else:
        with running_platform(tmp_path) as running:
            yield running


def click(page: Page, lang: str, msgid: str) -> None:
    page.get_by_role("button", name=catalog.text(lang, msgid), exact=True).click()


def say(page: Page, text: str, lang: str) -> None:
    page.locator("form:not(.nav) input[name=text], form:not(.nav) textarea[name=text]").first.fill(
        text
    )
    click(page, lang, "chat.send")
