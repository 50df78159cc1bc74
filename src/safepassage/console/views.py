"""The operator console. Thin views: reads go through services, every view of a case is audited."""

from __future__ import annotations

import uuid

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, user_passes_test
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from safepassage.cases import services as cases
from safepassage.cases.models import Case, Status
from safepassage.console import presenters
from safepassage.privacy import audit
from safepassage.privacy.session import keyring_of
from safepassage.web.forms import clean_text


def _is_staff(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active and getattr(user, "is_staff", False))


staff_required = user_passes_test(_is_staff, login_url="console:login")


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


@login_required(login_url="console:login")
@staff_required
def inbox(request: HttpRequest) -> HttpResponse:
    rows = [presenters.row(c) for c in cases.queue().select_related("contact")[:200]]
    return render(request, "console/inbox.html", {"rows": rows})


def _case_context(request: HttpRequest, case: Case) -> dict[str, object]:
    audit.record(request.user, "case.view", case.pk)
    ring = keyring_of(request)
    answers = cases.answers_for_staff(case, ring)
    row = presenters.row(case)
    return {
        "case": case,
        "short_id": row.short_id,
        "urgency": row.urgency,
        "urgency_label": row.urgency_label,
        "language": row.language,
        "reference": cases.reference_of(case, ring),
        "answers": presenters.answer_lines(answers),
        "wishes": presenters.wish_badges(answers),
        "transcript": cases.transcript(case, ring),
        "locked": not ring,
    }


def _visible_case(case_id: uuid.UUID) -> Case:
    return get_object_or_404(
        Case.objects.exclude(status=Status.DRAFT).select_related("contact__campaign"), pk=case_id
    )


@login_required(login_url="console:login")
@staff_required
def case_detail(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    return render(request, "console/case.html", _case_context(request, _visible_case(case_id)))


@require_POST
@login_required(login_url="console:login")
@staff_required
def reply(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = _visible_case(case_id)
    text = (clean_text(request.POST.get("text")) or "").strip()
    if not text or len(text) > cases.MAX_MESSAGE_CHARS:
        context = _case_context(request, case)
        context["reply_error"] = "Write a reply of 1 to 4,000 characters."
        return render(request, "console/case.html", context, status=400)
    if not isinstance(request.user, User):  # staff_required makes this unreachable
        return HttpResponse(status=403)
    cases.do_operator_reply(case, request.user, text)
    return HttpResponseRedirect(reverse("console:case", args=[case.pk]))
