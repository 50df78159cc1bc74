"""Aggregate counts: no personal data, no case ids, and they survive every purge."""

from __future__ import annotations

from django.db import models


class DailyCount(models.Model):
    day = models.DateField()
    event = models.CharField(max_length=32)
    channel = models.CharField(max_length=20)
    language = models.CharField(max_length=8)
    campaign = models.CharField(max_length=64, blank=True)  # a campaign code
    count = models.PositiveIntegerField(default=0)
    # Busy counters (every /start of a flood) are split over a few rows, one per process, so
    # that concurrent batches do not queue behind one row lock; reports sum them.
    shard = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "event", "channel", "language", "campaign", "shard"],
                name="one_counter_shard",
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


class TaskRun(models.Model):
    """When each periodic job last finished, and how often it should: what the health page and
    the metrics read as the last retention purge and the task lag. No personal data."""

    name = models.CharField(max_length=40, unique=True)
    every_seconds = models.FloatField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} {self.finished_at}"
