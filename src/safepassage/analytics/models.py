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


class TaskRun(models.Model):
    """When each periodic job last finished, and how often it should: what the health page and
    the metrics read as the last retention purge and the task lag. No personal data."""

    name = models.CharField(max_length=40, unique=True)
    every_seconds = models.FloatField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} {self.finished_at}"
