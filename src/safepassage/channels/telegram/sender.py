"""The outbox worker: sends queued Bot API calls within Telegram's limits.

- at most 30 calls per second per bot (spaced, not burst) and one message per second per chat
  (``TelegramChat.next_send_at``, kept in the database so that several workers agree);
- rows are claimed in a short transaction (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL;
  SQLite serialises writers) and marked ``sending`` with a lease; the HTTP call happens outside
  any transaction; the results are kept in memory until they are written (``record``), and no
  new claim is made while any is unwritten: a database that is away for a moment delays the
  record, never repeats a call. A worker killed between a call and its record leaves a lease
  that expires, and the row is sent again: the only case in which a message can go out twice,
  at most once per row of the one batch that was in flight (``BATCH`` rows, one per chat). A
  call starts only while ``CALL_BUDGET`` of its lease is left, so a live sender held up (a long
  429 pause) never races another sender that took over its expired rows;
- a row behind an earlier unsent row of its chat is set aside (``behind``) when a claim reads
  it and queued again when the row ahead is done, so a chat that cannot go now (a row stuck
  under a lease, or waiting for its time) takes at most one place in a claim's pages;
- rows are claimed in priority order, chats round-robin, deletions last (``claims``); with
  Redis configured every call also passes the bot's window shared by all its senders on any
  machine (``limiter``), so several instances may send for the same bots;
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.db.models import QuerySet
from django.utils import timezone
from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from safepassage.analytics import service
from safepassage.channels.models import (
    OutboxMessage,
    TelegramChat,
)
from safepassage.channels.telegram import (
    bots,
    claims,
    limiter,
    outbox,
    record,
    sweeps,
)
from safepassage.channels.telegram.claims import BATCH, LEASE, plan_claims
from safepassage.channels.telegram.record import CHAT_GAP, PER_CHAT_LIMITED, UNSENT, WAITING

log = structlog.get_logger(__name__)
# One generic call for every queued method is deliberate (rows carry a method name).
warnings.filterwarnings("ignore", message="Please use 'Bot.", category=PTBUserWarning)

BOT_RATE = 30.0  # spacing; the one-second window below keeps us under Telegram's limit
MAX_BACKOFF = 300.0
DEFERRED = object()
LATE = object()
# The longest one Bot API call can take (bots.client: pool 5 s + connect 5 s + write 10 s + read
# 10 s). A call starts only while at least this much of its claim's lease is left, so its
# answer is in before another sender may take the row over: a sender held up past its lease (a
# long 429 pause, the shared window) puts the row back instead of racing that one.
CALL_BUDGET = timedelta(seconds=30)
DATABASE_AWAY = (OperationalError, InterfaceError)
ORPHAN_SWEEP = 5.0  # seconds between looks for rows set aside behind a row that left
__all__ = [
    "BATCH",
    "CHAT_GAP",
    "LEASE",
    "PER_CHAT_LIMITED",
    "UNSENT",
    "WAITING",
    "Sender",
    "plan_claims",
]
WINDOW_CALLS = 30  # Telegram's per-bot limit: 30 calls in any one second


def retry_seconds(exc: RetryAfter) -> float:
    value: Any = exc.retry_after
    return float(value.total_seconds()) if isinstance(value, timedelta) else float(value)


def backoff(attempts: int) -> float:
    return min(MAX_BACKOFF, 2.0 ** min(attempts, 10))


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
    last_orphan_sweep: float = 0.0
    # Results of calls made but not yet written: (claimed row, what the Bot API answered).
    unrecorded: list[tuple[OutboxMessage, Any]] = field(default_factory=list)
    # When each of them was answered (row id → time), where the chat's gap starts (record.done).
    answered: dict[int, datetime] = field(default_factory=dict)
    record_failures: int = 0
    # Every sender of this bot, on any machine, together (Redis or PostgreSQL; None: SQLite,
    # this sender alone).
    shared: limiter.Window | None = None
    entering: asyncio.Lock | None = None  # one call of this sender asks the shared window at once
    # The shared window is asked on a thread of its own, in order: the event loop (the other
    # calls' network traffic) never waits for it, and a call gives its place back after it.
    asking: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        if self.shared is None and bots.is_known(self.slug):
            self.shared = limiter.shared_window(bots.bot_id(self.slug))

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
        if self.asking is not None:
            self.asking.shutdown(wait=True)  # every place given back first
        if self.shared is not None:
            self.shared.close()

    # -- claiming ---------------------------------------------------------------------------
    def due(self, now: datetime) -> QuerySet[OutboxMessage]:
        return claims.due(self.slug, now)

    def claim(self, now: datetime | None = None) -> list[OutboxMessage]:
        if self.unrecorded:
            return []  # what was sent is written first: a claim could take those rows again
        return claims.claim(self.slug, now or timezone.now())

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
        token = None
        try:
            token = await self._enter_shared()
            if self.paused_until > time.monotonic():
                return DEFERRED  # a 429 arrived meanwhile: wait with the rest
            if row.lease_until is not None and timezone.now() > row.lease_until - CALL_BUDGET:
                return LATE
            return_type = Message if row.method == outbox.SEND else None
            result = await self._client().do_api_request(
                row.method, api_kwargs=payload, return_type=return_type
            )
            self.answered[row.pk] = timezone.now()
            return result
        finally:
            done.set_result(time.monotonic())
            if self.shared is not None and token is not None:
                # Not awaited: given back a moment late, the place is held longer (safe).
                self._asking().submit(self.shared.leave, token)

    def _asking(self) -> ThreadPoolExecutor:
        if self.asking is None:
            self.asking = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"window-{self.slug}"
            )
        return self.asking

    async def _enter_shared(self) -> str | None:
        """Wait for a place in the bot's window shared with its other senders (limiter)."""
        if self.shared is None:
            return None
        # In turn (the lock is first come, first served: slot order): the calls waiting for a
        # place ask one at a time, not each every POLL.
        if self.entering is None:
            self.entering = asyncio.Lock()
        async with self.entering:
            while True:
                token, wait = await self.loop.run_in_executor(self._asking(), self.shared.try_enter)
                if token is not None or wait <= 0:
                    return token
                await asyncio.sleep(wait)

    def send_batch(self, rows: list[OutboxMessage]) -> None:
        """Send claimed rows (at most one per chat) concurrently at their slots, then record."""
        try:
            self._client()  # getMe once, before the calls run
        except TelegramError as exc:  # the Bot API is unreachable: everything waits
            self.unrecorded = [(row, exc) for row in rows]
            self.record_held()
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
        if any(r is not DEFERRED and not isinstance(r, BaseException) for r in results):
            service.mark(service.telegram_contact(self.slug))  # the admin's health page
        self.unrecorded = list(zip(rows, results, strict=True))
        self.record_held()

    def send(self, row: OutboxMessage) -> None:
        self.send_batch([row])

    def record_held(self) -> bool:
        """Write the results held in memory; False (they stay held) while the database is away.
        Every write is conditional on the claim's lease (``record``), so trying again after a
        commit whose answer was lost changes nothing."""
        if not self.unrecorded:
            return True
        try:
            with transaction.atomic():  # one commit per batch, not per message
                # A deletion is not in its chat's line: it lets no message of it go next.
                finished = [
                    row.chat_id
                    for row, result in self.unrecorded
                    if self._record(row, result) and row.method != outbox.DELETE
                ]
                record.queue_next(finished)
        except DATABASE_AWAY as exc:
            self.record_failures += 1
            log.warning(
                "telegram.record_waits",
                bot=self.slug,
                rows=len(self.unrecorded),
                error=type(exc).__name__,
            )
            with contextlib.suppress(Exception):
                connection.close()  # a fresh connection for the next try
            return False
        except Exception:
            # A bug in one row's record must not cost its neighbours: one at a time.
            self._record_one_by_one()
        self.unrecorded = []
        self.answered.clear()
        self.record_failures = 0
        return True

    def _record_one_by_one(self) -> None:
        while self.unrecorded:
            row, result = self.unrecorded[0]
            try:
                with transaction.atomic():
                    if self._record(row, result) and row.method != outbox.DELETE:
                        record.queue_next([row.chat_id])
            except DATABASE_AWAY:
                raise
            except Exception as exc:  # left `sending`: it goes again once its lease ran out
                log.error("telegram.record_failed", bot=self.slug, error=type(exc).__name__)
            self.unrecorded.pop(0)

    def record_wait(self) -> float:
        """How long to wait before writing held results again."""
        return min(2.0, 0.05 * 2.0 ** min(self.record_failures, 6))

    def _record(self, row: OutboxMessage, result: Any) -> bool:
        """Write one result; True when the row is finished (its chat's next row may go)."""
        if result is DEFERRED:
            record.requeue(self.slug, row, 0.0, "rate limited by Telegram", count=False)
        elif result is LATE:
            record.requeue(self.slug, row, 0.0, "its claim ran out before the call", count=False)
        elif isinstance(result, RetryAfter):
            self.rate_limited += 1
            seconds = retry_seconds(result)
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)
            self.next_slot = max(self.next_slot, self.paused_until)
            if self.shared is not None:  # on the window's thread, after the places given back
                self._asking().submit(self.shared.pause, seconds)
            record.requeue(self.slug, row, seconds, "rate limited by Telegram", count=False)
        elif isinstance(result, Forbidden):
            record.blocked(row)
        elif isinstance(result, BadRequest):
            return record.fail(self.slug, row, str(result.message)[:120])
        elif isinstance(result, BaseException):  # network errors, timeouts, 5xx; a bug
            if not isinstance(result, TelegramError):
                log.error("telegram.call_failed", bot=self.slug, error=type(result).__name__)
            record.requeue(
                self.slug, row, backoff(row.attempts + 1), type(result).__name__, count=True
            )
        elif record.done(self.slug, row, result, self.answered.get(row.pk)):
            self.sent += 1
            return True
        return False

    # -- the loop ---------------------------------------------------------------------------
    def housekeeping(self) -> None:
        """Everything at once, for tests and benchmarks: the sender's own upkeep and the
        sweeps that scheduled tasks run in service (sweeps.py, safepassage.tasks)."""
        self.upkeep()
        sweeps.sweep(self.slug)
        sweeps.fetch_attachments(self.slug, self.loop, self._client)

    def upkeep(self) -> None:
        """What the claims rely on: gaps cleared, rows behind a row that left queued again."""
        # A per-chat gap that has passed schedules nothing; cleared, it no longer tells when
        # the chat's last message went out.
        TelegramChat.objects.filter(bot=self.slug, next_send_at__lt=timezone.now()).update(
            next_send_at=None
        )
        if time.monotonic() - self.last_orphan_sweep > ORPHAN_SWEEP:
            self.last_orphan_sweep = time.monotonic()
            record.queue_orphans(self.slug)

    def run_once(self) -> int:
        """Send what is due now; return how many rows were handled."""
        if not self.record_held():
            return 0  # nothing new is claimed while a result waits to be written
        if time.monotonic() - self.last_sweep > 1.0:
            self.last_sweep = time.monotonic()
            self.upkeep()
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
                stop.wait(1.0)
            if self.unrecorded:
                stop.wait(self.record_wait())
            elif not handled:
                stop.wait(idle)
        with contextlib.suppress(Exception):
            self.record_held()  # a last try: what stays unwritten is sent again after the lease
        self.close()

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """For tests and benchmarks: send until nothing is queued and due."""
        deadline = time.monotonic() + timeout
        swept = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - swept > 1.0:  # as the scheduled sweeps would, in service
                swept = time.monotonic()
                sweeps.sweep(self.slug)
                sweeps.fetch_attachments(self.slug, self.loop, self._client)
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
