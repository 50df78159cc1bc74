"""Contacts, cases and messages. Personal fields are ciphertext; see safepassage.privacy."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    WEBCHAT = "webchat", "Web chat"
    TELEGRAM = "telegram", "Telegram"
    HOTLINE = "hotline", "Hotline"


class Status(models.TextChoices):
    DRAFT = "draft", "Draft (application not yet confirmed)"
    NEW = "new", "New"
    IN_CONTACT = "in_contact", "In contact"
    VERIFIED = "verified", "Verified"
    WAITING = "waiting", "Waiting"
    READY = "ready", "Ready"
    HANDED_OVER = "handed_over", "Handed over"
    SURRENDERED = "surrendered", "Surrendered"
    CLOSED = "closed", "Closed"


class Contact(models.Model):
    """One person, possibly reaching us over several channels."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign",
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ready_now_at = models.DateTimeField(null=True, blank=True)
    last_applicant_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-submitted_at"], name="case_queue")]

    def __str__(self) -> str:
        return f"case {self.id}"


class Direction(models.TextChoices):
    INBOUND = "in", "From applicant"
    OUTBOUND = "out", "To applicant"


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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the applicant first saw this reply; it is sealed for staff 24 hours later.
    shown_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"message {self.pk} ({self.direction})"
