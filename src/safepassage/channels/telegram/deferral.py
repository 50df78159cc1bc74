"""Intake shedding (issue 12, flood defence): a parked sender's updates wait while intake is
overloaded, so that genuine updates are not applied behind a flood's.

In a batch (batch.py) that finds intake busy (``OVERLOAD_WAITING`` updates in it and queued
behind it), an update of a parked sender (``TelegramChat.parked_until``) is not applied: it is
stored as a :class:`DeferredUpdate` (the update sealed under the channel-address key, bound to
its bot and update id, as the outbox's payloads are) in the batch's transaction, together with
its replay key, and acknowledged once that committed. Nothing is dropped:

- later updates of a chat with deferred updates are deferred too (its order is kept), whatever
  the load; a chat whose conversation is urgent, submitted or in progress (it has answered a
  question), or that an operator marked genuine, is never deferred: should it have deferred
  updates, they are applied first, in the same transaction;
- :func:`drain` applies the oldest deferred updates in ``id`` order, in one transaction that
  also deletes them: the applier thread calls it when it has been idle for a moment (and at
  least every ``DRAIN_AT_LEAST_EVERY`` seconds under a sustained flood), the poller when an
  answer held few updates, the Telegram sweep as a backstop for updates left more than
  ``STALE`` (a process that stopped). One drainer at a time (a lease), so that two cannot
  apply one chat's updates out of order.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import structlog
from django.db import Error, transaction
from django.db.models import Q
from django.utils import timezone
from telegram import Update

from safepassage import fastsave, metrics
from safepassage.cases.models import Case, FakeMark
from safepassage.channels.models import DeferredUpdate, TelegramChat
from safepassage.channels.telegram import bots, dialogue, outbox
from safepassage.channels.telegram.bots import CHANNEL
from safepassage.jobs import leases
from safepassage.jobs.worker import worker_id
from safepassage.privacy import crypto
from safepassage.privacy.fields import channel_pseudonym

log = structlog.get_logger(__name__)

# A batch with this many updates in it and queued behind it: intake is behind the arrivals.
# (A genuine crowd of 50 applicants makes batches of a few updates; a flood fills MAX_BATCH.)
OVERLOAD_WAITING = 16
DRAIN_CHUNK = 32  # deferred updates applied in one transaction
DRAIN_IDLE_SECONDS = 0.05  # the applier drains after this long without a new update
DRAIN_AT_LEAST_EVERY = 5.0  # ...and under a sustained flood at least this often
# The sweep's backstop takes only what the appliers left this long (polling, a stopped process).
STALE = timedelta(minutes=2)
LEASE = "telegram-deferred-drain"
LEASE_TTL = timedelta(seconds=60)
PURPOSE = "telegram-update"
_PROCESS = worker_id()
# Set when this process deferred updates (and at start: a previous one may have left some);
# cleared by a drain that found none.
maybe_waiting = threading.Event()
maybe_waiting.set()

Pair = tuple[str, str]  # (bot slug, sender pseudonym)


def seal(slug: str, update: Update) -> bytes:
    return crypto.seal_channel_address(f"{PURPOSE}:{slug}:{update.update_id}", update.to_json())


def unseal(row: DeferredUpdate) -> Update:
    text = crypto.open_channel_address(
        f"{PURPOSE}:{row.bot}:{row.update_id}", bytes(row.update_sealed)
    )
    update = Update.de_json(json.loads(text), bots.parser(row.bot))
    if update is None:  # cannot happen for a row we wrote; the type says it could
        raise ValueError("empty deferred update")
    return update


def sender_of(slug: str, update: Update) -> Pair | None:
    """The chat an update belongs to, where it can be deferred (a private chat's message or
    button); membership changes and anything dialogue.handle ignores are applied at once."""
    if update.my_chat_member is not None:
        return None
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type != "private" or user.is_bot:
        return None
    return slug, channel_pseudonym(CHANNEL, str(user.id))


def protected(case: Case | None) -> bool:
    """Urgent, verified (submitted), in progress, or marked genuine: never deferred."""
    if case is None:
        return False
    if case.fake_mark == FakeMark.GENUINE:
        return True
    return bool(
        case.submitted_at is not None
        or case.ready_now_at is not None
        or case.urgency >= outbox.URGENT_SCORE
        or case.triage
    )


def split(todo: list[tuple[str, Update]], busy: bool) -> list[tuple[str, Update]]:
    """Inside the batch's transaction: store the updates to defer; return those to apply now,
    in order (a protected chat's deferred updates before its new ones)."""
    pairs = {pair for slug, update in todo if (pair := sender_of(slug, update)) is not None}
    if not pairs:
        return todo
    slugs, pseudonyms = {s for s, _ in pairs}, {p for _, p in pairs}
    waiting = pairs & set(
        DeferredUpdate.objects.filter(bot__in=slugs, pseudonym__in=pseudonyms)
        .values_list("bot", "pseudonym")
        .distinct()
    )
    if not busy and not waiting:
        return todo
    chats = TelegramChat.objects.filter(bot__in=slugs, pseudonym__in=pseudonyms)
    wanted = Q(pseudonym__in={p for _, p in waiting})
    if busy:
        wanted |= Q(parked_until__gt=timezone.now())
    found = {
        (chat.bot, chat.pseudonym): chat
        for chat in chats.filter(wanted).select_related("conversation__case")
    }
    defer: set[Pair] = set()
    first: set[Pair] = set()  # protected chats whose deferred updates go first
    for pair in pairs:
        chat = found.get(pair)
        case = chat.conversation.case if chat is not None and chat.conversation else None
        if protected(case):
            if pair in waiting:
                first.add(pair)
        elif pair in waiting or (busy and chat is not None and chat.parked_until is not None):
            defer.add(pair)
    now: list[tuple[str, Update]] = []
    later: list[DeferredUpdate] = []
    for slug, update in todo:
        pair = sender_of(slug, update)
        if pair in defer:
            later.append(_row(pair, update))
            continue
        if pair in first:
            now.extend(_take_deferred(pair))
            first.discard(pair)
        now.append((slug, update))
    if later:
        fastsave.insert_many(later)
        transaction.on_commit(maybe_waiting.set)
        for row in later:
            metrics.UPDATES_APPLIED.labels(row.bot, "deferred").inc()
    return now


def _row(pair: Pair, update: Update) -> DeferredUpdate:
    slug, pseudonym = pair
    return DeferredUpdate(
        bot=slug, pseudonym=pseudonym, update_id=update.update_id, update_sealed=seal(slug, update)
    )


def _take_deferred(pair: Pair) -> list[tuple[str, Update]]:
    rows = list(
        DeferredUpdate.objects.select_for_update()
        .filter(bot=pair[0], pseudonym=pair[1])
        .order_by("id")
    )
    DeferredUpdate.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return [(row.bot, unseal(row)) for row in rows]


def _holder() -> str:
    return f"{_PROCESS}:{threading.get_ident()}"


def drain(limit: int = DRAIN_CHUNK, older_than: timedelta | None = None) -> int:
    """Apply up to ``limit`` deferred updates, oldest first, and delete them, in one
    transaction. 0 when there are none (``older_than``: none deferred that long ago, as the
    minute is stored) or another drainer is at it."""
    waiting = DeferredUpdate.objects.all()
    if older_than is not None:
        waiting = waiting.filter(deferred_at__lt=timezone.now() - older_than)
    if not waiting.exists():
        return 0
    holder = _holder()
    if not leases.acquire(LEASE, holder, LEASE_TTL):
        return 0
    try:
        try:
            return _drain_chunk(limit)
        except Error:
            raise  # the database is away: the rows stay for the next drain
        except Exception as exc:
            log.error("telegram.deferred_failed", error=type(exc).__name__)
            return _drain_one_by_one(limit)
    finally:
        leases.release(LEASE, holder)


def _drain_chunk(limit: int) -> int:
    with transaction.atomic():
        rows = list(DeferredUpdate.objects.select_for_update().order_by("id")[:limit])
        if not rows:
            return 0
        DeferredUpdate.objects.filter(pk__in=[row.pk for row in rows]).delete()
        todo = [(row.bot, unseal(row)) for row in rows]
        with outbox.deferred(), dialogue.batch(todo), fastsave.deferred():
            for slug, update in todo:
                dialogue.handle(slug, update)
    log.info("telegram.deferred_applied", count=len(rows))
    return len(rows)


def _drain_one_by_one(limit: int) -> int:
    """After a chunk failed (a bug, refused data): each row alone; one that fails is logged
    and dropped, as intake remembers such an update as seen instead of retrying it forever."""
    done = 0
    for row in DeferredUpdate.objects.order_by("id")[:limit]:
        try:
            with transaction.atomic():
                DeferredUpdate.objects.filter(pk=row.pk).delete()
                dialogue.handle(row.bot, unseal(row))
        except Error:
            raise
        except Exception as exc:
            log.error("telegram.deferred_update_failed", error=type(exc).__name__)
            DeferredUpdate.objects.filter(pk=row.pk).delete()
        done += 1
    return done


class Drainer:
    """When an applier thread drains: after ``DRAIN_IDLE_SECONDS`` without updates while this
    process may have deferred some, and at least every ``DRAIN_AT_LEAST_EVERY`` seconds."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def due(self, idle: bool) -> bool:
        if not maybe_waiting.is_set():
            return False
        return idle or time.monotonic() - self.last > DRAIN_AT_LEAST_EVERY

    def run(self) -> None:
        self.last = time.monotonic()
        try:
            if drain() == 0 and not DeferredUpdate.objects.exists():
                maybe_waiting.clear()
        except Exception as exc:  # the applier thread must go on
            log.error("telegram.deferred_drain_failed", error=type(exc).__name__)
