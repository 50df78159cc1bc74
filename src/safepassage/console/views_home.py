"""Landing pages of the roles that work no case: the analyst's overview (today's aggregate
counts) and the admin's service page (is the service healthy). Neither reads personal data:
counts come from analytics.DailyCount, health from a database ping, the configuration and
analytics.service (marks and the probes other apps register)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from safepassage import config
from safepassage.analytics import reports
from safepassage.analytics import service as health
from safepassage.analytics.models import DailyCount
from safepassage.console.guard import staff_view

EVENT_LABELS = {
    "submitted": gettext_lazy("Applications submitted"),
    "ready_now": gettext_lazy("Applicants ready to cross now"),
    "surrendered": gettext_lazy("Surrenders recorded"),
    "closed": gettext_lazy("Cases closed"),
    "erased": gettext_lazy("Applications erased"),
}


@staff_view("overview")
def overview(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    rows = DailyCount.objects.filter(day=today)
    totals = dict(
        rows.values("event").annotate(n=Sum("count")).values_list("event", "n")  # type: ignore[arg-type]
    )
    by_channel = list(
        rows.filter(event="submitted")
        .values("channel")
        .annotate(n=Sum("count"))
        .order_by("channel")
        .values_list("channel", "n")
    )
    by_language = list(
        rows.filter(event="submitted")
        .values("language")
        .annotate(n=Sum("count"))
        .order_by("language")
        .values_list("language", "n")
    )
    return render(
        request,
        "console/overview.html",
        {
            "today": today,
            # Shown as the reports show them: rounded to 5, "<5" under 5 (analytics.reports).
            "counts": [
                (key, label, reports.shown(totals.get(key) or 0))
                for key, label in EVENT_LABELS.items()
            ],
            "by_channel": [(c, reports.shown(n)) for c, n in by_channel],
            "by_language": [(c, reports.shown(n)) for c, n in by_language],
        },
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return _("never recorded")
    minutes = max(0, int((now - moment).total_seconds() // 60))
    return _("%(when)s UTC (%(minutes)s min ago)") % {
        "when": moment.strftime("%Y-%m-%d %H:%M"),
        "minutes": minutes,
    }


@staff_view("service")
def service(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    settings = config.get()
    gauges: list[health.Gauge] = []
    database = _database_ok()
    gauges.append(
        health.Gauge(_("Database"), _("reachable") if database else _("unreachable"), not database)
    )
    bots = [slug for slug, _token in settings.telegram_bots]
    gauges.append(
        health.Gauge(_("Telegram bots configured"), ", ".join(bots) if bots else _("none"))
    )
    for slug in bots:
        last = health.last(health.telegram_contact(slug))
        gauges.append(
            health.Gauge(
                _("Telegram bot %(slug)s: last successful contact") % {"slug": slug},
                _ago(last, now),
                last is None or now - last > timedelta(minutes=15),
            )
        )
    gauges.extend(health.probes())
    purged = health.last(health.RETENTION_PURGE)
    every = settings.purge_every_seconds
    expected = timedelta(seconds=2 * every + 300) if every > 0 else timedelta(days=2)  # cron
    late = purged is None or now - purged > expected
    gauges.append(health.Gauge(_("Last retention purge"), _ago(purged, now), late))
    return render(request, "console/service.html", {"gauges": gauges, "now": now})
