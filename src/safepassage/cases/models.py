"""Contacts, cases and messages. Personal fields are ciphertext; see safepassage.privacy."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from safepassage.privacy.coarse_time import CoarseDateTimeField


class Channel(models.TextChoices):
    WEBCHAT = "webchat", _("Web chat")
    TELEGRAM = "telegram", _("Telegram")
    HOTLINE = "hotline", _("Hotline")


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft (application not yet confirmed)")
    NEW = "new", _("New")
    IN_CONTACT = "in_contact", _("In contact")
    VERIFIED = "verified", _("Verified")
    WAITING = "waiting", _("Waiting")
    READY = "ready", _("Ready")
    HANDED_OVER = "handed_over", _("Handed over")
    SURRENDERED = "surrendered", _("Surrendered")
    CLOSED = "closed", _("Closed")


class CloseReason(models.TextChoices):
    UNREACHABLE = "unreachable", _("No longer reachable")
    DECLINED = "declined", _("Declined")
    FAKE = "fake", _("Fake or provocation")
    DUPLICATE = "duplicate", _("Duplicate")


class FakeMark(models.TextChoices):
    NONE = "", "Not marked"
    FAKE = "fake", "Marked fake"
    GENUINE = "genuine", "Marked genuine"


class Contact(models.Model):
    """One person, possibly reaching us over several channels."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = CoarseDateTimeField(auto_now_add=True, precision="day")  # attribution: a day
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    # The code it came with (a drop zone, a video); kept when the code is revoked.
    campaign_code = models.ForeignKey(
        "campaigns.CampaignCode",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )

    def __str__(self) -> str:
        return f"contact {self.id}"


class ChannelIdentity(models.Model):
    """A channel's user id, stored only as a keyed hash (privacy.crypto.pseudonym)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    pseudonym = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "pseudonym"], name="unique_identity"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} identity"


class Case(models.Model):
    """One request for safe passage."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="cases")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    language = models.CharField(max_length=8)
    wrapped_key = models.BinaryField()
    reference_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    reference_sealed = models.BinaryField(null=True, blank=True)
    passphrase_hash = models.CharField(max_length=200, blank=True)
    # Answers triage and routing need, readable by the server: see the flow's `store: triage`.
    triage = models.JSONField(default=dict, blank=True)
    sealed_answers = models.BinaryField(null=True, blank=True)
    urgency = models.IntegerField(default=0, db_index=True)
    # Applicant-side times, stored no finer than the workflow needs (docs/threat-model.md):
    # response targets count in minutes, draft retention in hours, first contact in days.
    created_at = CoarseDateTimeField(auto_now_add=True, precision="day")
    updated_at = CoarseDateTimeField(auto_now=True, precision="hour")
    submitted_at = CoarseDateTimeField(null=True, blank=True, db_index=True, precision="minute")
    ready_now_at = CoarseDateTimeField(null=True, blank=True, precision="minute")
    last_applicant_at = CoarseDateTimeField(null=True, blank=True, precision="minute")
    # Console work (issue 4): who holds the case, when a reply is due, and the workflow's data.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    # Due = last applicant message + target: as fine as last_applicant_at and no finer. The
    # last reply or call marks contact with the applicant, so it is kept to the minute too.
    reply_due_at = CoarseDateTimeField(null=True, blank=True, precision="minute")
    last_operator_at = CoarseDateTimeField(null=True, blank=True, precision="minute")
    # How far the case has come in the campaign funnel (cases.services.FUNNEL): each stage is
    # counted once per case, however often the status moves back and forth.
    funnel_stage = models.PositiveSmallIntegerField(default=0)
    # The reply deadline that was raised to supervisors when it passed (cases.escalation): a
    # case is escalated once per deadline, and again only once a later one passes too.
    escalated_due_at = CoarseDateTimeField(null=True, blank=True, precision="minute")
    version = models.PositiveIntegerField(default=1)  # bumped on every staff change: stale forms
    next_check_in = models.DateField(null=True, blank=True)
    head_count = models.PositiveSmallIntegerField(null=True, blank=True)
    close_reason = models.CharField(max_length=20, choices=CloseReason.choices, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_cases"
    )
    # "Needs a reader of Korean": an applicant language staff marked this case as needing;
    # the queue puts it in front of those who read it (cases.queue). "" for none.
    needs_reader = models.CharField(max_length=8, blank=True, default="")
    # Flood defence (cases.suspicion): signals of a fake or provocation application raise the
    # score, which lowers the queue order (folded into ``urgency``) and the priority of its
    # automatic replies; an operator's mark overrides it. Nothing is deleted on suspicion.
    fake_score = models.SmallIntegerField(default=0)
    fake_mark = models.CharField(max_length=8, choices=FakeMark.choices, blank=True, default="")
    # Which signals raised the score (names from cases.suspicion.SIGNAL_POINTS, each once):
    # the queue and the case page show them as reasons. Never personal data.
    fake_signals = models.JSONField(default=list, blank=True)
    # Per triage field, the values the applicant gave it in turn (distinct, at most a few):
    # an answer set back to one it had left is a "contradictory" signal (cases.suspicion).
    answer_history = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "-submitted_at"], name="case_queue"),
            # The queue's order, so that a filtered queue walks this index and stops at 100
            # rows instead of sorting every match (bench/console.py).
            models.Index(fields=["-urgency", "last_applicant_at", "id"], name="case_triage"),
            models.Index(fields=["assigned_to", "-urgency"], name="case_assignee"),
        ]

    def __str__(self) -> str:
        return f"case {self.id}"


class Direction(models.TextChoices):
    INBOUND = "in", _("From applicant")
    OUTBOUND = "out", _("To applicant")


class Message(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    body_sealed = models.BinaryField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = CoarseDateTimeField(auto_now_add=True, db_index=True, precision="minute")
    # When the applicant first saw this reply; it is sealed for staff 24 hours later (the hour
    # is enough: sealing up to an hour early only shortens what the server can read).
    shown_at = CoarseDateTimeField(null=True, blank=True, precision="hour")
    # What the applicant wrote in the web chat, for their own thread: sealed under a key only
    # their browser holds (a cookie), inside the case key; wiped after 72 hours (retention).
    applicant_copy = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"message {self.pk} ({self.direction})"


class CaseEvent(models.Model):
    """One recorded change of a case by staff: a transition, assignment, merge or handover."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=30)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    detail = models.CharField(max_length=200, blank=True)  # never personal data

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}->{self.to_status}"


class Note(models.Model):
    """An internal note; never sent to the applicant. The text is sealed with the case key."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    body_sealed = models.BinaryField()

    def __str__(self) -> str:
        return f"note {self.pk}"


class CallDirection(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")


class Caller(models.TextChoices):
    APPLICANT = "applicant", _("The man himself")
    RELATIVE = "relative", _("A relative")
    OTHER = "other", _("Someone else")


class CallOutcome(models.TextChoices):
    SPOKE = "spoke", _("Spoke")
    NO_ANSWER = "no_answer", _("No answer")
    CALLBACK = "callback", _("Callback requested")
    CUT_OFF = "cut_off", _("Cut off")
    HOAX = "hoax", _("Hoax or provocation")


class CallLog(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="calls")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    direction = models.CharField(max_length=3, choices=CallDirection.choices)
    caller = models.CharField(max_length=12, choices=Caller.choices)
    started_at = CoarseDateTimeField(precision="minute")  # a call with the applicant
    duration_seconds = models.PositiveIntegerField(default=0)
    language = models.CharField(max_length=8)
    outcome = models.CharField(max_length=12, choices=CallOutcome.choices)
    summary_sealed = models.BinaryField()

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"call {self.pk}"


class ReachBy(models.TextChoices):
    """How a callback reaches the person: what he asked for when he asked to be called back."""

    PHONE = "phone", _("Call the number he gave")
    MESSAGE = "message", _("A message through the channel he used")


class Callback(models.Model):
    """A call the applicant (or a relative) asked for, within a time window.

    How to reach him (a number, or which channel and account to write to) is applicant content:
    sealed to the case key like a note (``reach_sealed``, field ``callback:<pk>``)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="callbacks")
    window_start = models.DateTimeField(db_index=True)
    window_end = models.DateTimeField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    # The call that asked for it (logged with outcome "callback requested"), if any.
    call = models.ForeignKey(
        CallLog, null=True, blank=True, on_delete=models.SET_NULL, related_name="callbacks"
    )
    language = models.CharField(max_length=8, blank=True)  # to call back in
    reach_by = models.CharField(max_length=10, choices=ReachBy.choices, blank=True)
    reach_sealed = models.BinaryField(null=True, blank=True)

    def __str__(self) -> str:
        return f"callback {self.pk}"


class HandoverOutcome(models.TextChoices):
    RECEIVED = "received", _("Received")
    DID_NOT_COME = "did_not_come", _("Did not come")
    POSTPONED = "postponed", _("Postponed")


class Handover(models.Model):
    """A ready case handed to a sector's liaisons, with an agreed window and meeting place.

    Nothing here says where or when in clear (docs/threat-model.md): the sector is a keyed index
    that routes the handover; sector and window are sealed to the case key (``plan_sealed``),
    the meeting point too (``meeting_sealed``); each liaison reads their own
    :class:`HandoverCard`."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="handovers")
    sector_index = models.CharField(max_length=64, db_index=True)
    plan_sealed = models.BinaryField(default=b"")
    meeting_sealed = models.BinaryField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=HandoverOutcome.choices, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"handover {self.pk}"


class HandoverCard(models.Model):
    """What one liaison needs to receive the person, sealed to that liaison's member key (and,
    outside, under the case's server key, so erasing the case shreds it too)."""

    handover = models.ForeignKey(Handover, on_delete=models.CASCADE, related_name="cards")
    liaison = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="handover_cards"
    )
    sealed = models.BinaryField()
    # The member public key it was sealed to: a liaison whose key pair was replaced since (a
    # reset, a lost password) holds a card they cannot open, and is shown as waiting for one.
    recipient_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["handover", "liaison"], name="one_card_per_liaison"),
        ]

    def __str__(self) -> str:
        return f"card of handover {self.handover_id} for {self.liaison_id}"


class ReadMark(models.Model):
    """How far one staff member has read a case: the newest message they were shown. The
    queue's unread marks count the applicant's messages after it. No time, no content."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="read_marks")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_message_id = models.BigIntegerField(default=0)
    # The newest message whose one-line preview the queue showed them (audited once each).
    previewed_message_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="one_read_mark_per_reader"),
        ]

    def __str__(self) -> str:
        return f"read mark of {self.user_id} on {self.case_id}"
