"""Aggregate counts: no personal data, no case ids, and they survive every purge."""

from __future__ import annotations

from django.db import models


class DailyCount(models.Model):
    day = models.DateField()
    event = models.CharField(max_length=32)
    channel = models.CharField(max_length=20)
    language = models.CharField(max_length=8)
    campaign = models.CharField(max_length=40, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "event", "channel", "language", "campaign"], name="one_counter"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.event} {self.count}"


class ServiceMark(models.Model):
    """When something the service does last went right (a retention purge, a Telegram bot's
    answer): one row per name, no personal data. The admin's landing page shows them."""

    name = models.CharField(max_length=64, unique=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} {self.at:%Y-%m-%d %H:%M}"
