"""What an update must look like before it is applied.

``Update.de_json`` builds objects from whatever JSON it gets without checking types: a ``text``
that is a list, a ``my_chat_member`` without the new member, a chat id far beyond what Telegram
issues all come through it. Such an update is not from Telegram (or from a Telegram we do not
understand): it is ignored, remembered as seen so that it is not delivered again, and logged as
one line ``telegram_update_refused reason=…`` without its content.

Ranges are the Bot API's: user and chat ids "have at most 52 significant bits", other integers
(update and message ids) are 32-bit signed.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from telegram import Message, Update

from safepassage import metrics

log = structlog.get_logger(__name__)
ID_LIMIT = 2**52
INT32_LIMIT = 2**31
# Telegram's updates nest fewer than ten levels (a reply's quoted message with its entities is
# the deepest); far deeper JSON is an attack on the parser's recursion, refused before it runs.
MAX_DEPTH = 32
_BRACKETS = re.compile(rb'[\[\]{}]|"[^"\\]*(?:\\.[^"\\]*)*"')


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests deeper than ``limit`` (brackets inside strings do not count).
    A scan without recursion, so it cannot fail the way the parser would."""
    depth = 0
    for match in _BRACKETS.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id(value: Any) -> bool:
    return _int(value) and -ID_LIMIT < value < ID_LIMIT


def _str(value: Any, optional: bool = True) -> bool:
    return (value is None and optional) or isinstance(value, str)


def _degrees(value: Any, bound: int) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and -bound <= value <= bound
    )


def _user(user: Any) -> str | None:
    if user is None:
        return "no sender"
    if not _id(getattr(user, "id", None)) or not isinstance(getattr(user, "is_bot", None), bool):
        return "bad user"
    if not _str(getattr(user, "language_code", None)):
        return "bad user"
    return None


def _chat(chat: Any) -> str | None:
    if chat is None:
        return "no chat"
    if not _id(getattr(chat, "id", None)) or not isinstance(getattr(chat, "type", None), str):
        return "bad chat"
    return None


def _files(message: Message) -> str | None:
    files: list[Any] = []
    if message.photo:
        if not isinstance(message.photo, tuple | list):
            return "bad photo"
        files.extend(message.photo)
    files.extend(f for f in (message.voice, message.document) if f is not None)
    for item in files:
        if not isinstance(getattr(item, "file_id", None), str):
            return "bad file"
        size = getattr(item, "file_size", None)
        if size is not None and not (_int(size) and size >= 0):
            return "bad file"
        if not _str(getattr(item, "mime_type", None)):
            return "bad file"
    return None


def _message(message: Message, *, ours: bool = False) -> str | None:
    """``ours``: the bot's own message a pressed button sits under (its sender is the bot)."""
    if not _int(message.message_id) or not 0 < message.message_id < INT32_LIMIT:
        return "bad message id"
    problem = _chat(message.chat)
    if problem is None and message.chat.type == "private" and not ours:
        problem = _user(message.from_user)
    if problem:
        return problem
    if not _str(message.text) or not _str(message.caption):
        return "bad text"
    location = message.location
    if location is not None:
        lat, lon = getattr(location, "latitude", None), getattr(location, "longitude", None)
        if not (_degrees(lat, 90) and _degrees(lon, 180)):
            return "bad location"
    return _files(message)


def problem(update: Update) -> str | None:
    """Why ``update`` cannot be applied, or None."""
    if not _int(update.update_id) or not 0 <= update.update_id < INT32_LIMIT:
        return "bad update id"
    member = update.my_chat_member
    if member is not None:
        new = getattr(member, "new_chat_member", None)
        if not isinstance(getattr(new, "status", None), str):
            return "partial my_chat_member"
        return _user(getattr(member, "from_user", None)) or _chat(getattr(member, "chat", None))
    query = update.callback_query
    if query is not None:
        if not isinstance(query.id, str) or not _str(query.data):
            return "bad callback"
        if query.message is not None and isinstance(query.message, Message):
            return _message(query.message, ours=True) or _user(query.from_user)
        return _user(query.from_user)
    for message in (update.message, update.edited_message):
        if message is not None:
            return _message(message)
    return None


def acceptable(slug: str, update: Update) -> bool:
    """False (and one log line) when ``update`` must be ignored."""
    try:
        reason = problem(update)
    except (AttributeError, TypeError, ValueError) as exc:  # a shape the checks did not foresee
        reason = f"unreadable ({type(exc).__name__})"
    if reason is None:
        return True
    log.info("telegram_update_refused", reason=reason, bot=slug[:40])
    metrics.UPDATES_REFUSED.labels(slug[:40], "shape").inc()
    return False
