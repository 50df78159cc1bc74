"""Admin: staff accounts. Everyone: their own account (second factors, console language)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import auth, forms_replies, forms_staff, one_time, prefs
from safepassage.console.guard import staff_view
from safepassage.console.models import SealedTOTPDevice, SecurityKey, StaffProfile
from safepassage.console.staff import (
    StaffRefused,
    do_change_password,
    do_create_staff,
    do_deactivate_staff,
    do_reactivate_staff,
    do_reset_access,
    do_reset_password,
    do_set_reads,
)
from safepassage.privacy.key_checks import alarms
from safepassage.privacy.session import keyring_of

RESET_NOTICE = "console_staff_reset"
DONE_NOTICE = "console_staff_done"


def _staff_page(
    request: HttpRequest,
    form: forms_staff.StaffForm | None = None,
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    context: dict[str, object] = {
        "profiles": StaffProfile.objects.select_related("user").order_by("user__username"),
        "applicant_languages": list(APPLICANT_LANGUAGES.items()),
        "alarms": alarms(),
        "form": form or forms_staff.StaffForm(auto_id="%s"),
        "error": error,
    }
    return render(request, "console/staff.html", context, status=status)


@staff_view("staff")
def staff(request: HttpRequest) -> HttpResponse:
    return _staff_page(request)


@require_POST
@staff_view("staff")
def staff_new(request: HttpRequest) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    form = forms_staff.StaffForm(request.POST, auto_id="%s")
    if form.is_valid():
        data = form.cleaned_data
        try:
            user, password = do_create_staff(
                request.user, data["username"], data["role"], data["sector"], data["language"]
            )
        except StaffRefused as exc:
            form.add_error("username", _(str(exc)))
    if not form.is_valid():
        return _staff_page(request, form, 400)
    response = HttpResponseRedirect(reverse("console:staff_member", args=[user.pk]))
    one_time.seal(request, response, int(user.pk), password)
    return response


def _actor_and_target(request: HttpRequest, user_id: int) -> tuple[User, User]:
    """The admin acting and the staff account they act on (404 for any other id)."""
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    target = User.objects.filter(pk=user_id, is_staff=True).first()
    if target is None:
        raise Http404("no such account")
    return request.user, target


def _member_page(
    request: HttpRequest,
    target: User,
    status: int = 200,
    forms_bound: dict[str, forms_staff.ConfirmForm] | None = None,
    error: str = "",
) -> HttpResponse:
    bound = forms_bound or {}
    profile = StaffProfile.objects.filter(user=target).first()
    context: dict[str, object] = {
        "member": target,
        "profile": profile,
        "must_choose": bool(profile and profile.must_choose_password),
        "has_factor": auth.has_factor(target),
        "shown": one_time.shown(request, int(target.pk)),
        "reset": request.session.pop(RESET_NOTICE, None) == target.pk,
        "done": request.session.pop(DONE_NOTICE, None),
        "error": error,
        "forms": {
            name: bound.get(name) or forms_staff.ConfirmForm(auto_id=f"{name}-%s")
            for name in ("reset", "reset_password", "deactivate")
        },
        "alarms": alarms(),
    }
    return render(request, "console/staff_member.html", context, status=status)


@staff_view("staff")
def staff_member(request: HttpRequest, user_id: int) -> HttpResponse:
    _, target = _actor_and_target(request, user_id)
    return _member_page(request, target)


def _confirmed(
    request: HttpRequest, name: str, target: User
) -> tuple[forms_staff.ConfirmForm, HttpResponse | None]:
    """The action's confirmation form; a 400 page (the box unticked) when it is missing."""
    form = forms_staff.ConfirmForm(request.POST, auto_id=f"{name}-%s")
    if form.is_valid():
        return form, None
    return form, _member_page(request, target, 400, {name: form})


def _back(target: User) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("console:staff_member", args=[target.pk]))


@require_POST
@staff_view("staff")
def staff_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, target = _actor_and_target(request, user_id)
    form, refused = _confirmed(request, "reset", target)
    if refused is not None:
        return refused
    try:
        do_reset_access(actor, target)
    except StaffRefused as exc:
        return _member_page(request, target, 400, {"reset": form}, _(str(exc)))
    request.session[RESET_NOTICE] = target.pk
    return _back(target)


@require_POST
@staff_view("staff")
def staff_reads(request: HttpRequest, user_id: int) -> HttpResponse:
    """The applicant languages a member reads (the queue's preference; reviewing replies)."""
    actor, target = _actor_and_target(request, user_id)
    form = forms_replies.ReadsForm(request.POST)
    if not form.is_valid():
        reason = " ".join(str(e) for e in form.errors["reads"])
        return _staff_page(request, status=400, error=reason)
    try:
        do_set_reads(actor, target, form.cleaned_data["reads"])
    except StaffRefused as exc:
        return _staff_page(request, status=400, error=str(exc))
    return HttpResponseRedirect(reverse("console:staff"))


@require_POST
@staff_view("staff")
def staff_reset_password(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, target = _actor_and_target(request, user_id)
    form, refused = _confirmed(request, "reset_password", target)
    if refused is not None:
        return refused
    try:
        password = do_reset_password(actor, target)
    except StaffRefused as exc:
        return _member_page(
            request,
            target,
            400,
            {"reset_password": form},
            _(str(exc)),
        )
    response = _back(target)
    one_time.seal(request, response, int(target.pk), password)
    return response


@require_POST
@staff_view("staff")
def staff_hide_password(request: HttpRequest, user_id: int) -> HttpResponse:
    _, target = _actor_and_target(request, user_id)
    response = _back(target)
    one_time.hide(request, response, int(target.pk))
    return response


@require_POST
@staff_view("staff")
def staff_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, target = _actor_and_target(request, user_id)
    form, refused = _confirmed(request, "deactivate", target)
    if refused is not None:
        return refused
    try:
        do_deactivate_staff(actor, target)
    except StaffRefused as exc:
        return _member_page(request, target, 400, {"deactivate": form}, _(str(exc)))
    request.session[DONE_NOTICE] = "deactivated"
    return _back(target)


@require_POST
@staff_view("staff")
def staff_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, target = _actor_and_target(request, user_id)
    do_reactivate_staff(actor, target)
    request.session[DONE_NOTICE] = "reactivated"
    return _back(target)


@require_POST
@staff_view("account")
def account_password(request: HttpRequest) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    form = PasswordChangeForm(request.user, request.POST)
    if not form.is_valid():
        errors = [str(e) for field in form.errors.values() for e in field]
        return _account_page(request, 400, password_errors=errors)
    try:
        do_change_password(request.user, form.cleaned_data["new_password1"], keyring_of(request))
    except StaffRefused as exc:
        return _account_page(request, 400, password_errors=[str(exc)])
    update_session_auth_hash(request, request.user)
    auth.keep_this_session(request, request.user)
    return _account_page(request, password_changed=True)


@staff_view("account")
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


def _account_page(request: HttpRequest, status: int = 200, **extra: object) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    return render(
        request,
        "console/account.html",
        {
            "keys": SecurityKey.objects.filter(user=request.user),
            "has_totp": SealedTOTPDevice.objects.filter(user=request.user, confirmed=True).exists(),
            "console_languages": settings.LANGUAGES,
            "profile": auth.profile_of(request.user),
            **prefs.account_context(auth.profile_of(request.user)),
            **extra,
        },
        status=status,
    )


@require_POST
@staff_view("account")
def account_language(request: HttpRequest) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    language = request.POST.get("language") or ""
    if language in dict(settings.LANGUAGES):
        StaffProfile.objects.filter(user=request.user).update(language=language)
    return HttpResponseRedirect(reverse("console:account"))
