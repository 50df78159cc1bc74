"""`safepassage serve` with a bot configured, in its own process, against the local fake Bot API:
long polling drives an application; a SIGKILL in the middle of 1,000 webhook updates loses
none and applies none twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safepassage.conversations import catalog
from safepassage.testing.fake_telegram import FakeTelegram
from tests.server import free_port, wait_healthy
from tests.telegram_support import SECRET, TOKEN


@contextmanager
def serve(
    tmp_path: Path, fake: FakeTelegram, port: int, webhook: bool
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEPASSAGE_DATA_DIR"}}
    env.update(
        SAFEPASSAGE_DATA_DIR=str(tmp_path / "var"),
        TELEGRAM_BOTS=f"main={TOKEN}",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE=fake.base_url,
    )
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


def rows(tmp_path: Path, sql: str) -> int:
    with sqlite3.connect(tmp_path / "var" / "safepassage.sqlite3") as db:
        return int(db.execute(sql).fetchone()[0])


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


def test_sigkill_mid_stream_applies_every_update_exactly_once(tmp_path: Path) -> None:
    port = free_port()
    total = 1000
    with FakeTelegram([TOKEN], enforce_limits=False) as fake:
        bot = fake.bots[TOKEN]
        with serve(tmp_path, fake, port, webhook=True) as process:
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
        with serve(tmp_path, fake, port, webhook=True):
            deadline = time.monotonic() + 120
            while len(set(bot.acked)) < total and time.monotonic() < deadline:
                time.sleep(0.1)
        assert len(set(bot.acked)) == total
    assert rows(tmp_path, "SELECT count(*) FROM channels_telegramupdate") == total
    assert rows(tmp_path, "SELECT count(*) FROM cases_case") == total
    # One first question per applicant: an update applied twice would have queued a second.
    assert rows(tmp_path, "SELECT count(*) FROM channels_outboxmessage") == total
    assert rows(tmp_path, "SELECT count(DISTINCT chat_id) FROM channels_outboxmessage") == total
