"""Recording what the sender did: every write is conditional on the claim's lease.

A claim marks its rows ``sending`` with ``lease_until = claim time + LEASE``; that exact value
is the claim's token. A result is written only while the row is still ``sending`` under that
token, so writing it twice (a commit whose answer was lost with the connection, then tried
again) changes nothing the second time, and a result held past an expired lease that another
claim took over is dropped instead of overwriting that claim's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Trunc
from django.utils import timezone
from telegram import Message

from safepassage.cases import sealed
from safepassage.cases.models import Message as CaseMessage
from safepassage.channels.models import OutboxMessage, OutboxStatus, TelegramChat
from safepassage.channels.telegram import outbox

log = structlog.get_logger(__name__)

CHAT_GAP = timedelta(seconds=1.05)
PER_CHAT_LIMITED = {outbox.SEND}
UNSENT = (OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.BEHIND)
WAITING = (*UNSENT, OutboxStatus.HELD)
# A finished row keeps when it was due only to the minute: for a prompt that is when the
# applicant wrote (docs/threat-model.md, "Timestamps"). Exact only while it schedules.
DONE_NOT_BEFORE = Trunc("not_before", "minute", tzinfo=UTC)


def mine(row: OutboxMessage) -> QuerySet[OutboxMessage]:
    """The row, while it is still under the lease this sender claimed it with."""
    return OutboxMessage.objects.filter(
        pk=row.pk, status=OutboxStatus.SENDING, lease_until=row.lease_until
    )


def stale(slug: str, row: OutboxMessage) -> None:
    log.warning("telegram.outbox_result_dropped", bot=slug, method=row.method)


def done(slug: str, row: OutboxMessage, result: Any, answered_at: datetime | None = None) -> bool:
    """Sent: wipe the payload, start the chat's gap, remember our message for erasure.
    ``answered_at``: when the Bot API's answer came. Telegram counted the message before that,
    so the chat's gap may start there rather than when the batch is written, up to a batch
    later: a reply to an applicant who answers within a second or so is not held back for
    the rest of that batch (docs/performance.md, "Scale-out and floods")."""
    now = timezone.now()
    with transaction.atomic():
        updated = mine(row).update(
            status=OutboxStatus.SENT,
            sent_at=now,
            payload_sealed=None,
            reason="",
            lease_until=None,
            not_before=DONE_NOT_BEFORE,
        )
        if not updated:
            stale(slug, row)
            return False
        if row.method in PER_CHAT_LIMITED:
            gap_from = min(answered_at, now) if answered_at is not None else now
            TelegramChat.objects.filter(pk=row.chat_id).update(next_send_at=gap_from + CHAT_GAP)
        if row.erasable and isinstance(result, Message):
            outbox.do_remember_trace(row.chat, result.message_id)
        if row.message_id is not None:
            # Delivered: the server no longer needs to read the reply; seal it for staff.
            reply = CaseMessage.objects.select_related("case").filter(pk=row.message_id).first()
            if reply is not None:  # erased meanwhile: nothing left to seal
                sealed.seal_message_now(reply.case, reply)
    return True


def requeue(slug: str, row: OutboxMessage, seconds: float, reason: str, count: bool) -> bool:
    updated = mine(row).update(
        status=OutboxStatus.QUEUED,
        not_before=timezone.now() + timedelta(seconds=seconds),
        attempts=row.attempts + (1 if count else 0),
        reason=reason[:120],
        lease_until=None,
    )
    if not updated:
        stale(slug, row)
    return bool(updated)


def fail(slug: str, row: OutboxMessage, reason: str) -> bool:
    updated = mine(row).update(
        status=OutboxStatus.FAILED,
        reason=reason,
        payload_sealed=None,
        lease_until=None,
        not_before=DONE_NOT_BEFORE,
    )
    if not updated:
        stale(slug, row)
        return False
    log.info("telegram.outbox_failed", bot=slug, method=row.method, reason=reason[:60])
    return True


def blocked(row: OutboxMessage) -> None:
    """403: the chat blocked the bot. Everything still waiting for it fails with the reason."""
    with transaction.atomic():
        TelegramChat.objects.filter(pk=row.chat_id).update(blocked_at=timezone.now())
        OutboxMessage.objects.filter(chat_id=row.chat_id, status__in=WAITING).update(
            status=OutboxStatus.FAILED,
            reason="blocked by the user",
            payload_sealed=None,
            lease_until=None,
            not_before=DONE_NOT_BEFORE,
        )


def queue_next(chat_ids: Iterable[int]) -> None:
    """The next row set aside behind each of these chats' finished rows goes back into the
    sender's index, with a new turn (``not_before`` now: the chat joins the end of the line,
    round-robin): one row per chat there at a time, so no chat fills a claim's pages. An
    operator's reply goes before automatic ones (claims.head_key)."""
    ids = set(chat_ids)
    if not ids:
        return
    best: dict[int, tuple[tuple[int, int, int], int]] = {}
    rows = OutboxMessage.objects.filter(chat_id__in=ids, status=OutboxStatus.BEHIND).values_list(
        "chat_id", "id", "priority"
    )
    for chat_id, pk, priority in rows:
        key = (1, 0 if priority == outbox.OPERATOR else 1, pk)
        if chat_id not in best or key < best[chat_id][0]:
            best[chat_id] = (key, pk)
    firsts = [found[1] for found in best.values()]
    if firsts:
        OutboxMessage.objects.filter(pk__in=firsts, status=OutboxStatus.BEHIND).update(
            status=OutboxStatus.QUEUED, not_before=timezone.now()
        )


def queue_orphans(slug: str) -> None:
    """Rows set aside behind a row that left by another way (deleted on /delete, or finished
    by a second sender while this claim set them aside): their chat's next one goes back. A
    held row (the chat blocked the bot) still counts as ahead: the applicant's return queues
    it, and the rest follow it."""
    # Two index lookups (status, then chat) rather than an anti-join the planner might answer
    # by reading the whole table every few seconds.
    waiting = set(
        OutboxMessage.objects.filter(status=OutboxStatus.BEHIND, bot=slug)
        .values_list("chat_id", flat=True)
        .distinct()[:500]
    )
    if not waiting:
        return
    ahead = set(
        OutboxMessage.objects.filter(
            chat_id__in=waiting,
            status__in=(OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.HELD),
        )
        .exclude(method=outbox.DELETE)
        .values_list("chat_id", flat=True)
        .distinct()
    )
    queue_next(waiting - ahead)
