"""State, errors and shared helpers of the local fake Bot API (see fake_telegram)."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
SEND_METHODS = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}
BOT_LIMIT_PER_SECOND = 30
CHAT_GAP_SECONDS = 1.0


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int


@dataclass
class BotState:
    token: str
    id: int
    username: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 100_000
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_connections: int = 4
    pending_push: deque[dict[str, Any]] = field(default_factory=deque)
    in_flight_chats: set[int] = field(default_factory=set)
    acked: list[int] = field(default_factory=list)
    acked_at: dict[int, float] = field(default_factory=dict)  # update id → when answered 200
    push_attempts: int = 0
    messages: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)  # chat → id → msg
    next_message_id: dict[int, int] = field(default_factory=dict)
    deleted: list[tuple[int, int]] = field(default_factory=list)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: list[str] = field(default_factory=list)
    sends: deque[float] = field(default_factory=deque)
    chat_last_send: dict[int, float] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    sizeless: set[str] = field(default_factory=set)  # file ids whose size nothing states
    file_bytes_sent: int = 0  # written to downloaders of files, before they hung up
    calls: list[Call] = field(default_factory=list)
    rate_limited: int = 0
    description: dict[str, str] = field(default_factory=dict)
    # getUpdates calls so far: a new one ends the one still waiting with 409, as Telegram does
    # when two instances of a bot poll at once.
    polls: int = 0


def parse_value(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def chat_of(update: dict[str, Any]) -> int | None:
    for key in ("message", "edited_message", "channel_post"):
        if key in update:
            return int(update[key]["chat"]["id"])
    if "callback_query" in update:
        return int(update["callback_query"]["from"]["id"])
    return None
