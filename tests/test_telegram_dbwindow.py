"""Several senders of one bot on PostgreSQL without Redis (issue 12): the bot's call window is
kept in the database (``channels/telegram/dbwindow.py``). Two `safepassage sender` processes
for the same bots send a backlog both see at once: every message goes once and the fake Bot API
(which enforces Telegram's limits) answers no 429. The window is checked on its own too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from safepassage.channels.telegram import dbwindow, limiter
from safepassage.testing.fake_telegram import FakeTelegram
from tests.server import fresh_postgres_database
from tests.telegram_support import SECRET, SPARE_TOKEN, TOKEN
from tests.test_telegram_scale import REDIS, UNSENT, backlog, calls_through, redis_or_skip
from tests.test_telegram_serve import rows, wait_until

BOT = "7000000019"


def postgres_or_skip() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the database's window is kept on PostgreSQL (SQLite has one sender)")


def make_window(redis_away: bool) -> limiter.Window:
    if redis_away:  # nothing listens on port 9: every sender falls back to the database
        return limiter.SharedWindow("redis://127.0.0.1:9/0", BOT, dbwindow.DatabaseWindow(BOT))
    return dbwindow.DatabaseWindow(BOT)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("redis_away", [False, True], ids=["no-redis", "redis-away"])
def test_senders_sharing_a_bot_keep_its_limit_together_in_the_database(redis_away: bool) -> None:
    """Three senders (threads here, each with its own connection: processes or machines alike)
    make 120 calls of 20 ms as fast as the window lets them: no second holds more than 30
    calls, and together they still reach about 30 a second. The same while a configured Redis
    does not answer."""
    postgres_or_skip()
    windows = [make_window(redis_away) for _ in range(3)]
    starts, elapsed = calls_through(windows)
    for window in windows:
        window.close()
    busiest = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    assert len(starts) == 120
    assert busiest <= dbwindow.LIMIT
    assert 3.0 <= elapsed < 6.0  # 120 calls at 30/s: about four seconds, not one


@pytest.mark.django_db(transaction=True)
def test_a_429_pauses_every_sender_and_a_dead_senders_places_come_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    postgres_or_skip()
    monkeypatch.setattr(dbwindow, "IN_FLIGHT_SECONDS", 1.0)
    one, other = dbwindow.DatabaseWindow(BOT), dbwindow.DatabaseWindow(BOT)
    # A sender takes every place and dies without giving them back.
    for _ in range(dbwindow.LIMIT):
        token, _ = one.try_enter()
        assert token is not None
    token, wait = other.try_enter()
    assert token is None and wait == dbwindow.POLL  # all in flight: ask again soon
    time.sleep(2.1)  # the in-flight timeout, and the second after it
    token, _ = other.try_enter()
    assert token is not None
    other.leave(token)
    one.pause(3.0)  # one sender met a 429: the other waits too
    token, wait = other.try_enter()
    assert token is None and 2.0 < wait <= 3.0
    one.close()
    other.close()


@pytest.mark.django_db(transaction=True)
def test_a_sender_back_on_redis_keeps_to_the_database_while_others_may_still_be_there() -> None:
    """Redis was away and answers again: one sender is back on it, another still on the
    database's window (its retry is not due yet). The one back takes its places in both, so
    the other cannot add 30 calls of its own to the same second."""
    postgres_or_skip()
    redis_or_skip()
    back = limiter.SharedWindow(REDIS, BOT, dbwindow.DatabaseWindow(BOT))
    back._failed(ConnectionError("Redis away"))
    back.down_until = 0.0  # its retry is due: Redis answers
    still_away = dbwindow.DatabaseWindow(BOT)
    for _ in range(dbwindow.LIMIT):
        token, _ = back.try_enter()
        assert token is not None
    token, wait = still_away.try_enter()
    assert token is None and wait > 0  # the bot's 30 places are taken
    back.close()
    still_away.close()


def test_without_redis_the_window_is_in_the_database_on_postgresql_and_none_on_sqlite() -> None:
    window = limiter.shared_window(BOT)
    try:
        if connection.vendor == "postgresql":
            assert isinstance(window, dbwindow.DatabaseWindow)
        else:
            assert window is None  # one process sends: its own window suffices
    finally:
        if window is not None:
            window.close()


@contextmanager
def sender_process(tmp_path: Path, fake: FakeTelegram, database: str, n: int) -> Iterator[Path]:
    """`safepassage sender` for both bots, without Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SAFEPASSAGE_DATA_DIR", "SAFEPASSAGE_REDIS_URL"}
    }
    env.update(
        SAFEPASSAGE_DATA_DIR=str(tmp_path / "var"),  # the same keys for both
        DATABASE_URL=database,
        TELEGRAM_BOTS=f"main={TOKEN},spare={SPARE_TOKEN}",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE=fake.base_url,
        TELEGRAM_WEBHOOK_URL="http://127.0.0.1:9",  # no long polling: only the outbox
        SAFEPASSAGE_LOG_LEVEL="WARNING",
    )
    output = tmp_path / f"sender-{n}.log"
    with output.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "safepassage.cli", "sender"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        yield output
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def migrate(tmp_path: Path, database: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(SAFEPASSAGE_DATA_DIR=str(tmp_path / "var"), DATABASE_URL=database)
    subprocess.run(
        [sys.executable, "-m", "safepassage.cli", "manage", "migrate", "-v", "0"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )


def test_two_sender_processes_without_redis_send_every_message_once_without_a_429(
    tmp_path: Path,
) -> None:
    postgres_or_skip()
    count = 150  # chats per bot, one message each: five seconds at 30/s
    with fresh_postgres_database() as database, FakeTelegram([TOKEN, SPARE_TOKEN]) as fake:
        migrate(tmp_path, database)
        with (
            sender_process(tmp_path, fake, database, 1) as first,
            sender_process(tmp_path, fake, database, 2) as second,
        ):
            wait_until(
                lambda: all("Telegram sender:" in log.read_text() for log in (first, second)), 60
            )
            # A backlog both senders of each bot see at once: together they must keep the
            # bot's 30/s (each with only its own window, they send 60/s and meet 429s).
            backlog(tmp_path, database, count)
            wait_until(lambda: rows(tmp_path, UNSENT, database) == 0, 90)
        failed = rows(
            tmp_path, "SELECT count(*) FROM channels_outboxmessage WHERE status <> 'sent'", database
        )
    assert failed == 0
    for token in (TOKEN, SPARE_TOKEN):
        assert fake.bots[token].rate_limited == 0  # two senders per bot, and no 429
        texts = Counter(str(c.params.get("text")) for c in fake.calls(token, "sendMessage"))
        assert len(texts) == count and set(texts.values()) == {1}  # every message once
