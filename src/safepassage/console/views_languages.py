"""Cases in a language the operator may not read: marking a case as needing a reader, and a
machine translation of what the applicant wrote (never of what is sent to him)."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from safepassage.cases import casework, workflow
from safepassage.cases import services as cases
from safepassage.cases.models import Direction
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import forms, presenters, translation
from safepassage.console.guard import staff_view
from safepassage.console.views_case import _back, _conflict, _refused, _staff_user, visible_case
from safepassage.privacy import audit
from safepassage.privacy.session import keyring_of


@require_POST
@staff_view("case.work")
def needs_reader(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.NeedsReaderForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "needs_reader_form", form)
    data = form.cleaned_data
    try:
        casework.do_mark_needs_reader(case, _staff_user(request), data["language"], data["version"])
    except casework.Conflict:
        return _conflict(request, case)
    except workflow.Refused as exc:
        return _refused(request, case, "needs_reader_form", form, str(exc))
    return _back(case)


@staff_view("case.read")
def message_translation(request: HttpRequest, case_id: uuid.UUID, message_id: int) -> HttpResponse:
    """One message the applicant wrote, beside a machine translation into the operator's
    language, marked as such. Read with the operator's keyring and audited as a case view."""
    case = visible_case(request, case_id)
    if not translation.enabled():
        raise Http404("no machine translation configured")
    ring = keyring_of(request)
    entry = next(
        (
            e
            for e in cases.transcript(case, ring)
            if e.message_id == message_id and e.direction == Direction.INBOUND
        ),
        None,
    )
    if entry is None:  # not this case's, or a reply to the applicant: never offered
        raise Http404("no such message")
    audit.record(_staff_user(request), "case.translate", case.pk)
    source, target = case.language, presenters.operator_language()
    translated, error = "", ""
    try:
        translated = translation.translate(entry.text, source, target)
    except translation.Unavailable:
        error = "unavailable"
    return render(
        request,
        "console/translation.html",
        {
            "case": case,
            "short_id": presenters.short_id(case),
            "entry": entry,
            "source_name": APPLICANT_LANGUAGES.get(source, source),
            "target": target,
            "translated": translated,
            "error": error,
        },
    )
