"""The Telegram outbox on the admin's health page: how many messages wait, and since when.

Registered with ``analytics.service`` at start-up; counts only, no chat and no text."""

from __future__ import annotations

from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from safepassage.analytics.service import Gauge
from safepassage.channels.models import OutboxMessage, OutboxStatus

# A queued message older than this means the sender is stuck or Telegram unreachable.
OLD_QUEUE_MINUTES = 10


def outbox_gauges() -> list[Gauge]:
    queued = OutboxMessage.objects.filter(status=OutboxStatus.QUEUED)
    found = queued.aggregate(oldest=Min("created_at"))
    depth = queued.count()
    gauges = [Gauge(_("Telegram outbox: messages waiting"), str(depth))]
    oldest = found["oldest"]
    if oldest is None:
        gauges.append(Gauge(_("Telegram outbox: oldest waiting"), _("none")))
    else:
        minutes = max(0, int((timezone.now() - oldest).total_seconds() // 60))
        gauges.append(
            Gauge(
                _("Telegram outbox: oldest waiting"),
                _("%(minutes)s min") % {"minutes": minutes},
                warn=minutes >= OLD_QUEUE_MINUTES,
            )
        )
    return gauges
