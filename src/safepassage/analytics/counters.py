"""Counting events for statistics, in the caller's transaction."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from safepassage.analytics.models import DailyCount

# The funnel (visit → started → submitted → verified → handed_over → surrendered), and the rest.
# "visit": the web chat opened with a live campaign code; "unknown_code": with a code that is
# unknown, revoked or malformed (the applicant starts normally).
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
    }
)


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
