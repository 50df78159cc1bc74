"""The Telegram adapter's periodic sweeps, run as scheduled tasks (safepassage.tasks) rather
than by the sender: erasing our messages from chats when their time has come, forgetting chats
that asked for it, dropping old replay keys, and fetching applicants' attachments. Each is
safe to run by several workers at once (attachments under a lease per bot)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from telegram import Bot
from telegram.error import TelegramError

from safepassage.channels.models import OutboxMessage, OutboxStatus, TelegramChat, TelegramUpdate
from safepassage.channels.telegram import attachments, bots, deferral, outbox
from safepassage.channels.telegram.record import WAITING
from safepassage.jobs import leases

REPLAY_MEMORY = timedelta(hours=48)
ATTACHMENT_LEASE = timedelta(minutes=5)
ERASE_BATCH = 500  # outbox.do_erase_due's
ERASE_ROUNDS = 20
DEFERRED_ROUNDS = 10  # deferral.DRAIN_CHUNK each


def sweep(slug: str) -> dict[str, int]:
    """Erase what is due, fill in old rows' bot, forget old replay keys and chats that asked."""
    erased = 0
    for _ in range(ERASE_ROUNDS):  # 500 a round: a backlog is worked off, within bounds
        done = outbox.do_erase_due()
        erased += done
        if done < ERASE_BATCH:
            break
    # Rows queued by a process of the previous version during an upgrade name no bot.
    chat_bot = TelegramChat.objects.filter(pk=OuterRef("chat_id")).values("bot")[:1]
    OutboxMessage.objects.filter(bot="", status=OutboxStatus.QUEUED).update(bot=Subquery(chat_bot))
    # Telegram keeps an undelivered update for 24 hours: older replay keys serve no one.
    TelegramUpdate.objects.filter(
        bot=bots.bot_id(slug), received_at__lt=timezone.now() - REPLAY_MEMORY
    ).delete()
    # A backstop: updates deferred by a process that stopped, or by polling (its batches have
    # no applier thread to drain them when idle).
    applied = 0
    for _ in range(DEFERRED_ROUNDS):
        done = deferral.drain(older_than=deferral.STALE)
        applied += done
        if done < deferral.DRAIN_CHUNK:
            break
    forgotten = 0
    for chat in TelegramChat.objects.filter(bot=slug, forget=True):
        # Forgotten once its last message left and our messages in it were deleted.
        if not chat.outbox.filter(status__in=WAITING).exists() and not chat.traces.exists():
            chat.delete()
            forgotten += 1
    return {"erasures_queued": erased, "chats_forgotten": forgotten, "deferred_applied": applied}


def fetch_attachments(
    slug: str, loop: asyncio.AbstractEventLoop, client: Callable[[], Bot], pages: int = 1
) -> int:
    """Fetch pending attachments, ten a page, until none is left or Telegram is away."""
    fetched = 0
    for _ in range(pages):
        pending = attachments.pending(slug)
        for attachment in pending:
            if not attachments.do_fetch(loop, client(), attachment):
                return fetched  # unreachable now; try again on the next sweep
            fetched += 1
        if len(pending) < 10:
            break
    return fetched


def fetch_attachments_once(slug: str, holder: str) -> int:
    """The scheduled task's body: one fetcher per bot at a time (a lease, longer than a page of
    ten downloads takes), with a client of its own; nothing is opened while nothing is
    pending. What is left waits for the next run, seconds later."""
    if not attachments.pending(slug, limit=1):
        return 0
    name = f"telegram-attachments:{slug}"
    if not leases.acquire(name, holder, ATTACHMENT_LEASE):
        return 0  # another worker is at it
    loop = asyncio.new_event_loop()
    made: list[Bot] = []

    def client() -> Bot:
        if not made:
            bot = bots.client(slug)
            loop.run_until_complete(bot.initialize())
            made.append(bot)
        return made[0]

    try:
        return fetch_attachments(slug, loop, client)
    except TelegramError:
        return 0  # getMe failed: Telegram is away, the next sweep tries again
    finally:
        for bot in made:
            with contextlib.suppress(TelegramError):
                loop.run_until_complete(bot.shutdown())
        loop.close()
        with contextlib.suppress(Exception):  # the database away: the lease runs out instead
            leases.release(name, holder)
