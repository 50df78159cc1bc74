"""The one door to every console page: login, second factor, idle timeout, role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from safepassage.console import access, auth, first_login

View = TypeVar("View", bound=Callable[..., HttpResponse])

# Set on a request that passed staff_view's checks: a fresh session with its second factor and
# the member's own password (console.context then shows the menu without checking again).
CHECKED = "_safepassage_staff_checked"


def activate_language(user: User) -> None:
    profile = getattr(user, "staff_profile", None)
    if profile is not None and profile.language:
        translation.activate(profile.language)


def forbidden(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/message.html",
        {"message": _("Your role does not give access to this page.")},
        status=403,
    )


def staff_view(capability: str, *, background: bool = False) -> Callable[[View], View]:
    """Refuse unless logged in, second factor passed, session fresh and ``capability`` held.

    ``background`` views (the queue's self-refresh) do not count as activity, so a screen
    left open on the queue still ends after the idle timeout.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not isinstance(user, User) or not user.is_authenticated:
                return HttpResponseRedirect(reverse("console:login"))
            # One read of the profile serves every check (console.middleware loaded it).
            state = auth.session_state(request, user, loaded=True)
            if state == "expired":
                logout(request)
                return HttpResponseRedirect(reverse("console:login") + "?expired=1")
            if state == "needs_factor":
                return HttpResponseRedirect(reverse("console:verify"))
            activate_language(user)
            profile = auth.loaded_profile(user)
            if profile is not None and profile.must_choose_password:
                # A one-time password opens only the page that replaces it.
                return HttpResponseRedirect(reverse("console:choose_password"))
            if not access.can(user, capability):
                return forbidden(request)
            setattr(request, CHECKED, True)  # console.context need not ask again
            if not background:
                auth.touch(request)
            return view(request, *args, **kwargs)

        return cast(View, wrapper)

    return decorate


def home_for(user: User) -> str:
    if first_login.must_choose(user):
        return reverse("console:choose_password")
    if access.can(user, "queue"):
        return reverse("console:inbox")
    if access.can(user, "field"):
        return reverse("console:field")
    if access.can(user, "service"):
        return reverse("console:service")
    if access.can(user, "overview"):
        return reverse("console:overview")
    return reverse("console:account")
