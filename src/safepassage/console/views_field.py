"""The liaison's view: handovers to their sector, with only what receiving the person needs.

Shown: case reference, group size, time window, meeting point, language, medical needs and the
applicant's wishes, all from the card sealed to the liaison's own key (cases.handover_cards).
Nothing else of the case (no name, unit, transcript, notes) reaches them: they hold no program
key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from safepassage.cases import casework, handover_cards, workflow
from safepassage.cases.models import Handover, HandoverOutcome
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import access, forms_desk, presenters
from safepassage.console.guard import staff_view
from safepassage.privacy import audit
from safepassage.privacy.keyring import Keyring
from safepassage.privacy.session import keyring_of


@dataclass(frozen=True)
class FieldCard:
    """Everything a liaison sees of a case, and nothing more. ``shared`` is False where no card
    was sealed to this liaison yet (a supervisor shares it from the case page)."""

    handover: Handover
    shared: bool
    reference: str = ""
    group_size: int = 0
    language: str = ""
    meeting: str = ""
    medical: bool = False
    wishes: tuple[str, ...] = ()
    window_start: datetime | None = None
    window_end: datetime | None = None


def field_card(handover: Handover, user: User, ring: Keyring) -> FieldCard:
    """The card sealed to this liaison's member key, opened with their session's keyring: the
    liaison holds no program key, so nothing else of the case opens for them."""
    data = handover_cards.open_card(handover, user, ring.member_private)
    if data is None:
        return FieldCard(handover=handover, shared=False)
    wishes = [str(w) for w in data.get("wishes") or []]
    return FieldCard(
        handover=handover,
        shared=True,
        reference=str(data.get("reference", "")),
        group_size=int(data.get("group_size") or 1),
        language=APPLICANT_LANGUAGES.get(str(data.get("language")), str(data.get("language"))),
        meeting=str(data.get("meeting", "")),
        medical="medical" in wishes,
        wishes=tuple(presenters.wish_badges({"wishes": wishes})),
        window_start=datetime.fromisoformat(str(data["window_start"])),
        window_end=datetime.fromisoformat(str(data["window_end"])),
    )


def _liaison(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    return request.user


def _handover(request: HttpRequest, handover_id: int) -> Handover:
    handover = (
        access.field_handovers(request.user).select_related("case").filter(pk=handover_id).first()
    )
    if handover is None:
        raise Http404("no such handover")
    return handover


@staff_view("field")
def field_list(request: HttpRequest) -> HttpResponse:
    user, ring = _liaison(request), keyring_of(request)
    handovers = access.field_handovers(user).select_related("case").order_by("-created_at")[:200]
    cards = [field_card(h, user, ring) for h in handovers]
    # The window is sealed: sorted here, soonest first, cards not shared yet last.
    far = datetime.max.replace(tzinfo=UTC)
    cards.sort(key=lambda c: c.window_start or far)
    return render(request, "console/field_list.html", {"cards": cards})


def _card_page(
    request: HttpRequest, handover: Handover, form: forms_desk.OutcomeForm, status: int = 200
) -> HttpResponse:
    audit.record(request.user, "handover.view", handover.case_id)
    return render(
        request,
        "console/field_detail.html",
        {
            "card": field_card(handover, _liaison(request), keyring_of(request)),
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
