"""Counting events for statistics, in the caller's transaction."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from safepassage.analytics.models import DailyCount

EVENTS = frozenset({"submitted", "ready_now", "erased", "surrendered", "closed", "escalated"})


def count(event: str, channel: str, language: str, campaign: str = "") -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event}")
    key = {
        "day": timezone.now().date(),
        "event": event,
        "channel": channel,
        "language": language,
        "campaign": campaign,
    }
    updated = DailyCount.objects.filter(**key).update(count=F("count") + 1)
    if updated:
        return
    try:
        with transaction.atomic():
            DailyCount.objects.create(**key, count=1)
    except IntegrityError:  # another request created the row first
        DailyCount.objects.filter(**key).update(count=F("count") + 1)


def totals(event: str) -> int:
    return sum(DailyCount.objects.filter(event=event).values_list("count", flat=True))
