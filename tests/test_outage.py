"""A database that goes away: /healthz says 503, the chat asks to try again, nothing is lost.

The outage is real: the platform runs in its own process on its own PostgreSQL database, and
the test forbids connections to that database and ends the open ones.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.conftest import t
from tests.server import fresh_postgres_database, postgres_admin_dsn, running_platform


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.django_db
def test_database_outage_gives_503_and_a_calm_page(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the real outage is staged on PostgreSQL; the SQLite run has no server to stop")
    with fresh_postgres_database() as url, running_platform(tmp_path, url) as platform:
        assert _get(platform.url + "/healthz")[0] == 200
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
            )
        try:
            status, _ = _get(platform.url + "/healthz")
            assert status == 503
            status, body = _get(platform.url + "/chat/ru/")
            assert status == 503
            assert t("ru", "chat.unavailable") in body
            assert "Traceback" not in body
        finally:
            with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert _get(platform.url + "/healthz")[0] == 200
        assert _get(platform.url + "/chat/ru/")[0] == 200
