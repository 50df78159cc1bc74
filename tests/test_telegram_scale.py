"""Several instances at once (issue 12): two `safepassage serve` against one PostgreSQL and one
Redis, with two bots, behind a round-robin balancer. Every update is applied once, every reply
sent once, and the fake Bot API (which enforces Telegram's limits) answers no 429 although two
senders share each bot. The window the senders share in Redis is checked on its own too."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from safepassage.channels.telegram import limiter
from safepassage.testing.fake_telegram import FakeTelegram
from tests.redis_support import TELEGRAM, redis_url
from tests.server import free_port, fresh_postgres_database, wait_healthy
from tests.telegram_support import SECRET, SPARE_TOKEN, TOKEN
from tests.test_telegram_serve import rows, wait_until

REDIS = os.environ.get("SAFEPASSAGE_TEST_REDIS") or redis_url(TELEGRAM)


def redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at SAFEPASSAGE_TEST_REDIS")
    for key in client.scan_iter("sp:tg:*"):
        client.delete(key)
    return client


def enter(window: limiter.Window) -> str | None:
    """As the sender waits for a place; None: no shared window answered (its own decides)."""
    while True:
        token, wait = window.try_enter()
        if token is not None or wait <= 0:
            return token
        time.sleep(wait)


def calls_through(windows: list[limiter.Window], each: int = 40) -> tuple[list[float], float]:
    """Each window in a thread of its own (a sender) makes ``each`` calls of 20 ms as fast as
    it lets them: the calls' start times, sorted, and the seconds all of them took."""
    starts: list[float] = []
    lock = threading.Lock()

    def sender(window: limiter.Window) -> None:
        for _ in range(each):
            token = enter(window)
            started = time.monotonic()
            time.sleep(0.02)  # the call
            window.leave(token)
            with lock:
                starts.append(started)

    threads = [threading.Thread(target=sender, args=(w,)) for w in windows]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(starts), time.monotonic() - begun


def test_senders_sharing_a_bot_keep_its_limit_together() -> None:
    """Three senders (threads here; processes or machines alike: the window is in Redis) make
    120 calls of 20 ms as fast as the window lets them: no second holds more than 30 calls, and
    together they still reach about 30 a second."""
    redis_or_skip()
    windows = [limiter.SharedWindow(REDIS, "7000000009") for _ in range(3)]
    starts, elapsed = calls_through(windows)
    busiest = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    assert len(starts) == 120
    assert busiest <= limiter.LIMIT
    assert 3.0 <= elapsed < 6.0  # 120 calls at 30/s: about four seconds, not one


class Balancer:
    """A round-robin HTTP forwarder in front of several instances (a load balancer)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = 0
        self.lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with balancer.lock:
                    port = balancer.ports[balancer.turn % len(balancer.ports)]
                    balancer.turn += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{self.path}", data=body, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as error:
                    status, data = error.code, b""
                except OSError:
                    status, data = 502, b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def instance(data: Path, fake: FakeTelegram, port: int, database: str, url: str) -> Iterator[None]:
    """One `safepassage serve` with both bots, its webhooks at the balancer's ``url``."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEPASSAGE_DATA_DIR"}}
    env.update(
        SAFEPASSAGE_DATA_DIR=str(data),  # the same keys for both, as on two machines
        DATABASE_URL=database,
        SAFEPASSAGE_REDIS_URL=REDIS,
        TELEGRAM_BOTS=f"main={TOKEN},spare={SPARE_TOKEN}",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE=fake.base_url,
        TELEGRAM_WEBHOOK_URL=url,
        SAFEPASSAGE_WEB_PROCESSES="1",
        SAFEPASSAGE_LOG_LEVEL="WARNING",
    )
    with (data.parent / f"serve-{port}.log").open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "safepassage.cli", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=data.parent,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def two_instances(tmp_path: Path, fake: FakeTelegram, database: str) -> Iterator[None]:
    ports = [free_port(), free_port()]
    balancer = Balancer(ports)
    url = f"http://127.0.0.1:{balancer.port}"
    data = tmp_path / "var"
    try:
        with (
            instance(data, fake, ports[0], database, url),
            instance(data, fake, ports[1], database, url),
        ):
            yield
    finally:
        balancer.close()


def test_two_instances_apply_every_update_once_and_send_every_reply_once(
    tmp_path: Path,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("several instances need PostgreSQL")
    redis_or_skip()
    per_bot = 120
    with fresh_postgres_database() as database, FakeTelegram([TOKEN, SPARE_TOKEN]) as fake:
        with two_instances(tmp_path, fake, database):
            people = [
                (token, FakeTelegram.applicant(5300000000 + n + (0 if token == TOKEN else 5000)))
                for token in (TOKEN, SPARE_TOKEN)
                for n in range(per_bot)
            ]
            for token, user in people:
                fake.send_text(token, user, "/start")
            total = 2 * per_bot

            def answered(count: int) -> bool:
                return all(len(fake.chat(t, u["id"])) >= count for t, u in people)

            wait_until(lambda: answered(1), 90)
            for token, user in people:  # each presses a button of the question it got
                question = fake.chat(token, user["id"])[-1]
                button = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                fake.press(token, user, question, button)
            wait_until(lambda: answered(2), 90)
            wait_until(lambda: rows(tmp_path, UNSENT, database) == 0 and all_acked(fake, total), 60)
            # A backlog both senders of each bot see at once: together they must still keep
            # the bot's 30/s (without the shared window they send 60/s and meet 429s).
            backlog(tmp_path, database, BACKLOG)
            wait_until(lambda: rows(tmp_path, UNSENT, database) == 0, 90)
        updates = rows(tmp_path, "SELECT count(*) FROM channels_telegramupdate", database)
        sent = rows(tmp_path, "SELECT count(*) FROM channels_outboxmessage", database)
    assert updates == 2 * total  # every update applied once
    for token in (TOKEN, SPARE_TOKEN):
        bot = fake.bots[token]
        assert bot.rate_limited == 0  # two senders per bot, and no 429
        per_chat = Counter(
            c.params["chat_id"]
            for c in fake.calls(token, "sendMessage")
            if not str(c.params.get("text")).startswith("DEMO backlog")
        )
        assert len(per_chat) == per_bot and set(per_chat.values()) == {2}  # each reply once
        backlog_texts = Counter(
            str(c.params.get("text"))
            for c in fake.calls(token, "sendMessage")
            if str(c.params.get("text")).startswith("DEMO backlog")
        )
        assert len(backlog_texts) == BACKLOG and set(backlog_texts.values()) == {1}
    # Two messages per applicant (each press answered in its webhook's 200); the backlog.
    assert sent == 2 * total + 2 * BACKLOG
    assert sum(len(set(fake.bots[token].answered)) for token in (TOKEN, SPARE_TOKEN)) == total


BACKLOG = 150  # chats per bot, one message each
QUEUE = """
from django.db import transaction
from safepassage.channels.models import TelegramChat
from safepassage.channels.telegram import outbox
with transaction.atomic(), outbox.deferred():
    for bot, first in (("main", 5310000000), ("spare", 5320000000)):
        chats = TelegramChat.objects.bulk_create(
            TelegramChat(bot=bot, pseudonym=f"DEMO-{first + n}",
                         chat_sealed=outbox.seal_chat_id(first + n))
            for n in range(COUNT)
        )
        for n, chat in enumerate(chats):
            outbox.do_send_text(chat, f"DEMO backlog {first + n}")
"""


def backlog(tmp_path: Path, database: str, count: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(SAFEPASSAGE_DATA_DIR=str(tmp_path / "var"), DATABASE_URL=database)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "safepassage.cli",
            "manage",
            "shell",
            "-c",
            QUEUE.replace("COUNT", str(count)),
        ],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )


UNSENT = "SELECT count(*) FROM channels_outboxmessage WHERE status IN ('queued','sending','behind')"


def all_acked(fake: FakeTelegram, total: int) -> bool:
    return sum(len(set(bot.acked)) for bot in fake.bots.values()) == 2 * total
