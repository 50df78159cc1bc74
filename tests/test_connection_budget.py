"""The database connection budget (settings._pool; docs/operations.md, "Connection budget"): a
burst of requests against a running server borrows from each process's pool instead of opening
a connection per request, and while PostgreSQL refuses connections every request answers 503
within a couple of seconds, then the server carries on by itself.

Real processes on a fresh PostgreSQL database of their own; connections are counted in
pg_stat_activity."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.server import (
    fresh_postgres_database,
    postgres_admin_dsn,
    refusing_connections,
    running_platform,
)

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the budget is PostgreSQL's (psycopg's pool)"
)

REQUESTS = 40  # at once: each one a thread of the web process, as under a flood
BUDGET = 2  # SAFEPASSAGE_DATABASE_POOL
# settings._pool: one each for the main thread, the webhook applier, the task worker and the
# scheduler (no bots here) on top of the requests' share.
LONG_LIVED = 4


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _connections(name: str) -> int:
    with psycopg.connect(postgres_admin_dsn(), autocommit=True) as admin:
        found = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
        ).fetchone()
        return int(found[0]) if found else 0


def _most_connections_during(name: str, work: threading.Thread) -> int:
    most = 0
    while work.is_alive():
        most = max(most, _connections(name))
        time.sleep(0.01)
    return most


def _burst(url: str, rounds: int) -> list[int]:
    with ThreadPoolExecutor(REQUESTS) as pool:
        return list(pool.map(_status, [url] * (REQUESTS * rounds)))


def test_a_burst_of_requests_stays_within_the_budget(tmp_path: Path) -> None:
    env = {"SAFEPASSAGE_DATABASE_POOL": str(BUDGET), "SAFEPASSAGE_WEB_PROCESSES": "1"}
    with fresh_postgres_database() as url, running_platform(tmp_path, url, env) as platform:
        name = url.rsplit("/", 1)[1]
        answers: list[int] = []
        work = threading.Thread(
            target=lambda: answers.extend(_burst(platform.url + "/readyz", 5)), daemon=True
        )
        work.start()
        most = _most_connections_during(name, work)
        # Every one answered: they waited their turn for a connection (pgpool.FLOOD_WAIT).
        assert answers.count(200) == REQUESTS * 5
        assert most <= BUDGET + LONG_LIVED


def test_while_postgres_refuses_connections_requests_answer_503_within_seconds(
    tmp_path: Path,
) -> None:
    env = {"SAFEPASSAGE_DATABASE_POOL": str(BUDGET), "SAFEPASSAGE_WEB_PROCESSES": "1"}
    with fresh_postgres_database() as url, running_platform(tmp_path, url, env) as platform:
        assert _burst(platform.url + "/readyz", 1).count(200) == REQUESTS  # the pool is warm
        with refusing_connections(url):
            started = time.monotonic()
            answers = _burst(platform.url + "/readyz", 1)
            took = time.monotonic() - started
            assert answers == [503] * REQUESTS
            assert took < 5, f"{REQUESTS} requests waited {took:.1f} s for their 503"
        started = time.monotonic()
        while _status(platform.url + "/readyz") != 200:
            assert time.monotonic() - started < 10, "the server did not carry on by itself"
            time.sleep(0.2)
        assert _burst(platform.url + "/readyz", 1).count(200) == REQUESTS
