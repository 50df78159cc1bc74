"""The limiter is one for all web processes: its store is shared (the database, or Redis).

A second process (a fresh Python, as uvicorn's workers are) counts into the same buckets as this
one. Redis is the machine's (127.0.0.1:6379); an unreachable Redis is a closed loopback port.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from safepassage.privacy import ratelimit
from safepassage.privacy.models import RateCounter
from tests.redis_support import THROTTLE, redis_url

REDIS_URL = redis_url(THROTTLE)
CLOSED_PORT_URL = "redis://127.0.0.1:9/0"  # discard: nothing listens there on this machine

_OTHER_PROCESS = """
import django, sys
django.setup()
from safepassage.privacy import ratelimit
for _ in range(int(sys.argv[2])):
    ratelimit.hit("test.shared", sys.argv[1], 5, 600)
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}@{db['HOST']}{port}/{db['NAME']}"


def _hits_in_another_process(key: str, hits: int, redis_url: str) -> None:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="safepassage.settings",
        DATABASE_URL=_database_url(),
        SAFEPASSAGE_REDIS_URL=redis_url,
    )
    subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, key, str(hits)], env=env, check=True, timeout=60
    )


def _redis_up() -> bool:
    try:
        return bool(ratelimit.RedisStore(REDIS_URL).client.ping())
    except Exception:
        return False


@pytest.mark.django_db(transaction=True)
def test_the_database_limit_holds_across_processes(settings: Any) -> None:
    settings.SAFEPASSAGE_REDIS_URL = ""
    key = f"DEMO-{uuid.uuid4()}"
    _hits_in_another_process(key, 4, "")
    assert ratelimit.hit("test.shared", key, 5, 600).allowed  # the fifth
    assert not ratelimit.hit("test.shared", key, 5, 600).allowed  # the sixth, in two processes
    assert not ratelimit.check("test.shared", key, 5, 600).allowed


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
@pytest.mark.django_db
def test_the_redis_limit_holds_across_processes_and_writes_nothing_to_the_database(
    settings: Any,
) -> None:
    settings.SAFEPASSAGE_REDIS_URL = REDIS_URL
    key = f"DEMO-{uuid.uuid4()}"
    _hits_in_another_process(key, 4, REDIS_URL)
    assert ratelimit.hit("test.shared", key, 5, 600).allowed
    assert not ratelimit.hit("test.shared", key, 5, 600).allowed
    assert not RateCounter.objects.exists()
    client = ratelimit.RedisStore(REDIS_URL).client
    names = [name.decode() for name in client.scan_iter("sp:rl:*", count=1000)]
    assert names and not any(key in name for name in names)


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
@pytest.mark.django_db
def test_login_throttle_through_redis_refuses_the_guessing_address(settings: Any) -> None:
    settings.SAFEPASSAGE_REDIS_URL = REDIS_URL
    username = f"DEMO-{uuid.uuid4().hex[:8]}"
    guesser = Client(REMOTE_ADDR="203.0.113.8")
    for _ in range(5):
        guesser.post("/console/login/", {"username": username, "password": "wrong password"})
    refused = guesser.post("/console/login/", {"username": username, "password": "x"})
    assert refused.status_code == 429
    assert not RateCounter.objects.exists()


@pytest.mark.django_db
def test_an_unreachable_redis_falls_back_to_the_database(settings: Any) -> None:
    settings.SAFEPASSAGE_REDIS_URL = CLOSED_PORT_URL
    username = f"DEMO-{uuid.uuid4().hex[:8]}"
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        response = guesser.post(
            "/console/login/", {"username": username, "password": "wrong password"}
        )
        assert response.status_code == 200  # no 500
    assert guesser.post("/console/login/", {"username": username, "password": "x"}).status_code == (
        429
    )  # the limit still holds, counted in the database
    assert RateCounter.objects.exists()
