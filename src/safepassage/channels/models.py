"""Channel-side bookkeeping (throttles; Telegram update ids come with that adapter)."""

from __future__ import annotations

from django.db import models


class Attempt(models.Model):
    """One try at something rate-limited, keyed by a digest (never the raw value)."""

    key = models.CharField(max_length=80, db_index=True)
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"attempt {self.pk}"
