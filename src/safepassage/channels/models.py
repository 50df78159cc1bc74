"""Channel-side bookkeeping: Telegram update ids, chats, the outbox, attachments."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from safepassage.privacy.coarse_time import CoarseDateTimeField


class TelegramUpdate(models.Model):
    """An update already applied: a redelivered ``update_id`` is dropped (exactly-once)."""

    bot = models.CharField(max_length=40)  # the bot's numeric id (update ids are per bot)
    update_id = models.BigIntegerField()
    # Only ages the row out (kept 48 h; Telegram redelivers for 24 h): the hour is enough.
    received_at = CoarseDateTimeField(auto_now_add=True, precision="hour")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "update_id"], name="unique_telegram_update"),
        ]

    def __str__(self) -> str:
        return f"telegram update {self.bot}/{self.update_id}"


class DeferredUpdate(models.Model):
    """An update of a parked (flooding) sender taken while intake was overloaded: acknowledged
    once this row committed (with its ``TelegramUpdate`` replay key), applied later in ``id``
    order per chat and deleted in the transaction that applies it (channels.telegram.deferral).
    The update is ciphertext under the channel-address key, bound to its bot and update id,
    as the outbox's payloads are; never plaintext at rest."""

    id = models.BigAutoField(primary_key=True)  # the order updates are applied in
    bot = models.CharField(max_length=40)  # the bot's slug (the webhook's), not its id
    pseudonym = models.CharField(max_length=64)  # the sender's, as TelegramChat.pseudonym
    update_id = models.BigIntegerField()
    update_sealed = models.BinaryField()
    deferred_at = CoarseDateTimeField(auto_now_add=True, precision="minute")

    class Meta:
        indexes = [models.Index(fields=["bot", "pseudonym", "id"], name="deferred_chat")]

    def __str__(self) -> str:
        return f"deferred update {self.bot}/{self.update_id}"


class TelegramChat(models.Model):
    """One private chat with one of our bots. The chat id is ciphertext (privacy.crypto's
    channel-address key); the pseudonym is the keyed hash used by cases.ChannelIdentity."""

    bot = models.CharField(max_length=40)
    pseudonym = models.CharField(max_length=64)
    chat_sealed = models.BinaryField()
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    selection = models.JSONField(default=list, blank=True)  # multi-select ticks in progress
    blocked_at = CoarseDateTimeField(null=True, blank=True, precision="day")  # only: is it set
    # Scheduling (1 message per chat per second): exact while in the future; the sender's
    # housekeeping clears it once past, so it does not keep the time of the last message.
    next_send_at = models.DateTimeField(null=True, blank=True)
    forget = models.BooleanField(default=False)  # erase this row once its last message left
    # Flood defence: while in the future, this sender went over its limits (privacy.flood) and
    # its automatic replies wait behind everyone else's; what it writes is still applied.
    parked_until = models.DateTimeField(null=True, blank=True)
    created_at = CoarseDateTimeField(auto_now_add=True, precision="day")

    class Meta:
        constraints = [
            # Pseudonym first: a batch looks up its chats by ``pseudonym IN (...)``, which
            # PostgreSQL always takes from the index when it is the first column; behind
            # ``bot`` it read every chat of the bot on a table without statistics yet.
            models.UniqueConstraint(fields=["pseudonym", "bot"], name="unique_telegram_chat"),
        ]

    def __str__(self) -> str:
        return f"telegram chat {self.pk}"


class TelegramCallSlot(models.Model):
    """One of a bot's 30 places in its call window shared by every sender on PostgreSQL
    without Redis (``channels/telegram/dbwindow.py``): a call holds a place from its start
    until one second after it finished. Written by raw SQL only (the database's clock); the
    rows hold times and a random token, nothing about any chat."""

    bot = models.CharField(max_length=40)  # the bot's numeric id, as in the Redis gate
    number = models.SmallIntegerField()
    # In flight: the start plus the in-flight timeout; finished: the finishing time.
    ends_at = models.DateTimeField()
    token = models.CharField(max_length=32, default="", blank=True)
    paused_until = models.DateTimeField()  # a 429 pauses every sender of the bot

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "number"], name="unique_telegram_call_slot"),
        ]

    def __str__(self) -> str:
        return f"telegram call slot {self.bot}/{self.number}"


class OutboxStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # Waiting for a chat that blocked the bot: out of the sender's index until the applicant
    # writes again, so such rows can never fill a claim's pages (telegram.sender).
    HELD = "held", "Held"
    # Behind an earlier unsent row of its chat (one being sent, or waiting for its time): out
    # of the sender's index until that row is done, so the rows of a chat that cannot go now
    # never fill a claim's pages; the sender queues the chat's next one when its head is done.
    BEHIND = "behind", "Behind"


class OutboxMessage(models.Model):
    """One Bot API call to make, written in the transaction that caused it (docs/architecture.md).

    The payload is ciphertext and is wiped once the call succeeded; what stays is its state.
    """

    chat = models.ForeignKey(TelegramChat, on_delete=models.CASCADE, related_name="outbox")
    # The chat's, so that a claim reads this table only. The database default lets a process of
    # the previous version, still running during an upgrade, queue rows (the sender fills in
    # their bot).
    bot = models.CharField(max_length=40, db_default="")
    method = models.CharField(max_length=32)
    payload_sealed = models.BinaryField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.QUEUED
    )
    reason = models.CharField(max_length=120, blank=True)  # never personal data
    attempts = models.IntegerField(default=0)
    # Scheduling: exact while the row waits; the sender floors not_before to the minute and
    # clears lease_until once the row is sent or failed (telegram.sender).
    not_before = models.DateTimeField()  # read with status or bot: see the indexes below
    lease_until = models.DateTimeField(null=True, blank=True)
    erasable = models.BooleanField(default=False)  # holds answers or instructions
    # Claim order (outbox.priority_of): operators' replies first, then the credentials message
    # and urgent, verified and in-progress conversations, first contacts, suspected flooders,
    # and housekeeping (deletions) last. Within a class the oldest ``not_before`` goes first;
    # a chat's next row joins the line when its previous one is done (round-robin).
    priority = models.SmallIntegerField(default=3)
    # A keyed digest of an automatic reply's payload (and chat): an identical reply already
    # waiting is not queued again (outbox._queue). Empty for operators' replies.
    repeat_key = models.CharField(max_length=16, blank=True, default="")
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        "cases.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Written in the transaction of the applicant's update: the minute, as for messages.
    created_at = CoarseDateTimeField(auto_now_add=True, precision="minute")
    sent_at = CoarseDateTimeField(null=True, blank=True, precision="minute")

    class Meta:
        indexes = [
            models.Index(fields=["status", "not_before"], name="outbox_due"),
            # A bot's sender claims its oldest queued rows: walking this index stops after a
            # batch, where the one above made every claim read and sort the whole backlog (a
            # flood's thousands of replies waiting for the 30/s limit).
            # Walked in claim order: priority class, then the turn (not_before), then id.
            models.Index(
                fields=["bot", "priority", "not_before", "id"],
                condition=Q(status="queued"),
                name="outbox_queued_turn",
            ),
        ]

    def __str__(self) -> str:
        return f"outbox {self.pk} {self.method} {self.status}"


class ChatTrace(models.Model):
    """A message left in an applicant's chat (ours or theirs) that we will delete later."""

    chat = models.ForeignKey(TelegramChat, on_delete=models.CASCADE, related_name="traces")
    message_id = models.BigIntegerField()
    # The message's time + TELEGRAM_ERASE_AFTER_SECONDS, rounded up to the minute by
    # outbox.erase_deadline (the field floors), so no message goes before its time.
    erase_due = CoarseDateTimeField(db_index=True, precision="minute")

    def __str__(self) -> str:
        return f"trace {self.pk}"


class Attachment(models.Model):
    """A photo, voice message or document an applicant sent. Stored encrypted under the case's
    key; images are re-encoded without metadata, other files are never opened by the server."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    chat = models.ForeignKey(
        TelegramChat, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16)  # photo, voice, document
    status = models.CharField(max_length=12, default="pending")  # pending, stored, refused
    reason = models.CharField(max_length=120, blank=True)
    source_sealed = models.BinaryField(null=True, blank=True)  # the Bot API file_id
    file_sealed = models.BinaryField(null=True, blank=True)  # the (re-encoded) bytes
    content_type = models.CharField(max_length=80, blank=True)
    size = models.IntegerField(default=0)
    received_at = CoarseDateTimeField(auto_now_add=True, precision="minute")

    def __str__(self) -> str:
        return f"attachment {self.pk} ({self.kind})"
