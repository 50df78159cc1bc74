"""`safepassage serve` with a bot configured, in its own process, against the local fake Bot API:
long polling drives an application; a SIGKILL in the middle of 1,000 webhook updates loses
none and applies none twice."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from safepassage.conversations import catalog
from safepassage.testing.fake_telegram import FakeTelegram
from tests.server import free_port, fresh_postgres_database, wait_healthy
from tests.telegram_support import SECRET, TOKEN


@contextmanager
def serve(
    tmp_path: Path,
    fake: FakeTelegram,
    port: int,
    webhook: bool,
    database: str = "",
    processes: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEPASSAGE_DATA_DIR"}}
    env.update(
        SAFEPASSAGE_DATA_DIR=str(tmp_path / "var"),
        TELEGRAM_BOTS=f"main={TOKEN}",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE=fake.base_url,
        SAFEPASSAGE_WEB_PROCESSES=str(processes),
    )
    env.update(extra_env or {})
    if database:
        env["DATABASE_URL"] = database
    if webhook:
        env["TELEGRAM_WEBHOOK_URL"] = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "safepassage.cli", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def rows(tmp_path: Path, sql: str, database: str = "") -> int:
    if database:
        with psycopg.connect(database) as conn:
            found = conn.execute(sql).fetchone()
            return int(found[0]) if found else 0
    with sqlite3.connect(tmp_path / "var" / "safepassage.sqlite3") as db:
        return int(db.execute(sql).fetchone()[0])


def port_closes(port: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.1)
    return False


@contextmanager
def database_for(kind: str) -> Iterator[str]:
    """'' for SQLite in the data dir; a fresh PostgreSQL database when this run uses one."""
    if kind == "sqlite":
        yield ""
        return
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL run covers several web processes")
    with fresh_postgres_database() as url:
        yield url


def test_long_polling_application_in_russian(tmp_path: Path) -> None:
    with FakeTelegram([TOKEN]) as fake, serve(tmp_path, fake, free_port(), webhook=False):
        user = FakeTelegram.applicant(5110000100, "ru")
        fake.send_text(TOKEN, user, "/start")
        sent = 1
        fake.wait_for(TOKEN, user["id"], sent)

        def press(value: str) -> None:
            nonlocal sent
            last = fake.chat(TOKEN, user["id"])[-1]
            data = next(
                b["callback_data"]
                for row in last["reply_markup"]["inline_keyboard"]
                for b in row
                if b["callback_data"].split("|")[2] == value
            )
            fake.press(TOKEN, user, last, data)
            sent += 1
            fake.wait_for(TOKEN, user["id"], sent)

        for value in ("self", "front", "later", "skip"):
            press(value)
        for text in ("DEMO-UNIT 1", "DEMO-NAME", "DEMO-DOB"):
            fake.send_text(TOKEN, user, text)
            sent += 1
            fake.wait_for(TOKEN, user["id"], sent)
        press("alone")
        press("")  # the wishes: none ticked, continue
        press("confirm")
        messages = fake.wait_for(TOKEN, user["id"], sent + 1)  # confirmation, then the menu
        assert catalog.text("ru", "apply.done.prompt") in messages[-2]["text"]
        assert messages[-1]["text"].startswith(catalog.text("ru", "menu.prompt"))
        assert rows(tmp_path, "SELECT count(*) FROM cases_case WHERE status = 'new'") == 1


def count(fake: FakeTelegram, method: str, chat_id: int | None = None) -> int:
    return len(
        [
            c
            for c in fake.calls(TOKEN, method)
            if c.status == 200 and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]
    )


def wait_until(predicate: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not answer in time")
        time.sleep(0.05)


def test_webhook_application_in_korean_and_the_operator_reply(tmp_path: Path) -> None:
    port = free_port()
    with FakeTelegram([TOKEN]) as fake, serve(tmp_path, fake, port, webhook=True):
        assert fake.bots[TOKEN].webhook_url == f"http://127.0.0.1:{port}/tg/main/webhook"
        assert fake.bots[TOKEN].description["ko"] == catalog.text("ko", "chat.tg.description")
        user = FakeTelegram.applicant(5110000200, "ko")
        chat_id = user["id"]

        def act(push: Callable[[], int], method: str = "sendMessage", more: int = 1) -> None:
            before = count(fake, method, None if method != "sendMessage" else chat_id)
            update_id = push()
            wait_until(lambda: update_id in fake.bots[TOKEN].acked)
            wait_until(
                lambda: (
                    count(fake, method, None if method != "sendMessage" else chat_id)
                    >= before + more
                )
            )

        def press(value: str, method: str = "sendMessage", more: int = 1) -> None:
            last = fake.chat(TOKEN, chat_id)[-1]
            data = next(
                b["callback_data"]
                for row in last["reply_markup"]["inline_keyboard"]
                for b in row
                if b["callback_data"].split("|")[2] == value
            )
            act(lambda: fake.press(TOKEN, user, last, data), method, more)

        act(lambda: fake.send_text(TOKEN, user, "/start"))
        assert fake.chat(TOKEN, chat_id)[-1]["text"] == catalog.text("ko", "apply.who.prompt")
        for value in ("self", "front", "now"):
            press(value)
        act(lambda: fake.send_location(TOKEN, user, 48.287312, 37.181265))
        for text in ("DEMO-UNIT 7", "DEMO-NAME", "DEMO-DOB"):
            act(lambda text=text: fake.send_text(TOKEN, user, text))
        press("alone")
        press("medical", method="editMessageReplyMarkup")
        press("")
        assert catalog.text("ko", "apply.summary.prompt") in fake.chat(TOKEN, chat_id)[-1]["text"]
        press("confirm", more=2)  # the confirmation, then the menu
        texts = [m["text"] for m in fake.chat(TOKEN, chat_id)]
        assert catalog.text("ko", "apply.done.prompt") in texts[-2]

        # The operator answers from the console's service, in another process.
        env = {**os.environ, "SAFEPASSAGE_DATA_DIR": str(tmp_path / "var")}
        env.pop("DATABASE_URL", None)
        script = (
            "from django.contrib.auth.models import User;"
            "from safepassage.cases.models import Case;"
            "from safepassage.cases.services import do_operator_reply;"
            "do_operator_reply(Case.objects.get(), User.objects.get(username='admin'),"
            " 'DEMO 운영자의 회답')"
        )
        subprocess.run(
            [sys.executable, "-m", "safepassage.cli", "manage", "shell", "-c", script],
            env=env,
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
        wait_until(lambda: fake.chat(TOKEN, chat_id)[-1]["text"] == "DEMO 운영자의 회답")
    log = (tmp_path / "serve.log").read_text()
    assert TOKEN.split(":")[1] not in log  # httpx would log every Bot API URL with the token
    assert str(chat_id) not in log and "DEMO-NAME" not in log
    assert (
        rows(
            tmp_path,
            "SELECT count(*) FROM channels_outboxmessage WHERE status = 'sent'"
            " AND message_id IS NOT NULL",
        )
        == 1
    )


@pytest.mark.parametrize(("kind", "processes"), [("sqlite", 1), ("postgres", 2)])
def test_sigkill_mid_stream_applies_every_update_exactly_once(
    tmp_path: Path, kind: str, processes: int
) -> None:
    with database_for(kind) as database:
        kill_mid_stream(tmp_path, database, processes)


def kill_mid_stream(tmp_path: Path, database: str, processes: int) -> None:
    port = free_port()
    total = 1000
    with FakeTelegram([TOKEN], enforce_limits=False) as fake:
        bot = fake.bots[TOKEN]
        with serve(tmp_path, fake, port, True, database, processes) as process:
            for i in range(total):
                fake.send_text(TOKEN, FakeTelegram.applicant(5120000000 + i, "ko"), "/start")
            deadline = time.monotonic() + 60
            while len(bot.acked) < total // 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        acked_before = len(bot.acked)
        assert 0 < acked_before < total, "the kill must land mid-stream"
        time.sleep(1.0)  # the fake keeps trying and failing while the server is down
        # The web processes died with the one that started them: nothing answers any more.
        assert port_closes(port), "a web process outlived `safepassage serve`"
        with serve(tmp_path, fake, port, True, database, processes):
            deadline = time.monotonic() + 120
            while len(set(bot.acked)) < total and time.monotonic() < deadline:
                time.sleep(0.1)
        assert len(set(bot.acked)) == total
    assert rows(tmp_path, "SELECT count(*) FROM channels_telegramupdate", database) == total
    assert rows(tmp_path, "SELECT count(*) FROM cases_case", database) == total
    # One first question per applicant: an update applied twice would have queued a second.
    outbox = "SELECT count(*) FROM channels_outboxmessage"
    assert rows(tmp_path, outbox, database) == total
    chats = "SELECT count(DISTINCT chat_id) FROM channels_outboxmessage"
    assert rows(tmp_path, chats, database) == total
