"""Vetted replies: texts staff may send an applicant with one click, once a reader of the
applicant's language has reviewed them (docs/operations.md, "Vetted replies").

They are data, managed by supervisors in the console; the starter set ships in
``starter.yaml``, every text unreviewed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Audience(models.TextChoices):
    SOLDIER = "soldier", _("The soldier")
    RELATIVE = "relative", _("A relative")
    ANY = "any", _("Anyone")


class VettedReply(models.Model):
    # A stable name (the starter set's key), never shown to applicants.
    key = models.SlugField(max_length=40, unique=True)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.ANY)
    # Titles for staff, in each console language.
    title_en = models.CharField(max_length=120)
    title_uk = models.CharField(max_length=120, blank=True)
    title_ru = models.CharField(max_length=120, blank=True)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"vetted reply {self.key}"

    def title(self, language: str) -> str:
        return str(getattr(self, f"title_{language}", "") or self.title_en)


class VettedText(models.Model):
    """One reply in one applicant language. Sendable only while reviewed: editing the text
    clears the review (``replies.services.do_save``)."""

    reply = models.ForeignKey(VettedReply, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=8)
    text = models.TextField()
    # Bumped on every edit: a review names the version its reviewer read.
    version = models.PositiveIntegerField(default=1)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edited_at = models.DateTimeField(auto_now=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reply", "language"], name="one_text_per_language"),
        ]

    def __str__(self) -> str:
        return f"{self.reply_id} in {self.language}"

    @property
    def reviewed(self) -> bool:
        return self.reviewed_at is not None


class SentReply(models.Model):
    """Which vetted reply an outbound message was, with its texts as they were when sent, sealed
    for staff under the case key (which reply a case received says something about him)."""

    message = models.OneToOneField("cases.Message", on_delete=models.CASCADE, related_name="vetted")
    sealed = models.BinaryField()

    def __str__(self) -> str:
        return f"vetted reply of message {self.message_id}"
