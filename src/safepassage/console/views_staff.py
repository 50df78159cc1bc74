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
from django.views.decorators.http import require_POST

from safepassage.console import auth, forms, prefs
from safepassage.console.guard import staff_view
from safepassage.console.models import Role, SealedTOTPDevice, SecurityKey, StaffProfile
from safepassage.console.staff import (
    StaffRefused,
    do_change_password,
    do_create_staff,
    do_reset_access,
    do_reset_password,
)
from safepassage.privacy.key_checks import alarms
from safepassage.privacy.session import keyring_of

RESET_NOTICE = "console_staff_reset"


def _staff_page(request: HttpRequest, status: int = 200, **extra: object) -> HttpResponse:
    context: dict[str, object] = {
        "profiles": StaffProfile.objects.select_related("user").order_by("user__username"),
        "roles": Role.choices,
        "console_languages": settings.LANGUAGES,
        "alarms": alarms(),
    }
    context.update(extra)
    return render(request, "console/staff.html", context, status=status)


@staff_view("staff")
def staff(request: HttpRequest) -> HttpResponse:
    # Shown once after the redirect of a reset of access (nothing secret: the account's name).
    reset = request.session.pop(RESET_NOTICE, None)
    return _staff_page(request, reset=reset) if isinstance(reset, str) else _staff_page(request)


@require_POST
@staff_view("staff")
def staff_new(request: HttpRequest) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    try:
        user, password = do_create_staff(
            request.user,
            forms.text(request.POST, "username", 150),
            request.POST.get("role") or "",
            forms.text(request.POST, "sector", 40),
            request.POST.get("language") or "en",
        )
    except (StaffRefused, forms.Invalid) as exc:
        return _staff_page(request, 400, error=str(exc))
    return _staff_page(request, created=user.get_username(), password=password)


def _actor_and_target(request: HttpRequest, user_id: int) -> tuple[User, User]:
    """The admin acting and the staff account they act on (404 for any other id)."""
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    target = User.objects.filter(pk=user_id, is_staff=True).first()
    if target is None:
        raise Http404("no such account")
    return request.user, target


@require_POST
@staff_view("staff")
def staff_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, target = _actor_and_target(request, user_id)
    try:
        do_reset_access(actor, target)
    except StaffRefused as exc:
        return _staff_page(request, 400, error=str(exc))
    request.session[RESET_NOTICE] = target.get_username()
    return HttpResponseRedirect(reverse("console:staff"))


@require_POST
@staff_view("staff")
def staff_reset_password(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, target = _actor_and_target(request, user_id)
    try:
        password = do_reset_password(actor, target)
    except StaffRefused as exc:
        return _staff_page(request, 400, error=str(exc))
    return _staff_page(request, reset_password=target.get_username(), password=password)


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
