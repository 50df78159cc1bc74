"""Shared pieces for the Telegram tests: the local fake Bot API and a driver for one applicant.

The fake speaks HTTP on 127.0.0.1 and the real python-telegram-bot client talks to it through
TELEGRAM_API_BASE; updates go through the real webhook view (Django test client) and replies
leave through the real outbox worker.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from safepassage import config
from safepassage.channels.telegram import bots
from safepassage.channels.telegram.sender import Sender
from safepassage.testing.fake_telegram import FakeTelegram

TOKEN = "7000000001:AAE-demo-main-token-0123456789abcdef"
SPARE_TOKEN = "7000000002:AAE-demo-spare-token-0123456789abcde"
SECRET = "demo-webhook-secret-0123456789"
DATA = Path(__file__).parent / "data" / "telegram"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with FakeTelegram([TOKEN, SPARE_TOKEN]) as server:
        cfg = dataclasses.replace(
            config.get(),
            telegram_bots=(("main", TOKEN), ("spare", SPARE_TOKEN)),
            telegram_webhook_secret=SECRET,
            telegram_api_base=server.base_url,
            telegram_intake_threads=0,  # in the test's transaction; `serve` tests use the pool
        )
        monkeypatch.setattr(config, "get", lambda: cfg)
        bots._parsers.clear()
        yield server
        bots._parsers.clear()


def post_update(client: Client, update: dict[str, Any], slug: str = "main", **headers: str) -> int:
    extra = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": SECRET, **headers}
    response = client.post(
        f"/tg/{slug}/webhook", json.dumps(update), content_type="application/json", **extra
    )
    return int(response.status_code)


@dataclass
class Applicant:
    """One applicant's Telegram app: sends updates through the webhook, reads the bot's replies."""

    fake: FakeTelegram
    client: Client
    user: dict[str, Any]
    token: str = TOKEN
    slug: str = "main"

    def _deliver(self, update_id: int) -> None:
        bot = self.fake.bots[self.token]
        update = next(u for u in bot.updates if u["update_id"] == update_id)
        bot.updates.remove(update)
        assert post_update(self.client, update, self.slug) == 200
        self.flush()

    def flush(self) -> None:
        sender = Sender(self.slug)
        try:
            sender.run_until_idle()
        finally:
            sender.close()

    @property
    def chat_id(self) -> int:
        return int(self.user["id"])

    def messages(self) -> list[dict[str, Any]]:
        return self.fake.chat(self.token, self.chat_id)

    def last(self) -> dict[str, Any]:
        return self.messages()[-1]

    def text(self, value: str) -> None:
        self._deliver(self.fake.send_text(self.token, self.user, value))

    def location(self, latitude: float, longitude: float) -> None:
        self._deliver(self.fake.send_location(self.token, self.user, latitude, longitude))

    def file(self, kind: str, data: bytes, mime: str = "") -> None:
        self._deliver(self.fake.send_file(self.token, self.user, kind, data, mime))

    def buttons(self, message: dict[str, Any] | None = None) -> dict[str, str]:
        """callback value → button text, of the latest message that has buttons."""
        for candidate in [message] if message else reversed(self.messages()):
            rows = (candidate.get("reply_markup") or {}).get("inline_keyboard") or []
            if rows:
                return {b["callback_data"].split("|")[2]: b["text"] for row in rows for b in row}
        return {}

    def press(self, value: str, message: dict[str, Any] | None = None) -> None:
        for candidate in [message] if message else reversed(self.messages()):
            rows = (candidate.get("reply_markup") or {}).get("inline_keyboard") or []
            for row in rows:
                for button in row:
                    if button["callback_data"].split("|")[2] == value:
                        self._deliver(
                            self.fake.press(
                                self.token, self.user, candidate, button["callback_data"]
                            )
                        )
                        return
            if rows:
                break
        raise AssertionError(f"no button {value!r} in the latest keyboard")
