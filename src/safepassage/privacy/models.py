"""The audit log: append-only, each record carrying the hash of the one before it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64)
    case_id = models.UUIDField(null=True, db_index=True)
    detail = models.CharField(max_length=200, blank=True)  # never personal data
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"
