"""A database that goes away: /readyz says 503 (/healthz: alive), the chat asks to try again,
nothing is lost.

The outage is real: the platform runs in its own process on its own PostgreSQL database, and
the test forbids connections to that database and ends the open ones.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import t
from tests.server import fresh_postgres_database, refusing_connections, running_platform


def _get(url: str, opener: urllib.request.OpenerDirector | None = None) -> tuple[int, str]:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _answer(url: str, opener: urllib.request.OpenerDirector, page: str) -> tuple[int, str]:
    """Post the first question's answer as a browser without JavaScript does (its form's token)."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the first question has no form token"
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "choice": "self"})
    try:
        with opener.open(url, data=data.encode(), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.django_db
def test_database_outage_gives_503_and_a_calm_page(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the real outage is staged on PostgreSQL; the SQLite run has no server to stop")
    with fresh_postgres_database() as url, running_platform(tmp_path, url) as platform:
        assert _get(platform.url + "/readyz")[0] == 200
        with refusing_connections(url):
            status, _ = _get(platform.url + "/readyz")
            assert status == 503
            assert _get(platform.url + "/healthz")[0] == 200  # alive: not restarted for it
            # The first question needs no database (a visit reads and writes nothing), so it is
            # still shown; answering it is what needs the database, and asks to try again.
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            status, page = _get(platform.url + "/chat/ru/", browser)
            assert status == 200
            status, body = _answer(platform.url + "/chat/ru/", browser, page)
            assert status == 503
            assert t("ru", "chat.unavailable") in body
            assert "Traceback" not in body
        assert _get(platform.url + "/readyz")[0] == 200
        assert _get(platform.url + "/chat/ru/")[0] == 200
