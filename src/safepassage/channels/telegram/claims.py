"""Claiming outbox rows for a bot's sender (docs/architecture.md, "How a Telegram update
flows", point 5).

A claim walks the bot's due rows in claim order on their own index (``outbox_queued_turn``:
priority class, turn, id), at most ``CLAIM_PAGES`` pages of ``PAGE`` rows, and takes the head
row of each chat that may get a message now. So that no chat fills those pages, a chat keeps
at most one message row in that index once a claim has read it: a row behind its chat's head
is set aside (``behind``) and queued again, with a new turn, when the head is done
(``record.queue_next``); a head still in its chat's one-second gap is moved to the end of that
gap. Rows of a chat that blocked the bot are set aside as ``held``. Deletions stand outside
the chats' lines: housekeeping never holds back the message with the credentials.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from safepassage import config
from safepassage.channels.models import OutboxMessage, OutboxStatus, TelegramChat
from safepassage.channels.telegram import outbox
from safepassage.channels.telegram.record import PER_CHAT_LIMITED, UNSENT

# Only a sender that died needs it to run out: a live one never claims while it holds
# results, and records them before anything else once the database answers.
LEASE = timedelta(seconds=60)
# Rows claimed at a time (TELEGRAM_CLAIM_BATCH; 10: a third of a second at 30/s). A reply
# that arrives during a flood waits for the batch in flight before a claim can take it, and a
# sender killed mid-send repeats at most the rows of its one claim that it had already sent
# (tests/test_telegram_outbox_faults.py; docs/operations.md, "Faults"): the smaller, the
# sooner and the fewer. docs/performance.md, "Scale-out and floods": 10 rows keep 30/s per bot and
# bring a flood's genuine p50 from 1.26 s (20 rows) to 0.75 s on an idle machine.
BATCH = config.get().telegram_claim_batch
PAGE = 240
CLAIM_PAGES = 4
HELD_REASON = "held: the chat has blocked the bot"
HOUSEKEEPING_SHARE = max(1, BATCH // 10)  # deletions a claim takes first, however busy the bot is


def plan_claims() -> None:
    """Within the claim's transaction on PostgreSQL: read a bot's queued rows in id order from
    their index (outbox_queued) and stop after a page. Statistics taken before a flood (few or
    no queued rows) could otherwise make the planner read and sort the whole backlog on every
    claim, which grows with the backlog exactly when the sender is busiest."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")


def due(slug: str, now: datetime) -> QuerySet[OutboxMessage]:
    """This bot's queued rows whose time has come, in claim order: priority class, then turn
    (``not_before``: a chat's next row gets a new turn when its previous one is done, so chats
    are served round-robin), then id. One table, one index (``outbox_queued_turn``)."""
    return OutboxMessage.objects.filter(
        bot=slug, status=OutboxStatus.QUEUED, not_before__lte=now
    ).order_by("priority", "not_before", "id")


def _may_go(rows: list[OutboxMessage], now: datetime) -> tuple[set[int], set[int]]:
    """Rows of chats that blocked the bot (held: the applicant's next update queues them
    again, dialogue._chat), and messages whose chat is still in its one-second gap."""
    chats = TelegramChat.objects.only("blocked_at", "next_send_at").in_bulk(
        {row.chat_id for row in rows}
    )
    held: set[int] = set()
    gap: set[int] = set()
    for row in rows:
        chat = chats.get(row.chat_id)
        if chat is None:
            continue
        if chat.blocked_at is not None:
            held.add(row.pk)
        elif (
            chat.next_send_at is not None
            and chat.next_send_at > now
            and row.method in PER_CHAT_LIMITED
        ):
            gap.add(row.pk)
    return held, gap


def head_key(status: str, priority: int, pk: int) -> tuple[int, int, int]:
    """A chat's messages go one at a time: the one in flight, else an operator's reply
    (it overtakes automatic ones), else the oldest. Deletions are not in this line."""
    return (0 if status == OutboxStatus.SENDING else 1, 0 if priority == outbox.OPERATOR else 1, pk)


def _heads(chats: set[int]) -> dict[int, int]:
    """Per chat, the row that may go (head_key); every other unsent row waits behind it."""
    best: dict[int, tuple[tuple[int, int, int], int]] = {}
    rows = (
        OutboxMessage.objects.filter(chat_id__in=chats, status__in=UNSENT)
        .exclude(method=outbox.DELETE)
        .values_list("chat_id", "id", "priority", "status")
    )
    for chat_id, pk, priority, status in rows:
        key = head_key(status, priority, pk)
        if chat_id not in best or key < best[chat_id][0]:
            best[chat_id] = (key, pk)
    return {chat_id: found[1] for chat_id, found in best.items()}


def _mark(
    rows: list[OutboxMessage], lease: datetime, held: set[int], behind: set[int], gap: set[int]
) -> None:
    """Write one page's decisions, so that the next page's query no longer sees those rows."""
    if held:
        OutboxMessage.objects.filter(pk__in=held).update(
            status=OutboxStatus.HELD, reason=HELD_REASON
        )
    if behind:
        OutboxMessage.objects.filter(pk__in=behind, status=OutboxStatus.QUEUED).update(
            status=OutboxStatus.BEHIND
        )
    if gap:
        # Not due before its chat's gap ends: out of the due rows until then (it keeps its
        # place among the rows due at that moment).
        OutboxMessage.objects.filter(pk__in=gap).update(
            not_before=Subquery(
                TelegramChat.objects.filter(pk=OuterRef("chat_id")).values("next_send_at")[:1]
            )
        )
    if rows:
        OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=OutboxStatus.SENDING, lease_until=lease
        )
        for row in rows:
            row.status, row.lease_until = OutboxStatus.SENDING, lease


def claim(slug: str, now: datetime) -> list[OutboxMessage]:
    """Mark up to BATCH rows ``sending`` under a lease and return them: at most one message
    per chat, highest priority first, chats round-robin; deletions (housekeeping) any number
    per chat, last, except a reserved share so that they are never starved."""
    lease = now + LEASE
    with transaction.atomic():
        OutboxMessage.objects.filter(
            bot=slug, status=OutboxStatus.SENDING, lease_until__lt=now
        ).update(status=OutboxStatus.QUEUED)
        rows = due(slug, now)
        if connection.vendor == "postgresql":
            rows = rows.select_for_update(skip_locked=True)
            plan_claims()
        claimed: list[OutboxMessage] = []
        chats: set[int] = set()
        reserved = list(rows.filter(priority__gte=outbox.HOUSEKEEPING)[:HOUSEKEEPING_SHARE])
        reserved_held, _ = _may_go(reserved, now)
        housekeeping = [r for r in reserved if r.pk not in reserved_held]
        _mark(housekeeping, lease, reserved_held, set(), set())
        claimed += housekeeping
        # Pages in claim order until the batch is full. Every row a page reads is claimed,
        # set aside (behind its chat's head, held for a blocked chat) or moved past its
        # chat's gap, so the next page reads new rows; a bounded number of pages per claim.
        for _ in range(CLAIM_PAGES):
            page = list(rows[:PAGE])
            held, gap = _may_go(page, now)
            heads = _heads(
                {r.chat_id for r in page if r.pk not in held and r.method != outbox.DELETE}
            )
            taken: list[OutboxMessage] = []
            behind: set[int] = set()
            waiting: set[int] = set()
            for row in page:
                if row.pk in held:
                    continue
                if row.method == outbox.DELETE:
                    if len(claimed) + len(taken) < BATCH:
                        taken.append(row)
                    continue
                if heads.get(row.chat_id) != row.pk:
                    behind.add(row.pk)
                elif row.pk in gap:
                    waiting.add(row.pk)
                elif len(claimed) + len(taken) < BATCH and row.chat_id not in chats:
                    taken.append(row)
                    chats.add(row.chat_id)
            _mark(taken, lease, held, behind, waiting)
            claimed += taken
            if len(page) < PAGE or len(claimed) >= BATCH:
                break
    # Sent in this order (the sender spaces calls 1/30 s apart): messages before deletions.
    return sorted(claimed, key=lambda row: (row.priority, row.not_before, row.pk))
