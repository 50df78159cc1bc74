"""The liaison's view: handovers to their sector, with only what receiving the person needs.

Shown: case reference, group size, time window, meeting point, language, medical needs and the
applicant's wishes. Nothing else of the case (no name, unit, transcript, notes) reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from safepassage.cases import casework, workflow
from safepassage.cases import services as cases
from safepassage.cases.models import Handover, HandoverOutcome
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import access, forms_desk, presenters
from safepassage.console.guard import staff_view
from safepassage.privacy import audit
from safepassage.privacy.keyring import Keyring
from safepassage.privacy.session import keyring_of


@dataclass(frozen=True)
class FieldCard:
    """Everything a liaison sees of a case, and nothing more."""

    handover: Handover
    reference: str
    group_size: int
    language: str
    meeting: str
    medical: bool
    wishes: list[str]


def field_card(handover: Handover, ring: Keyring) -> FieldCard:
    """Only what the field needs to receive the person. Triage answers (group, wishes) are
    readable by the server; the reference and meeting place need the liaison's keyring."""
    case = handover.case
    answers = cases.answers(case)
    group = case.head_count or int(answers.get("group_size") or 1)
    return FieldCard(
        handover=handover,
        reference=cases.reference_of(case, ring),
        group_size=group,
        language=APPLICANT_LANGUAGES.get(case.language, case.language),
        meeting=casework.meeting_of(handover, ring),
        medical="medical" in (answers.get("wishes") or []),
        wishes=presenters.wish_badges({"wishes": answers.get("wishes") or []}),
    )


def _handover(request: HttpRequest, handover_id: int) -> Handover:
    handover = (
        access.field_handovers(request.user).select_related("case").filter(pk=handover_id).first()
    )
    if handover is None:
        raise Http404("no such handover")
    return handover


@staff_view("field")
def field_list(request: HttpRequest) -> HttpResponse:
    handovers = access.field_handovers(request.user).select_related("case").order_by("window_start")
    return render(request, "console/field_list.html", {"handovers": handovers[:200]})


def _card_page(
    request: HttpRequest, handover: Handover, form: forms_desk.OutcomeForm, status: int = 200
) -> HttpResponse:
    audit.record(request.user, "handover.view", handover.case_id)
    return render(
        request,
        "console/field_detail.html",
        {
            "card": field_card(handover, keyring_of(request)),
            "outcomes": HandoverOutcome.choices,
            "form": form,
        },
        status=status,
    )


@staff_view("field")
def field_detail(request: HttpRequest, handover_id: int) -> HttpResponse:
    return _card_page(request, _handover(request, handover_id), forms_desk.OutcomeForm())


@require_POST
@staff_view("field")
def field_confirm(request: HttpRequest, handover_id: int) -> HttpResponse:
    handover = _handover(request, handover_id)
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    casework.do_confirm_receipt(handover, request.user)
    return HttpResponseRedirect(reverse("console:field_detail", args=[handover.pk]))


@require_POST
@staff_view("field")
def field_outcome(request: HttpRequest, handover_id: int) -> HttpResponse:
    handover = _handover(request, handover_id)
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    form = forms_desk.OutcomeForm(request.POST)
    if not form.is_valid():
        return _card_page(request, handover, form, 400)
    try:
        casework.do_record_outcome(handover, request.user, form.cleaned_data["outcome"])
    except workflow.Refused as exc:
        form.add_error(None, str(exc))
        return _card_page(request, handover, form, 400)
    return HttpResponseRedirect(reverse("console:field_detail", args=[handover.pk]))
