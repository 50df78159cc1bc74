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
from safepassage.cases import suspicion
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

# Claim order (lower first; docs/architecture.md, "How a Telegram update flows", point 5).
OPERATOR = 0  # a staff member's reply: it overtakes automatic ones, in its chat too
URGENT = 1  # the credentials message; urgent (ready now) and verified (submitted) cases
ACTIVE = 2  # a conversation in progress (it has answered something)
FIRST_CONTACT = 3  # a conversation that has not answered anything yet
SHED = 4  # an unattributed first contact while the channel is overloaded (deferred, not lost)
NOTICE = 5  # the current question repeated with a notice ("use the buttons"): no progress
SUSPECT = 6  # a parked sender, a case scored or marked fake
HOUSEKEEPING = 9  # deletions of our messages: they never hold a chat's messages back
URGENT_SCORE = 60  # cases.triage: "now" and above
# Automatic replies one chat may have waiting: beyond it, the oldest waiting ones (never the
# one being sent, never an operator's reply or the credentials message) make room.
CHAT_CAP = 3
_STATUSES_WAITING = (OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.BEHIND)


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
class _Waiting:
    """A chat's unsent rows (no deletions), oldest first, as this transaction knows them:
    (row, automatic and droppable)."""

    rows: list[tuple[OutboxMessage, bool]] = field(default_factory=list)


@dataclass
class _Deferred:
    outbox: list[OutboxMessage] = field(default_factory=list)
    traces: list[ChatTrace] = field(default_factory=list)
    waiting: dict[int, _Waiting] = field(default_factory=dict)  # chat pk → its unsent rows
    dropped: list[int] = field(default_factory=list)  # ids of stored rows that made room
    shed: set[int] = field(default_factory=set)  # chats whose first contact is deferred


def shed(chat: TelegramChat) -> None:
    """Under overload (dialogue.CHANNEL_FIRST_CONTACTS): this chat's replies in this
    transaction wait behind those of conversations in progress (class SHED)."""
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is not None and chat.pk is not None:
        pending.shed.add(chat.pk)
    else:
        _shed_now.add(chat.pk)


_shed_now: set[int | None] = set()  # outside a batch: until the chat's next reply is queued


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
    if pending.dropped:
        _drop(pending.dropped)
    fastsave.insert_many(pending.outbox)
    fastsave.insert_many(pending.traces)
    pending.outbox, pending.traces, pending.dropped = [], [], []


def _drop(ids: list[int]) -> None:
    # Only rows still waiting in line: one claimed meanwhile goes out as it is.
    OutboxMessage.objects.filter(
        pk__in=ids, status__in=(OutboxStatus.QUEUED, OutboxStatus.BEHIND)
    ).delete()


def preload(chat_ids: set[int]) -> None:
    """Within :func:`deferred`: the unsent rows of a batch's chats, in one query, so that
    capping and merging a chat's automatic replies costs no query per update."""
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is None or not chat_ids:
        return
    for chat_id in chat_ids:
        pending.waiting.setdefault(chat_id, _Waiting())
    for row in _unsent(chat_ids):
        pending.waiting[row.chat_id].rows.append((row, _droppable(row)))


def fresh_chat(chat: TelegramChat) -> None:
    """A chat created in this transaction has nothing waiting."""
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is not None and chat.pk is not None:
        pending.waiting[chat.pk] = _Waiting()


def _unsent(chat_ids: set[int]) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(chat_id__in=chat_ids, status__in=_STATUSES_WAITING)
        .exclude(method=DELETE)
        .only("id", "chat_id", "status", "method", "priority", "repeat_key", "message_id")
        .order_by("id")
    )


def _droppable(row: OutboxMessage) -> bool:
    # Only automatic replies carry a repeat key (not operators' replies, not credentials).
    return row.method == SEND and row.message_id is None and bool(row.repeat_key)


def priority_of(
    chat: TelegramChat, case: Case | None, *, urgent: bool = False, notice: bool = False
) -> int:
    """The class of an automatic reply to ``chat`` about ``case`` (claims serve lower first)."""
    if case is None and chat.conversation_id is not None and chat.conversation is not None:
        case = chat.conversation.case
    if chat.parked_until is not None and chat.parked_until > timezone.now():
        return SUSPECT
    if suspicion.suspect(case):
        return SUSPECT
    if urgent:
        return URGENT
    if notice:
        return NOTICE
    pending: _Deferred | None = getattr(_local, "pending", None)
    if (pending is not None and chat.pk in pending.shed) or chat.pk in _shed_now:
        _shed_now.discard(chat.pk)
        if case is None or not case.triage:
            return SHED
    if case is None:
        return FIRST_CONTACT
    if case.submitted_at is not None or case.ready_now_at is not None:
        return URGENT
    if case.urgency >= URGENT_SCORE:
        return URGENT
    return ACTIVE if case.triage else FIRST_CONTACT


def _queue(
    chat: TelegramChat,
    method: str,
    payload: dict[str, Any],
    *,
    case: Case | None = None,
    message: Message | None = None,
    erasable: bool = False,
    urgent: bool = False,
    notice: bool = False,
) -> OutboxMessage:
    text = json.dumps(payload, ensure_ascii=False)
    sealed = crypto.seal_channel_address(PAYLOAD_PURPOSE, text)
    if method == DELETE:
        priority = HOUSEKEEPING
    elif message is not None:
        priority = OPERATOR
    else:
        priority = priority_of(chat, case, urgent=urgent, notice=notice)
    automatic = method == SEND and message is None and not urgent
    row = OutboxMessage(
        chat=chat,
        bot=chat.bot,
        method=method,
        payload_sealed=sealed,
        not_before=timezone.now(),
        erasable=erasable,
        case=case,
        message=message,
        priority=priority,
        # Keyed, and per chat: equal replies to one chat match, nothing else can be learnt.
        repeat_key=crypto.pseudonym("outbox-repeat", f"{chat.pk}\x00{text}")[:16]
        if automatic
        else "",
    )
    if method != DELETE and not _make_room(chat, row, automatic):
        return row  # the same reply is already waiting for this chat: not queued twice
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is not None and message is None:
        pending.outbox.append(row)
    else:
        row.save(force_insert=True)
    return row


def _make_room(chat: TelegramChat, row: OutboxMessage, automatic: bool) -> bool:
    """Flood defence for one chat's line: False when ``row`` repeats the newest automatic
    reply already waiting (merged: the applicant gets it once); otherwise it joins, and the
    oldest waiting automatic replies beyond CHAT_CAP are dropped (never the row being sent
    or the head of the chat's line, never an operator's reply or the credentials message)."""
    pending: _Deferred | None = getattr(_local, "pending", None)
    if pending is not None and chat.pk in pending.waiting:
        waiting = pending.waiting[chat.pk]
    else:
        waiting = _Waiting([(r, _droppable(r)) for r in _unsent({chat.pk})] if chat.pk else [])
        if pending is not None and chat.pk is not None:
            pending.waiting[chat.pk] = waiting
    autos = [entry for entry in waiting.rows if entry[1]]
    if automatic and autos and autos[-1][0].repeat_key == row.repeat_key:
        return False
    waiting.rows.append((row, automatic))
    if automatic and len(autos) + 1 > CHAT_CAP:
        head = waiting.rows[0][0]
        excess = len(autos) + 1 - CHAT_CAP
        for entry in list(waiting.rows[:-1]):
            if excess <= 0:
                break
            old, droppable = entry
            if not droppable or old is head or old.status == OutboxStatus.SENDING:
                continue
            waiting.rows.remove(entry)
            excess -= 1
            if old.pk is None:
                if pending is not None and old in pending.outbox:
                    pending.outbox.remove(old)
            elif pending is not None:
                pending.dropped.append(old.pk)
            else:
                _drop([old.pk])
    return True


def do_send_text(
    chat: TelegramChat,
    text: str,
    markup: dict[str, Any] | None = None,
    *,
    case: Case | None = None,
    message: Message | None = None,
    urgent: bool = False,
    notice: bool = False,
) -> OutboxMessage:
    """Every message we send is erasable: it is deleted after the configured time.
    ``urgent``: the message that carries the credentials (never merged, never dropped);
    ``notice``: the current question repeated with a notice (class NOTICE)."""
    payload: dict[str, Any] = {"text": text[:4096]}
    if markup and markup.get("inline_keyboard"):
        payload["reply_markup"] = markup
    return _queue(
        chat,
        SEND,
        payload,
        case=case,
        message=message,
        erasable=True,
        urgent=urgent,
        notice=notice,
    )


@contextmanager
def answers_in_reply(query_ids: set[str]) -> Iterator[dict[str, dict[str, Any]]]:
    """Within this block the answer to one of these callback queries is not queued: it is
    collected (query id → the call) for the webhook's 200 to carry, as Telegram lets a webhook
    answer make one Bot API request ("Making requests when getting updates"). The button's
    spinner stops with the update's acknowledgement, and no call of the bot's 30 a second is
    spent on it: during a flood every press took one from the replies (docs/performance.md,
    "Scale-out and floods"). The caller hands the answers out only once the transaction
    committed; anything else (polling, a deferred update applied later) queues its answer."""
    collected: dict[str, dict[str, Any]] = {}
    _local.in_reply = (query_ids, collected)
    try:
        yield collected
    finally:
        _local.in_reply = None


def do_answer_callback(chat: TelegramChat, callback_query_id: str, text: str = "") -> None:
    payload: dict[str, Any] = {"callback_query_id": callback_query_id}
    if text:
        payload["text"] = text[:200]
    in_reply: tuple[set[str], dict[str, dict[str, Any]]] | None = getattr(_local, "in_reply", None)
    if in_reply is not None:
        query_ids, collected = in_reply
        if callback_query_id in query_ids and callback_query_id not in collected:
            collected[callback_query_id] = {"method": ANSWER_CALLBACK, **payload}
            return
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
