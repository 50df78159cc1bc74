"""The outbox worker: sends queued Bot API calls within Telegram's limits.

- at most 30 calls per second per bot (spaced, not burst) and one message per second per chat
  (``TelegramChat.next_send_at``, kept in the database so that several workers agree);
- rows are claimed in a short transaction (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL;
  SQLite serialises writers) and marked ``sending`` with a lease; the HTTP call happens outside
  any transaction; the result is written after. A worker that dies mid-call leaves a lease
  that expires, and the row is sent again: the only case in which a message can go out twice;
- 429 → the bot pauses for ``retry_after``; network errors and 5xx → backoff and retry, forever
  (a message is never dropped); 403 → the chat is marked blocked and its messages fail with
  that reason; other 4xx → the row fails with Telegram's description.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.db import close_old_connections, connection, transaction
from django.db.models import Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import Trunc
from django.utils import timezone
from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from safepassage.cases import sealed
from safepassage.cases.models import Message as CaseMessage
from safepassage.channels.models import (
    OutboxMessage,
    OutboxStatus,
    TelegramChat,
    TelegramUpdate,
)
from safepassage.channels.telegram import attachments, bots, outbox

log = structlog.get_logger(__name__)
# One generic call for every queued method is deliberate (rows carry a method name).
warnings.filterwarnings("ignore", message="Please use 'Bot.", category=PTBUserWarning)

BOT_RATE = 30.0  # spacing; the one-second window below keeps us under Telegram's limit
CHAT_GAP = timedelta(seconds=1.05)
PER_CHAT_LIMITED = {outbox.SEND}
LEASE = timedelta(seconds=60)
BATCH = 60  # two seconds' worth per claim at 29/s
PAGE = BATCH * 4
CLAIM_PAGES = 4
MAX_BACKOFF = 300.0
UNSENT = (OutboxStatus.QUEUED, OutboxStatus.SENDING)
WAITING = (*UNSENT, OutboxStatus.HELD)
HELD_REASON = "held: the chat has blocked the bot"
DEFERRED = object()
REPLAY_MEMORY = timedelta(hours=48)
# A finished row keeps when it was due only to the minute: for a prompt that is when the
# applicant wrote (docs/threat-model.md, "Timestamps"). Exact only while it schedules.
DONE_NOT_BEFORE = Trunc("not_before", "minute", tzinfo=UTC)
WINDOW_CALLS = 30  # Telegram's per-bot limit: 30 calls in any one second


def retry_seconds(exc: RetryAfter) -> float:
    value: Any = exc.retry_after
    return float(value.total_seconds()) if isinstance(value, timedelta) else float(value)


def backoff(attempts: int) -> float:
    return min(MAX_BACKOFF, 2.0 ** min(attempts, 10))


def plan_claims() -> None:
    """Within the claim's transaction on PostgreSQL: read a bot's queued rows in id order from
    their index (outbox_queued) and stop after a page. Statistics taken before a flood (few or
    no queued rows) could otherwise make the planner read and sort the whole backlog on every
    claim, which grows with the backlog exactly when the sender is busiest."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")


@dataclass
class Sender:
    """One bot's sender. Use it from one thread; it owns a private event loop for the client."""

    slug: str
    bot: Bot | None = None
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    paused_until: float = 0.0
    next_slot: float = 0.0
    sequence: int = 0
    finished: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    sent: int = 0
    rate_limited: int = 0
    last_sweep: float = 0.0

    def _client(self) -> Bot:
        if self.bot is None:
            bot = bots.client(self.slug)
            self.loop.run_until_complete(bot.initialize())
            self.bot = bot  # only once initialised: a failed getMe is tried again next time
        return self.bot

    def close(self) -> None:
        if self.bot is not None:
            with contextlib.suppress(TelegramError):
                self.loop.run_until_complete(self.bot.shutdown())
        self.loop.close()

    # -- claiming ---------------------------------------------------------------------------
    def due(self, now: datetime) -> QuerySet[OutboxMessage]:
        """This bot's queued rows whose time has come, oldest first (one table, one index)."""
        return OutboxMessage.objects.filter(
            bot=self.slug, status=OutboxStatus.QUEUED, not_before__lte=now
        ).order_by("id")

    def _may_go(self, rows: list[OutboxMessage], now: datetime) -> list[OutboxMessage]:
        """Rows whose chat has had its gap (for a message). Rows of a chat that blocked the bot
        are held (the applicant's next update queues them again: dialogue._chat)."""
        chats = TelegramChat.objects.only("blocked_at", "next_send_at").in_bulk(
            {row.chat_id for row in rows}
        )
        go: list[OutboxMessage] = []
        held: list[int] = []
        for row in rows:
            chat = chats.get(row.chat_id)
            if chat is None:
                continue
            if chat.blocked_at is not None:
                held.append(row.pk)
            elif (
                chat.next_send_at is None
                or chat.next_send_at <= now
                or row.method not in PER_CHAT_LIMITED
            ):
                go.append(row)
        if held:
            OutboxMessage.objects.filter(pk__in=held).update(
                status=OutboxStatus.HELD, reason=HELD_REASON
            )
        return go

    def claim(self, now: datetime | None = None) -> list[OutboxMessage]:
        now = now or timezone.now()
        with transaction.atomic():
            OutboxMessage.objects.filter(
                bot=self.slug, status=OutboxStatus.SENDING, lease_until__lt=now
            ).update(status=OutboxStatus.QUEUED)
            due = self.due(now)
            if connection.vendor == "postgresql":
                due = due.select_for_update(skip_locked=True)
                plan_claims()
            # Pages in id order until enough rows may go: the oldest rows can all belong to
            # chats still in their one-second gap. A bounded number of pages per claim; the
            # rest waits for the next claim.
            candidates: list[OutboxMessage] = []
            after = 0
            for _ in range(CLAIM_PAGES):
                page = list(due.filter(id__gt=after)[:PAGE])
                candidates += self._may_go(page, now)
                if len(page) < PAGE or len({row.chat_id for row in candidates}) >= BATCH:
                    break
                after = page[-1].id
            chats = {row.chat_id for row in candidates}
            # Per-chat order: only the oldest unsent row of a chat may go now.
            first = dict(
                OutboxMessage.objects.filter(chat_id__in=chats, status__in=UNSENT)
                .values("chat_id")
                .annotate(first=Min("id"))
                .values_list("chat_id", "first")
            )
            claimed = [row for row in candidates if first.get(row.chat_id) == row.id][:BATCH]
            if claimed:
                OutboxMessage.objects.filter(pk__in=[r.pk for r in claimed]).update(
                    status=OutboxStatus.SENDING, lease_until=now + LEASE
                )
        return claimed

    # -- sending ----------------------------------------------------------------------------
    def _reserve_slot(self) -> tuple[int, float]:
        """A sequence number and the moment the call may start: calls are spaced, not bursty."""
        # Time lost between batches (claiming, recording) may be caught up for half a second:
        # the one-second window in _call_at still bounds every second to 30 calls.
        slot = max(time.monotonic() - 0.5, self.next_slot, self.paused_until)
        self.next_slot = slot + 1.0 / BOT_RATE
        self.sequence += 1
        self.finished[self.sequence] = self.loop.create_future()
        self.finished.pop(self.sequence - 4 * WINDOW_CALLS, None)
        return self.sequence, slot

    async def _call_at(
        self, row: OutboxMessage, payload: dict[str, Any], sequence: int, slot: float
    ) -> Any:
        # Jitter-proof window: call n starts no earlier than one second after call n-30
        # *finished*. Telegram stamps a call somewhere between our start and our finish, so
        # no 30 of our calls can ever land inside one second, however late the network was.
        earlier = self.finished.get(sequence - WINDOW_CALLS)
        if earlier is not None:
            slot = max(slot, await earlier + 1.0)
        delay = slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        done = self.finished[sequence]
        try:
            if self.paused_until > time.monotonic():
                return DEFERRED  # a 429 arrived meanwhile: wait with the rest
            return_type = Message if row.method == outbox.SEND else None
            return await self._client().do_api_request(
                row.method, api_kwargs=payload, return_type=return_type
            )
        finally:
            done.set_result(time.monotonic())

    def send_batch(self, rows: list[OutboxMessage]) -> None:
        """Send claimed rows (at most one per chat) concurrently at their slots, then record."""
        try:
            self._client()  # getMe once, before the calls run
        except TelegramError as exc:  # the Bot API is unreachable: everything waits
            with transaction.atomic():
                for row in rows:
                    self._requeue(row, backoff(row.attempts + 1), type(exc).__name__)
            return
        calls = []
        for row in rows:
            payload = outbox.payload_of(row)
            if row.method != outbox.ANSWER_CALLBACK:
                payload["chat_id"] = outbox.chat_id_of(row.chat)
            calls.append(self._call_at(row, payload, *self._reserve_slot()))

        async def everything() -> list[Any]:
            return await asyncio.gather(*calls, return_exceptions=True)

        results = self.loop.run_until_complete(everything())
        with transaction.atomic():  # one commit per batch, not per message
            for row, result in zip(rows, results, strict=True):
                self._record(row, result)

    def send(self, row: OutboxMessage) -> None:
        self.send_batch([row])

    def _record(self, row: OutboxMessage, result: Any) -> None:
        if result is DEFERRED:
            self._requeue(row, 0.0, "rate limited by Telegram", count=False)
        elif isinstance(result, RetryAfter):
            self.rate_limited += 1
            seconds = retry_seconds(result)
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)
            self.next_slot = max(self.next_slot, self.paused_until)
            self._requeue(row, seconds, "rate limited by Telegram", count=False)
        elif isinstance(result, Forbidden):
            self._blocked(row)
        elif isinstance(result, BadRequest):
            self._fail(row, str(result.message)[:120])
        elif isinstance(result, TelegramError):  # network errors, timeouts, 5xx
            self._requeue(row, backoff(row.attempts + 1), type(result).__name__)
        elif isinstance(result, BaseException):
            raise result
        else:
            self._done(row, result)

    def _done(self, row: OutboxMessage, result: Any) -> None:
        now = timezone.now()
        with transaction.atomic():
            OutboxMessage.objects.filter(pk=row.pk).update(
                status=OutboxStatus.SENT,
                sent_at=now,
                payload_sealed=None,
                reason="",
                lease_until=None,
                not_before=DONE_NOT_BEFORE,
            )
            if row.method in PER_CHAT_LIMITED:
                TelegramChat.objects.filter(pk=row.chat_id).update(next_send_at=now + CHAT_GAP)
            if row.erasable and isinstance(result, Message):
                outbox.do_remember_trace(row.chat, result.message_id)
            if row.message_id is not None:
                # Delivered: the server no longer needs to read the reply; seal it for staff.
                reply = CaseMessage.objects.select_related("case").get(pk=row.message_id)
                sealed.seal_message_now(reply.case, reply)
        self.sent += 1

    def _requeue(self, row: OutboxMessage, seconds: float, reason: str, count: bool = True) -> None:
        OutboxMessage.objects.filter(pk=row.pk).update(
            status=OutboxStatus.QUEUED,
            not_before=timezone.now() + timedelta(seconds=seconds),
            attempts=row.attempts + (1 if count else 0),
            reason=reason[:120],
            lease_until=None,
        )

    def _fail(self, row: OutboxMessage, reason: str) -> None:
        OutboxMessage.objects.filter(pk=row.pk).update(
            status=OutboxStatus.FAILED,
            reason=reason,
            payload_sealed=None,
            lease_until=None,
            not_before=DONE_NOT_BEFORE,
        )
        log.info("telegram.outbox_failed", bot=self.slug, method=row.method, reason=reason[:60])

    def _blocked(self, row: OutboxMessage) -> None:
        with transaction.atomic():
            TelegramChat.objects.filter(pk=row.chat_id).update(blocked_at=timezone.now())
            OutboxMessage.objects.filter(chat_id=row.chat_id, status__in=WAITING).update(
                status=OutboxStatus.FAILED,
                reason="blocked by the user",
                payload_sealed=None,
                lease_until=None,
                not_before=DONE_NOT_BEFORE,
            )

    # -- the loop ---------------------------------------------------------------------------
    def housekeeping(self) -> None:
        """Erase what is due, forget chats that asked for it, fetch attachments."""
        outbox.do_erase_due()
        # Rows queued by a process of the previous version during an upgrade name no bot.
        chat_bot = TelegramChat.objects.filter(pk=OuterRef("chat_id")).values("bot")[:1]
        OutboxMessage.objects.filter(bot="", status=OutboxStatus.QUEUED).update(
            bot=Subquery(chat_bot)
        )
        # Telegram keeps an undelivered update for 24 hours: older replay keys serve no one.
        TelegramUpdate.objects.filter(
            bot=bots.bot_id(self.slug), received_at__lt=timezone.now() - REPLAY_MEMORY
        ).delete()
        # A per-chat gap that has passed schedules nothing; cleared, it no longer tells when
        # the chat's last message went out.
        TelegramChat.objects.filter(bot=self.slug, next_send_at__lt=timezone.now()).update(
            next_send_at=None
        )
        for chat in TelegramChat.objects.filter(bot=self.slug, forget=True):
            # Forgotten once its last message left and our messages in it were deleted.
            if not chat.outbox.filter(status__in=WAITING).exists() and not chat.traces.exists():
                chat.delete()
        for attachment in attachments.pending(self.slug):
            if not attachments.do_fetch(self.loop, self._client(), attachment):
                break  # unreachable now; try again on the next sweep

    def run_once(self) -> int:
        """Send what is due now; return how many rows were handled."""
        if time.monotonic() - self.last_sweep > 1.0:
            self.last_sweep = time.monotonic()
            self.housekeeping()
        rows = self.claim()
        if rows:
            self.send_batch(rows)
        return len(rows)

    def run(self, stop: threading.Event, idle: float = 0.2) -> None:
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception as exc:  # the database may be away: wait and go on
                log.error("telegram.sender_error", bot=self.slug, error=type(exc).__name__)
                close_old_connections()
                handled = 0
                stop.wait(2.0)
            if not handled:
                stop.wait(idle)
        self.close()

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """For tests and benchmarks: send until nothing is queued and due."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (
                not self.run_once()
                and not OutboxMessage.objects.filter(
                    chat__bot=self.slug, status__in=UNSENT
                ).exists()
            ):
                self.housekeeping()
                return
            time.sleep(0.02)
        raise TimeoutError("outbox not drained")
