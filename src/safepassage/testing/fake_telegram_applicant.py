"""The applicant's side of the local fake Bot API: what a user does in the Telegram app
(write, share a location, send a file, press a button, block the bot) and what the bot did."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from typing import Any

from safepassage.testing.fake_telegram_state import BotState, Call


class ApplicantSide:
    """Mixed into FakeTelegram, which provides the bots, the lock and the id counter."""

    bots: dict[str, BotState]
    lock: threading.Condition
    _ids: itertools.count[int]

    def _new_message(
        self, bot: BotState, chat_id: int, sender: dict[str, Any], **content: Any
    ) -> dict[str, Any]:
        message_id = bot.next_message_id.get(chat_id, 1)
        bot.next_message_id[chat_id] = message_id + 1
        message = {
            "message_id": message_id,
            "from": sender,
            "chat": {"id": chat_id, "first_name": "DEMO", "type": "private"},
            "date": int(time.time()),
            **content,
        }
        bot.messages.setdefault(chat_id, {})[message_id] = message
        return message

    @staticmethod
    def applicant(user_id: int, language_code: str = "ru") -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": "DEMO",
            "language_code": language_code,
        }

    def push(self, token: str, update: dict[str, Any]) -> int:
        """Queue an update (an ``update_id`` is assigned) for getUpdates or the webhook."""
        bot = self.bots[token]
        with self.lock:
            bot.next_update_id += 1
            update = {"update_id": bot.next_update_id, **update}
            if bot.webhook_url:
                bot.pending_push.append(update)
            else:
                bot.updates.append(update)
            self.lock.notify_all()
            return int(update["update_id"])

    def send_text(self, token: str, user: dict[str, Any], text: str) -> int:
        bot = self.bots[token]
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [
                {"offset": 0, "length": len(text.split(" ")[0]), "type": "bot_command"}
            ]
        with self.lock:
            message = self._new_message(bot, user["id"], user, **content)
        return self.push(token, {"message": message})

    def send_location(
        self, token: str, user: dict[str, Any], latitude: float, longitude: float
    ) -> int:
        bot = self.bots[token]
        with self.lock:
            message = self._new_message(
                bot, user["id"], user, location={"latitude": latitude, "longitude": longitude}
            )
        return self.push(token, {"message": message})

    def send_file(
        self,
        token: str,
        user: dict[str, Any],
        kind: str,
        data: bytes,
        mime: str = "",
        *,
        state_size: bool = True,
    ) -> int:
        """``state_size=False``: neither the update, ``getFile`` nor the download's headers
        say how large the file is (the Bot API leaves ``file_size`` out when it does not know)."""
        bot = self.bots[token]
        file_id = "AgAC" + secrets.token_hex(12)
        unique = "AQAD" + secrets.token_hex(6)
        with self.lock:
            bot.files[file_id] = (f"{kind}s/file_{next(self._ids)}", data)
            if kind == "photo":
                content: dict[str, Any] = {
                    "photo": [
                        {
                            "file_id": file_id,
                            "file_unique_id": unique,
                            "file_size": len(data),
                            "width": 64,
                            "height": 64,
                        }
                    ]
                }
            elif kind == "voice":
                content = {
                    "voice": {
                        "file_id": file_id,
                        "file_unique_id": unique,
                        "duration": 3,
                        "mime_type": mime or "audio/ogg",
                        "file_size": len(data),
                    }
                }
            else:
                content = {
                    "document": {
                        "file_name": "DEMO.pdf",
                        "mime_type": mime or "application/pdf",
                        "file_id": file_id,
                        "file_unique_id": unique,
                        "file_size": len(data),
                    }
                }
            if not state_size:
                bot.sizeless.add(file_id)
                for item in content.get("photo") or [content.get("voice") or content["document"]]:
                    item.pop("file_size", None)
            message = self._new_message(bot, user["id"], user, **content)
        return self.push(token, {"message": message})

    def press(self, token: str, user: dict[str, Any], message: dict[str, Any], data: str) -> int:
        bot = self.bots[token]
        query_id = str(next(self._ids) * 1_000_003 + 4_382_000_000_000_000)
        query = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": "-4011920468345530651",
            "data": data,
        }
        with self.lock:
            bot.callbacks[query_id] = query
        return self.push(token, {"callback_query": query})

    def block(self, token: str, chat_id: int) -> None:
        self.bots[token].blocked.add(chat_id)

    # -- reading what the bot did -------------------------------------------------------------
    def chat(self, token: str, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages still in the chat, oldest first."""
        bot = self.bots[token]
        with self.lock:
            return [
                dict(m) for m in bot.messages.get(chat_id, {}).values() if m["from"].get("is_bot")
            ]

    def wait_for(
        self, token: str, chat_id: int, count: int, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """Wait until the bot has sent ``count`` messages to this chat in all (deleted included)."""
        bot = self.bots[token]
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                sent = [
                    c
                    for c in bot.calls
                    if c.method == "sendMessage"
                    and c.status == 200
                    and int(c.params["chat_id"]) == chat_id
                ]
                if len(sent) >= count:
                    return [c.params for c in sent]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(sent)} of {count} messages arrived")
                self.lock.wait(min(remaining, 0.2))

    def calls(self, token: str, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.bots[token].calls if method is None or c.method == method]
