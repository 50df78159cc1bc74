"""The queue: most urgent first, filters, search by reference, "take next", live updates."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safepassage.cases import casework, queue
from safepassage.cases.models import Case, Channel, Status
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import access, forms_desk, presenters, queue_rows
from safepassage.console.guard import home_for, staff_view
from safepassage.privacy.session import keyring_of

QUEUE_LIMIT = 100
# What a row shows and a preview opens: the sealed answers, the triage and the answers' history
# stay in the database (a hundred rows at every refresh of every member's queue).
ROW_FIELDS = (
    "id",
    "status",
    "channel",
    "language",
    "urgency",
    "created_at",
    "last_applicant_at",
    "reply_due_at",
    "escalated_due_at",
    "needs_reader",
    "fake_score",
    "fake_mark",
    "fake_signals",
    "wrapped_key",
    "assigned_to__username",
)
# Unread rows shown with a preview of the newest message: the top of the queue, where the
# next case is chosen. Each preview opens personal data (audited) and costs two key exchanges
# at every 10 s refresh of every member's queue; the rows below show their unread count.
PREVIEWED_ROWS = 25
SCRIPT = Path(__file__).resolve().parent / "static" / "console.js"


@staff_view("account")
def home(request: HttpRequest) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    return HttpResponseRedirect(home_for(request.user))


def _filters(request: HttpRequest) -> queue.Filters:
    get = request.GET
    return queue.Filters(
        status=get.get("status", "") if get.get("status") in Status.values else "",
        language=get.get("language", "") if get.get("language") in APPLICANT_LANGUAGES else "",
        channel=get.get("channel", "") if get.get("channel") in Channel.values else "",
        sector=(get.get("sector") or "")[:64],  # a keyed index (access.sector_choices)
        campaign=(get.get("campaign") or "")[:64],
        mine=get.get("mine") == "1",
        overdue=get.get("overdue") == "1",
    )


def _rows_context(request: HttpRequest) -> dict[str, object]:
    """The rows alone: what the self-refresh every 10 s needs (console.js)."""
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    filters = _filters(request)
    visible = queue.apply(access.visible_cases(request.user), filters, request.user)
    now = timezone.now()
    ordered = queue.ordered(visible, access.reads_of(request.user))
    found = list(ordered.select_related("assigned_to").only(*ROW_FIELDS)[: QUEUE_LIMIT + 1])
    cases = found[:QUEUE_LIMIT]
    rows = _marked_rows(request, cases, now)
    return {
        "rows": rows,
        "rows_html": queue_rows.render(rows),
        "more": len(found) > QUEUE_LIMIT,
        "filters": filters,
        "now": now,
    }


def _queue_context(request: HttpRequest) -> dict[str, object]:
    """The rows with the page around them: filters, their choices, search."""
    return {
        **_rows_context(request),
        "query": request.GET.urlencode(),
        "statuses": [(s, label) for s, label in Status.choices if s != Status.DRAFT],
        "languages": list(APPLICANT_LANGUAGES.items()),
        "channels": Channel.choices,
        "sectors": access.sector_choices(),
        "limit": QUEUE_LIMIT,
        "supervisor": access.is_supervisor(request.user),
    }


def _marked_rows(request: HttpRequest, cases: list[Case], now: datetime) -> list[presenters.Row]:
    """Each row with its unread mark and, where it has one and this member's keyring opens it,
    a one-line preview of the newest applicant message (casework.do_previews audits it)."""
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    unread = casework.unread_counts(request.user, [c.pk for c in cases])
    waiting = [c for c in cases if unread.get(c.pk)][:PREVIEWED_ROWS]
    previews = casework.do_previews(request.user, keyring_of(request), waiting)
    return [
        dataclasses.replace(
            presenters.row(c, now), unread=unread.get(c.pk, 0), preview=previews.get(c.pk, "")
        )
        for c in cases
    ]


@staff_view("queue")
def inbox(request: HttpRequest) -> HttpResponse:
    return _inbox(request, forms_desk.FindForm())


def _inbox(request: HttpRequest, find_form: forms_desk.FindForm, status: int = 200) -> HttpResponse:
    context = _queue_context(request)
    context["find_form"] = find_form
    if request.GET.get("taken") == "none":
        context["notice"] = _("No unassigned open case is waiting.")
    elif request.GET.get("found") == "none":
        context["notice"] = _("No case has that reference.")
    return render(request, "console/inbox.html", context, status=status)


@staff_view("queue", background=True)
def inbox_rows(request: HttpRequest) -> HttpResponse:
    """The table body alone, for console.js to swap in without a reload."""
    return render(request, "console/inbox_rows.html", _rows_context(request))


@require_POST
@staff_view("queue")
def take_next(request: HttpRequest) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    case = casework.do_take_next(request.user, access.reads_of(request.user))
    if case is None:
        return HttpResponseRedirect(reverse("console:inbox") + "?taken=none")
    return HttpResponseRedirect(reverse("console:case", args=[case.pk]))


@require_POST
@staff_view("queue")
def find_case(request: HttpRequest) -> HttpResponse:
    """Search by reference. Posted, and answered with the case's opaque URL, so that a
    reference (sealed from the server itself) never sits in a URL or the browser's history."""
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    form = forms_desk.FindForm(request.POST)
    if not form.is_valid():
        return _inbox(request, form, 400)
    reference = form.cleaned_data["ref"]
    found = None
    if reference:
        mine = access.visible_cases(request.user)
        matches = queue.apply(mine, queue.Filters(reference=reference), request.user)
        found = queue.ordered(matches).first()
    if found is None:
        return HttpResponseRedirect(reverse("console:inbox") + "?found=none")
    return HttpResponseRedirect(reverse("console:case", args=[found.pk]))


def script(request: HttpRequest) -> HttpResponse:
    """Our one script, from our own origin (CSP: script-src 'self'); no personal data in it."""
    return HttpResponse(SCRIPT.read_bytes(), content_type="text/javascript; charset=utf-8")


@staff_view("case.assign")
def workload(request: HttpRequest) -> HttpResponse:
    """Supervisors: who holds how many open cases, and how many replies are overdue."""
    return render(request, "console/workload.html", {"rows": queue.workload()})
