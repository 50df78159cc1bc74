"""Counting events for statistics, in the caller's transaction."""

from __future__ import annotations

import os

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from safepassage.analytics.models import DailyCount

# The funnel (visit → started → submitted → verified → handed_over → surrendered), and the rest.
# "visit": the web chat or a Telegram deep link opened with a live campaign code, or a hotline
# call naming one; "unknown_code": with a code that is unknown, revoked or malformed (the
# applicant starts normally).
EVENTS = frozenset(
    {
        "visit",
        "started",
        "submitted",
        "verified",
        "handed_over",
        "surrendered",
        "ready_now",
        "erased",
        "closed",
        "unknown_code",
        "escalated",
        # The first human reply to a case: against its response-time target, and how long.
        "first_reply_on_time",
        "first_reply_late",
        *(f"first_reply_{bucket}" for bucket in ("le_5m", "le_15m", "le_1h", "le_4h", "gt_4h")),
        # The day's peak of cases waiting for a reply, by urgency (record_peak).
        "waiting_now",
        "waiting_days",
        "waiting_later",
    }
)
SHARDS = 8
REPLY_BUCKETS = ((5, "le_5m"), (15, "le_15m"), (60, "le_1h"), (240, "le_4h"))


def count(event: str, channel: str, language: str, campaign: str = "") -> None:
    """Add one to today's counter (``campaign``: the campaign code, or "")."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event}")
    key = {
        "day": timezone.now().date(),
        "event": event,
        "channel": channel,
        "language": language,
        "campaign": campaign,
        "shard": os.getpid() % SHARDS,
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


def reply_bucket(minutes: float) -> str:
    for limit, name in REPLY_BUCKETS:
        if minutes <= limit:
            return name
    return "gt_4h"


def record_peak(event: str, value: int, channel: str = "", language: str = "") -> None:
    """Keep the day's highest ``value`` of a level (not a count of events), e.g. how many
    cases wait for a reply; called by the periodic job."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event}")
    key = {
        "day": timezone.now().date(),
        "event": event,
        "channel": channel,
        "language": language,
        "campaign": "",
        "shard": 0,
    }
    DailyCount.objects.filter(**key, count__lt=value).update(count=value)
    if not DailyCount.objects.filter(**key).exists():
        try:
            with transaction.atomic():
                DailyCount.objects.create(**key, count=value)
        except IntegrityError:
            DailyCount.objects.filter(**key, count__lt=value).update(count=value)
