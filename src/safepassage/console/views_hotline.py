"""The hotline desk: identify a caller, open a case from a call, the callback queue."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safepassage.cases import casework
from safepassage.cases import services as cases
from safepassage.cases.models import Callback
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import access, forms_desk, presenters
from safepassage.console.guard import staff_view
from safepassage.privacy import audit
from safepassage.privacy.session import keyring_of

CALLBACK_LIMIT = 200


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    return request.user


def _callback_rows(request: HttpRequest) -> list[presenters.CallbackRow]:
    """The callback queue, earliest window first. How to reach each person is opened with this
    member's keyring; each case whose contact details were shown is an audited read."""
    user = _user(request)
    ring = keyring_of(request)
    visible = access.visible_cases(user)
    callbacks = (
        Callback.objects.filter(done_at__isnull=True, case__in=visible)
        .select_related("case")
        .order_by("window_start")[:CALLBACK_LIMIT]
    )
    now = timezone.now()
    rows = [presenters.callback_row(c, casework.reach_of(c, ring), now) for c in callbacks]
    opened = {row.callback.case_id for row in rows if row.reach_readable}
    for case_id in sorted(opened):
        audit.record(user, "case.callback_view", case_id)
    return rows


def _desk(request: HttpRequest, status: int = 200, **extra: object) -> HttpResponse:
    context: dict[str, object] = {
        "callbacks": _callback_rows(request),
        "languages": list(APPLICANT_LANGUAGES.items()),
        "readiness": forms_desk.READINESS,
        "identify_form": forms_desk.IdentifyForm(),
        "new_form": forms_desk.NewCaseForm(),
    }
    context.update(extra)
    return render(request, "console/hotline.html", context, status=status)


@staff_view("hotline")
def desk(request: HttpRequest) -> HttpResponse:
    return _desk(request)


@require_POST
@staff_view("hotline")
def identify(request: HttpRequest) -> HttpResponse:
    """A caller reads out the reference and passphrase given at application."""
    form = forms_desk.IdentifyForm(request.POST)
    if not form.is_valid():
        return _desk(request, 400, identify_form=form)
    user = _user(request)
    try:
        # Counted per staff member: a desk that mistyped too often waits, the others do not.
        case = cases.find_by_credentials(
            form.cleaned_data["reference"],
            form.cleaned_data["passphrase"],
            f"staff:{user.pk}",
            "hotline",
        )
    except cases.TooManyAttempts:
        form.add_error(None, _("Too many wrong tries. Try again later."))
        return _desk(request, 429, identify_form=form)
    if case is None:
        form.add_error(None, _("Reference and passphrase do not match."))
        return _desk(request, 400, identify_form=form)
    audit.record(user, "case.identify_caller", case.pk)
    if not access.can_open(user, case):
        form.add_error(None, _("The caller is known, but the case is assigned to someone else."))
        return _desk(request, 403, identify_form=form)
    if case.assigned_to_id is None and not access.is_supervisor(user):
        casework.do_assign(case, user, user, None)
    return HttpResponseRedirect(reverse("console:case", args=[case.pk]) + "#calls")


@require_POST
@staff_view("hotline")
def new_case(request: HttpRequest) -> HttpResponse:
    """A caller with no case: open one and show the credentials to read out, once."""
    form = forms_desk.NewCaseForm(request.POST)
    if not form.is_valid():
        return _desk(request, 400, new_form=form)
    case, credentials = casework.do_create_case_from_call(
        _user(request),
        form.cleaned_data["language"],
        form.cleaned_data["readiness"],
        campaign_code=form.cleaned_data["campaign_code"],
    )
    return render(
        request,
        "console/credentials.html",
        {"case": case, "short_id": presenters.short_id(case), "credentials": credentials},
    )


@require_POST
@staff_view("hotline")
def callback_done(request: HttpRequest, callback_id: int) -> HttpResponse:
    callback = Callback.objects.filter(
        pk=callback_id, case__in=access.visible_cases(request.user)
    ).first()
    if callback is None:
        raise Http404("no such callback")
    casework.do_callback_done(callback, _user(request))
    return HttpResponseRedirect(reverse("console:hotline"))
