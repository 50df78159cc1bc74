"""Choosing one's own password after a one-time one, and the program key page: who holds the
key, grants pending, members waiting for it, alarms; a holder grants with their password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from safepassage.console import auth, first_login, guard, history, key_grants
from safepassage.console.guard import staff_view
from safepassage.privacy.key_checks import alarms
from safepassage.privacy.keyring import KeyringError
from safepassage.privacy.models import AuditEvent, KeyGrant
from safepassage.privacy.session import keyring_of, store


class GrantForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"), max_length=1000, strip=False, widget=forms.PasswordInput
    )


if TYPE_CHECKING:
    _SetPasswordForm = SetPasswordForm[User]
else:  # Django's forms are not subscriptable at run time
    _SetPasswordForm = SetPasswordForm


class ChoosePasswordForm(_SetPasswordForm):
    """Django's own, plus: not the one-time password again, which whoever read it (the first
    admin's file, a log, the person who handed it over) would still hold."""

    def clean(self) -> dict[str, object]:
        cleaned: dict[str, object] = super().clean() or {}
        chosen = cleaned.get("new_password2")
        if isinstance(chosen, str) and self.user.check_password(chosen):
            self.add_error(
                "new_password2", _("Choose a password of your own, not the one-time one.")
            )
        return cleaned


@require_http_methods(["GET", "POST"])
def choose_password(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return HttpResponseRedirect(reverse("console:login"))
    if auth.session_state(request, user) != "ok":
        return HttpResponseRedirect(reverse("console:verify"))
    if not first_login.must_choose(user):
        return HttpResponseRedirect(guard.home_for(user))
    guard.activate_language(user)
    form = ChoosePasswordForm(user, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "console/choose_password.html", {"form": form}, status=400)
        ring = keyring_of(request)
        first_login.do_choose_password(user, form.cleaned_data["new_password1"], ring)
        update_session_auth_hash(request, user)
        auth.keep_this_session(request, user)
        store(request, ring)  # the same keys, now wrapped under the chosen password
        return HttpResponseRedirect(guard.home_for(user))
    return render(request, "console/choose_password.html", {"form": form})


def _page(request: HttpRequest, form: GrantForm | None = None, status: int = 200) -> HttpResponse:
    recent = AuditEvent.objects.filter(
        Q(action__startswith="keys.")
        | Q(action__startswith="staff.reset")
        | Q(action="staff.create")
    )
    return render(
        request,
        "console/program_key.html",
        {
            "alarms": alarms(),
            "holders": key_grants.holders(),
            "pending": KeyGrant.objects.select_related("grantee", "granted_by").order_by("id"),
            "waiting": key_grants.waiting(),
            "events": history.audit_trail(recent.select_related("actor").order_by("-id")[:30]),
            "form": form or GrantForm(),
        },
        status=status,
    )


@staff_view("keys")
def program_key(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@staff_view("keys")
def grant(request: HttpRequest, user_id: int) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    grantee = User.objects.filter(pk=user_id, is_staff=True, is_active=True).first()
    if grantee is None:
        raise Http404("no such account")
    form = GrantForm(request.POST)
    if form.is_valid():
        try:
            key_grants.do_grant(request.user, form.cleaned_data["password"], grantee)
        except KeyringError as exc:
            form.add_error("password", str(exc))
    if not form.is_valid():
        return _page(request, form, 400)
    return HttpResponseRedirect(reverse("console:program_key"))
