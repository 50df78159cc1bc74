"""The Telegram outbox: Bot API calls queued in the transaction that caused them.

Rows are sent by :mod:`safepassage.channels.telegram.sender`. Payloads (chat id, text, buttons)
are ciphertext under the channel-address key and are wiped once sent; the state stays for the
console (:func:`outbox_states`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from safepassage import config, fastsave
from safepassage.cases.delivery import DeliveryState
from safepassage.cases.models import Case, Message
from safepassage.channels.models import ChatTrace, OutboxMessage, OutboxStatus, TelegramChat
from safepassage.privacy import crypto
from safepassage.web.service_health import Backlog

SEND = "sendMessage"
DELETE = "deleteMessage"
ANSWER_CALLBACK = "answerCallbackQuery"
EDIT_MARKUP = "editMessageReplyMarkup"
GET_FILE = "getFile"  # not a Bot API call we queue to the chat; handled by attachments
CHAT_PURPOSE = "telegram-chat"
PAYLOAD_PURPOSE = "telegram-outbox"


def seal_chat_id(chat_id: int) -> bytes:
    return crypto.seal_channel_address(CHAT_PURPOSE, str(chat_id))


def chat_id_of(chat: TelegramChat) -> int:
    return int(crypto.open_channel_address(CHAT_PURPOSE, bytes(chat.chat_sealed)))


def payload_of(row: OutboxMessage) -> dict[str, Any]:
    if not row.payload_sealed:
        return {}
    data = json.loads(crypto.open_channel_address(PAYLOAD_PURPOSE, bytes(row.payload_sealed)))
    return data if isinstance(data, dict) else {}


@dataclass
class _Deferred:
    outbox: list[OutboxMessage] = field(default_factory=list)
    traces: list[ChatTrace] = field(default_factory=list)


_local = threading.local()


@contextmanager
def deferred() -> Iterator[None]:
    """Within this block (inside a transaction) outbox rows and traces are collected and
    written with one statement each when it ends, in the order they were queued. A batch of
    Telegram updates writes its replies this way; the rows commit with the batch or not at
    all, exactly as when each was written at once."""
    _local.pending = _Deferred()
    try:
        yield
        flush()
    finally:
        _local.pending = None


def flush() -> None:
    """Write what :func:`deferred` collected so far (before anything reads those tables)."""
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is None:
        return
    fastsave.insert_many(pending.outbox)
    fastsave.insert_many(pending.traces)
    pending.outbox, pending.traces = [], []


def _queue(
    chat: TelegramChat,
    method: str,
    payload: dict[str, Any],
    *,
    case: Case | None = None,
    message: Message | None = None,
    erasable: bool = False,
) -> OutboxMessage:
    sealed = crypto.seal_channel_address(PAYLOAD_PURPOSE, json.dumps(payload, ensure_ascii=False))
    row = OutboxMessage(
        chat=chat,
        bot=chat.bot,
        method=method,
        payload_sealed=sealed,
        not_before=timezone.now(),
        erasable=erasable,
        case=case,
        message=message,
    )
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is not None and message is None:
        pending.outbox.append(row)
    else:
        row.save(force_insert=True)
    return row


def do_send_text(
    chat: TelegramChat,
    text: str,
    markup: dict[str, Any] | None = None,
    *,
    case: Case | None = None,
    message: Message | None = None,
) -> OutboxMessage:
    """Every message we send is erasable: it is deleted after the configured time."""
    payload: dict[str, Any] = {"text": text[:4096]}
    if markup and markup.get("inline_keyboard"):
        payload["reply_markup"] = markup
    return _queue(chat, SEND, payload, case=case, message=message, erasable=True)


def do_answer_callback(chat: TelegramChat, callback_query_id: str, text: str = "") -> None:
    payload: dict[str, Any] = {"callback_query_id": callback_query_id}
    if text:
        payload["text"] = text[:200]
    _queue(chat, ANSWER_CALLBACK, payload)


def do_edit_markup(chat: TelegramChat, message_id: int, markup: dict[str, Any]) -> None:
    _queue(chat, EDIT_MARKUP, {"message_id": message_id, "reply_markup": markup})


def erase_deadline() -> datetime:
    """Now + TELEGRAM_ERASE_AFTER_SECONDS, rounded up to the minute: the stored time keeps only
    minutes (ChatTrace.erase_due), and floored it deleted a message up to a minute early."""
    due = timezone.now() + timedelta(seconds=config.get().telegram_erase_after_seconds)
    floored = due.replace(second=0, microsecond=0)
    return floored if floored == due else floored + timedelta(minutes=1)


def do_remember_trace(chat: TelegramChat, message_id: int, due: datetime | None = None) -> None:
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        return  # a malformed update: there is no message to delete later
    trace = ChatTrace(chat=chat, message_id=message_id, erase_due=due or erase_deadline())
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is not None:
        pending.traces.append(trace)
    else:
        trace.save(force_insert=True)


def do_erase_traces(chat: TelegramChat, *, keep: set[int] | None = None) -> int:
    """Queue deleteMessage for every message we know of in this chat (ours and theirs)."""
    flush()
    count = 0
    for trace in ChatTrace.objects.filter(chat=chat).order_by("id"):
        if keep and trace.message_id in keep:
            continue
        _queue(chat, DELETE, {"message_id": trace.message_id})
        trace.delete()
        count += 1
    return count


def do_erase_due(now: datetime | None = None) -> int:
    """The sweep: traces whose time has come are queued for deletion."""
    count = 0
    with transaction.atomic():
        due = ChatTrace.objects.select_related("chat").filter(erase_due__lte=now or timezone.now())
        for trace in due[:500]:
            _queue(trace.chat, DELETE, {"message_id": trace.message_id})
            trace.delete()
            count += 1
    return count


def deliver_operator_reply(message: Message, text: str) -> None:
    """Registered with cases.delivery: runs inside cases.services.do_operator_reply's
    transaction, so the reply and its outbox row commit together or not at all."""
    chat = (
        TelegramChat.objects.filter(conversation__case=message.case, blocked_at=None)
        .order_by("-id")
        .first()
    )
    if chat is None:
        chat = TelegramChat.objects.filter(conversation__case=message.case).order_by("-id").first()
    if chat is None:
        return
    row = do_send_text(chat, text, case=message.case, message=message)
    if chat.blocked_at is not None:
        row.status, row.reason, row.payload_sealed = (
            OutboxStatus.FAILED,
            "blocked by the user",
            None,
        )
        row.save(update_fields=["status", "reason", "payload_sealed"])


def outbox_states(case: Case) -> dict[int, DeliveryState]:
    """The delivery state of each operator reply of ``case``, keyed by cases.Message id."""
    rows = OutboxMessage.objects.filter(case=case, message__isnull=False, method=SEND)
    states: dict[int, DeliveryState] = {}
    for row in rows.order_by("id"):
        if row.message_id is None:
            continue
        waiting = (OutboxStatus.SENDING, OutboxStatus.HELD, OutboxStatus.BEHIND)
        status = OutboxStatus.QUEUED if row.status in waiting else row.status
        states[row.message_id] = DeliveryState(
            row.message_id, str(status), row.reason, row.created_at, row.sent_at
        )
    return states


WAITING = (OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.BEHIND)


def backlogs() -> list[Backlog]:
    """Per bot: the rows due now and not yet sent, and how long the oldest has been due (rows
    scheduled for later, such as erasures a day ahead, are not late). Counts only."""
    now = timezone.now()
    due = (
        OutboxMessage.objects.filter(status__in=WAITING, not_before__lte=now)
        .values("bot")
        .annotate(depth=Count("id"), oldest=Min("not_before"))
    )
    held = dict(
        OutboxMessage.objects.filter(status=OutboxStatus.HELD)
        .values("bot")
        .annotate(n=Count("id"))
        .values_list("bot", "n")
    )
    found = {
        row["bot"]: Backlog(
            row["bot"], row["depth"], (now - row["oldest"]).total_seconds(), held.get(row["bot"], 0)
        )
        for row in due
    }
    for slug, _ in config.get().telegram_bots:
        found.setdefault(slug, Backlog(slug, 0, None, held.get(slug, 0)))
    return sorted(found.values(), key=lambda b: b.bot)
