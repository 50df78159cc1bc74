"""Logging in: password, then a second factor (or enrolling one), and logging out."""

from __future__ import annotations

import json
import time

import segno
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from safepassage.console import auth, guard, webauthn_keys
from safepassage.console.models import SealedTOTPDevice, SecurityKey
from safepassage.privacy import audit, ratelimit
from safepassage.web.forms import clean_text


def _password_user(request: HttpRequest) -> User | None:
    """The user who passed the password step in this session (second factor still due)."""
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {"expired": request.GET.get("expired") == "1"}
    if request.method == "POST":
        username = (clean_text(request.POST.get("username")) or "")[:150]
        password = (request.POST.get("password") or "")[:1000]
        source = ratelimit.source_of(request)
        gate = auth.login_gate(username, source)
        if gate.refused:
            context["error"] = _("Too many failed attempts from here. Try again later.")
            response = render(request, "console/login.html", context, status=429)
            response["Retry-After"] = str(gate.retry_after)
            return response
        if gate.delay:
            # Before the check, right or wrong alike: the wait tells nothing about the password.
            time.sleep(gate.delay)
        user = authenticate(request, username=username, password=password)
        if not isinstance(user, User) or not user.is_staff:
            auth.do_record_login_failure(username, source)
            context["error"] = _("Wrong username or password.")
            return render(request, "console/login.html", context, status=200)
        login(request, user)
        audit.record(user, "staff.login", None, "password")
        return HttpResponseRedirect(reverse("console:verify"))
    return render(request, "console/login.html", context)


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    user = _password_user(request)
    if user is None:
        return HttpResponseRedirect(reverse("console:login"))
    if not auth.has_factor(user):
        return HttpResponseRedirect(reverse("console:enrol"))
    guard.activate_language(user)  # the member's console language from the first page on
    context: dict[str, object] = {
        "has_totp": SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        "has_key": SecurityKey.objects.filter(user=user).exists(),
    }
    if request.method == "POST":
        if auth.check_totp(user, request.POST.get("code") or ""):
            auth.mark_verified(request, user, "totp")
            return HttpResponseRedirect(guard.home_for(user))
        context["error"] = _("That code is wrong or was already used. Wait for the next one.")
        return render(request, "console/verify.html", context, status=400)
    return render(request, "console/verify.html", context)


@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """A new account's first factor: TOTP (a code app) or a security key."""
    user = _password_user(request)
    if user is None:
        return HttpResponseRedirect(reverse("console:login"))
    if auth.has_factor(user):
        return HttpResponseRedirect(reverse("console:verify"))
    guard.activate_language(user)
    device = auth.pending_totp(user)
    context: dict[str, object] = {
        "secret": _b32(device),
        "otpauth": device.config_url,
        "qr": _qr_svg(device.config_url),
    }
    if request.method == "POST":
        if auth.do_confirm_totp(user, request.POST.get("code") or ""):
            auth.mark_verified(request, user, "totp")
            return HttpResponseRedirect(guard.home_for(user))
        context["error"] = _("That code does not match. Check the clock of your device.")
        return render(request, "console/enrol.html", context, status=400)
    return render(request, "console/enrol.html", context)


def _qr_svg(uri: str) -> SafeString:
    """The otpauth:// URI as a QR code, drawn here as inline SVG (segno): nothing from a third
    party, no image request, nothing the CSP must allow."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=5,
        border=4,
        light="#fff",
        title=_("QR code of the key, for an authenticator app"),
        svgclass="qr",
        svgid="totp-qr",
    )
    # segno escapes the title and draws only paths: no text of ours is pasted in as markup.
    return mark_safe(svg)  # noqa: S308  # nosemgrep: django-safe-html-built-at-runtime — segno's SVG of our own URI


def _b32(device: SealedTOTPDevice) -> str:
    import base64

    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    user = _password_user(request)
    if user is not None:
        audit.record(user, "staff.logout")
    logout(request)
    response = HttpResponseRedirect(reverse("console:login"))
    response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


# WebAuthn (JSON; used by console.js) -----------------------------------------------------


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_POST
def key_register_options(request: HttpRequest) -> HttpResponse:
    user = _password_user(request)
    # Adding a key needs a passed second factor, except for a new account with none yet.
    if user is None or (auth.has_factor(user) and not request.session.get(auth.SESSION_MFA)):
        return _json_error(_("Log in first."), 403)
    return HttpResponse(
        webauthn_keys.registration_options(request, user), content_type="application/json"
    )


@require_POST
def key_register(request: HttpRequest) -> HttpResponse:
    user = _password_user(request)
    if user is None or (auth.has_factor(user) and not request.session.get(auth.SESSION_MFA)):
        return _json_error(_("Log in first."), 403)
    try:
        body = json.loads(request.body or b"{}")
        webauthn_keys.do_register(
            request, user, json.dumps(body["credential"]), str(body.get("name") or "")
        )
    except (ValueError, KeyError, TypeError):
        return _json_error(_("Malformed request."))
    except webauthn_keys.KeyRefused as exc:
        return _json_error(str(exc))
    auth.mark_verified(request, user, "webauthn")
    return JsonResponse({"next": guard.home_for(user)})


@require_POST
def key_login_options(request: HttpRequest) -> HttpResponse:
    user = _password_user(request)
    if user is None:
        return _json_error(_("Log in first."), 403)
    return HttpResponse(
        webauthn_keys.authentication_options(request, user), content_type="application/json"
    )


@require_POST
def key_login(request: HttpRequest) -> HttpResponse:
    user = _password_user(request)
    if user is None:
        return _json_error(_("Log in first."), 403)
    try:
        body = json.loads(request.body or b"{}")
        webauthn_keys.do_authenticate(request, user, json.dumps(body["credential"]))
    except (ValueError, KeyError, TypeError):
        return _json_error(_("Malformed request."))
    except webauthn_keys.KeyRefused as exc:
        return _json_error(str(exc))
    auth.mark_verified(request, user, "webauthn")
    return JsonResponse({"next": guard.home_for(user)})
