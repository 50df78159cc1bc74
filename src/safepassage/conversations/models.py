"""Where each applicant is in the dialogue. Answers themselves live on the case."""

from __future__ import annotations

import uuid

from django.db import models

from safepassage.privacy.coarse_time import CoarseDateTimeField


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="conversation")
    flow = models.CharField(max_length=40, default="application")
    state = models.JSONField(default=dict)
    updated_at = CoarseDateTimeField(auto_now=True, precision="hour")  # every applicant step
    # How many replies were applied: a web chat form carries a token for the turn it was drawn
    # at (privacy.crypto.form_token), so the same form sent twice is applied once.
    turn = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"conversation {self.id}"
