"""Analysts and supervisors: reports from aggregate counts only (analytics.reports): volumes,
the funnel per campaign and code, time to the first human reply, the waiting list over time.
Charts are SVG drawn here; a table under each; CSV of the same (rounded, suppressed) figures."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from safepassage.analytics import reports
from safepassage.campaigns.models import CampaignCode
from safepassage.console import forms_campaigns
from safepassage.console.guard import staff_view


def column_labels() -> dict[str, str]:
    return {
        "started": _("contacts"),
        "submitted": _("applications"),
        "visit": _("visits"),
        "verified": _("verified"),
        "handed_over": _("handed over"),
        "surrendered": _("surrendered"),
        "unknown_code": _("unknown or revoked code"),
        "first_reply_on_time": _("on time"),
        "first_reply_late": _("late"),
        "first_reply_le_5m": _("≤ 5 min"),
        "first_reply_le_15m": _("≤ 15 min"),
        "first_reply_le_1h": _("≤ 1 h"),
        "first_reply_le_4h": _("≤ 4 h"),
        "first_reply_gt_4h": _("> 4 h"),
        "waiting_now": _("ready now"),
        "waiting_days": _("within days"),
        "waiting_later": _("later"),
    }


TITLES = {
    "volume-day": gettext_lazy("Contacts and applications by day"),
    "volume-channel": gettext_lazy("By channel"),
    "volume-language": gettext_lazy("By language"),
    "volume-campaign": gettext_lazy("By campaign code"),
    "funnel": gettext_lazy("Funnel per campaign"),
    "funnel-codes": gettext_lazy("Funnel per code"),
    "unknown-codes": gettext_lazy("Contacts with an unknown or revoked code, by channel"),
    "reply-times": gettext_lazy("Time to the first human reply, by language"),
    "waiting": gettext_lazy("Cases waiting for a reply (the day's peak)"),
}


def _row_label(key: str, label: str) -> str:
    """A row's label in the reader's words: a channel or language by name, a day or a code as
    it is."""
    from safepassage.config import APPLICANT_LANGUAGES
    from safepassage.console import presenters

    if key == "volume-channel":
        return presenters.channel_label(label)
    if key in ("volume-language", "reply-times"):
        return APPLICANT_LANGUAGES.get(label, label)
    return label


def _campaign_of_code() -> dict[str, str]:
    return dict(CampaignCode.objects.values_list("code", "campaign__name"))


def _builders(since: dt.date, until: dt.date) -> dict[str, Callable[[], reports.Report]]:
    names = _campaign_of_code()
    return {
        "volume-day": lambda: reports.volumes(since, until, "day"),
        "volume-channel": lambda: reports.volumes(since, until, "channel"),
        "volume-language": lambda: reports.volumes(since, until, "language"),
        "volume-campaign": lambda: reports.volumes(since, until, "campaign"),
        "funnel": lambda: reports.funnel(since, until, names, by_code=False),
        "funnel-codes": lambda: reports.funnel(since, until, names, by_code=True),
        "unknown-codes": lambda: reports.unknown_codes(since, until),
        "reply-times": lambda: reports.reply_times(since, until),
        "waiting": lambda: reports.waiting(since, until),
    }


def _range(request: HttpRequest) -> tuple[forms_campaigns.ReportRange, dt.date, dt.date]:
    form = forms_campaigns.ReportRange(request.GET or None)
    if request.GET and form.is_valid():
        return form, form.cleaned_data["since"], form.cleaned_data["until"]
    until = dt.date.today()
    return form, until - dt.timedelta(days=29), until


@require_GET
@staff_view("reports")
def report_page(request: HttpRequest) -> HttpResponse:
    form, since, until = _range(request)
    if request.GET and not form.is_valid():
        context = {"form": form, "sections": []}
        return render(request, "console/reports.html", context, status=400)
    labels = column_labels()
    sections = []
    for key, build in _builders(since, until).items():
        built = build()
        # Channels and languages by name, in the chart as in the table.
        report = dataclasses.replace(
            built, rows=[(_row_label(key, label), values) for label, values in built.rows]
        )
        title = str(TITLES[key])
        sections.append(
            {
                "key": key,
                "title": title,
                "chart": reports.svg_bars(report, labels, title),
                "columns": [labels.get(c, c) for c in report.columns],
                "rows": report.shown_rows(),
                "total": report.shown_total(),
            }
        )
    query = f"since={since.isoformat()}&until={until.isoformat()}"
    context = {"form": form, "sections": sections, "query": query, "since": since, "until": until}
    return render(request, "console/reports.html", context)


@require_GET
@staff_view("reports")
def report_csv(request: HttpRequest, key: str) -> HttpResponse:
    form, since, until = _range(request)
    builders = _builders(since, until)
    if key not in builders:
        raise Http404("no such report")
    if request.GET and not form.is_valid():
        return HttpResponse("invalid date range", status=400, content_type="text/plain")
    response = HttpResponse(builders[key]().csv(), content_type="text/csv; charset=utf-8")
    name = f"{key}-{since.isoformat()}-{until.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
