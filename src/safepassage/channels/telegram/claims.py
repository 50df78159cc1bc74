"""Claiming outbox rows for a bot's sender (docs/architecture.md, "How a Telegram update
flows", point 5).

A claim walks the bot's queued rows in id order on their own index (``outbox_queued``), at most
``CLAIM_PAGES`` pages of ``PAGE`` rows, and takes the oldest row of each chat that may get a
message now. So that no chat fills those pages, a chat keeps at most one row in that index
once a claim has read it: a row behind an earlier unsent row of its chat is set aside
(``behind``) and queued again when the row ahead is done (``record.queue_next``). Rows of a
chat that blocked the bot are set aside as ``held`` the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min, QuerySet

from safepassage.channels.models import OutboxMessage, OutboxStatus, TelegramChat
from safepassage.channels.telegram.record import PER_CHAT_LIMITED, UNSENT

# Only a sender that died needs it to run out: a live one never claims while it holds
# results, and records them before anything else once the database answers.
LEASE = timedelta(seconds=60)
BATCH = 60  # two seconds' worth per claim at 29/s
PAGE = BATCH * 4
CLAIM_PAGES = 4
HELD_REASON = "held: the chat has blocked the bot"


def plan_claims() -> None:
    """Within the claim's transaction on PostgreSQL: read a bot's queued rows in id order from
    their index (outbox_queued) and stop after a page. Statistics taken before a flood (few or
    no queued rows) could otherwise make the planner read and sort the whole backlog on every
    claim, which grows with the backlog exactly when the sender is busiest."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")


def due(slug: str, now: datetime) -> QuerySet[OutboxMessage]:
    """This bot's queued rows whose time has come, oldest first (one table, one index)."""
    return OutboxMessage.objects.filter(
        bot=slug, status=OutboxStatus.QUEUED, not_before__lte=now
    ).order_by("id")


def _may_go(rows: list[OutboxMessage], now: datetime) -> tuple[set[int], set[int]]:
    """Rows whose chat has had its gap (for a message), and rows of chats that blocked the
    bot: those are held (the applicant's next update queues them again: dialogue._chat)."""
    chats = TelegramChat.objects.only("blocked_at", "next_send_at").in_bulk(
        {row.chat_id for row in rows}
    )
    go: set[int] = set()
    held: set[int] = set()
    for row in rows:
        chat = chats.get(row.chat_id)
        if chat is None:
            continue
        if chat.blocked_at is not None:
            held.add(row.pk)
        elif (
            chat.next_send_at is None
            or chat.next_send_at <= now
            or row.method not in PER_CHAT_LIMITED
        ):
            go.add(row.pk)
    return go, held


def _first_unsent(chats: set[int]) -> dict[int, int]:
    """Per-chat order: only the oldest unsent row of a chat may go."""
    return dict(
        OutboxMessage.objects.filter(chat_id__in=chats, status__in=UNSENT)
        .values("chat_id")
        .annotate(first=Min("id"))
        .values_list("chat_id", "first")
    )


def claim(slug: str, now: datetime) -> list[OutboxMessage]:
    """Mark up to BATCH rows (one per chat) ``sending`` under a lease and return them."""
    lease = now + LEASE
    with transaction.atomic():
        OutboxMessage.objects.filter(
            bot=slug, status=OutboxStatus.SENDING, lease_until__lt=now
        ).update(status=OutboxStatus.QUEUED)
        rows = due(slug, now)
        if connection.vendor == "postgresql":
            rows = rows.select_for_update(skip_locked=True)
            plan_claims()
        # Pages in id order until enough rows may go: the oldest rows can belong to chats
        # still in their one-second gap (one row each: the rest of a chat is set aside
        # behind its oldest). A bounded number of pages per claim; the rest waits.
        claimed: list[OutboxMessage] = []
        held: set[int] = set()
        behind: list[int] = []
        after = 0
        for _ in range(CLAIM_PAGES):
            page = list(rows.filter(id__gt=after)[:PAGE])
            go, blocked = _may_go(page, now)
            held |= blocked
            first = _first_unsent({row.chat_id for row in page if row.pk not in held})
            for row in page:
                if row.pk in held:
                    continue
                if first.get(row.chat_id) != row.pk:
                    behind.append(row.pk)
                elif row.pk in go and len(claimed) < BATCH:
                    claimed.append(row)
            if len(page) < PAGE or len(claimed) >= BATCH:
                break
            after = page[-1].id
        if held:
            OutboxMessage.objects.filter(pk__in=held).update(
                status=OutboxStatus.HELD, reason=HELD_REASON
            )
        if behind:
            OutboxMessage.objects.filter(pk__in=behind, status=OutboxStatus.QUEUED).update(
                status=OutboxStatus.BEHIND
            )
        if claimed:
            OutboxMessage.objects.filter(pk__in=[r.pk for r in claimed]).update(
                status=OutboxStatus.SENDING, lease_until=lease
            )
            for row in claimed:
                row.status, row.lease_until = OutboxStatus.SENDING, lease
    return claimed
