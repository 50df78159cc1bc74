"""Second factors and session rules for staff: TOTP (django-otp), WebAuthn, throttling.

A staff session has three marks: Django's own login (password), ``sp_mfa`` (a second factor
passed in this session) and ``sp_stamp`` (the account's security stamp when it was passed). A
new factor, a removed factor or a new password changes the stamp, and every session carrying
the old one ends. ``sp_seen`` ends a session idle for ``CONSOLE_IDLE_SECONDS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest

from safepassage.console.models import (
    SealedTOTPDevice,
    SecurityKey,
    StaffProfile,
    new_security_stamp,
)
from safepassage.privacy import audit, ratelimit

SESSION_MFA = "sp_mfa"
SESSION_STAMP = "sp_stamp"
SESSION_SEEN = "sp_seen"


@dataclass(frozen=True)
class LoginGate:
    """Before a password is checked: refused (this address guessed too often) or how long the
    attempt waits first (the username is being guessed; the holder only waits)."""

    refused: bool
    retry_after: int
    delay: float


def _login_name(username: str) -> str:
    return username.strip().lower()


def login_gate(username: str, source: str | None) -> LoginGate:
    """Failures refuse only the address they came from; per username they slow down.

    ``source`` is None behind the onion service (every visitor is loopback): refusing it would
    refuse everyone, the holder included, so there only the delay applies.
    """
    name = _login_name(username)
    window = settings.CONSOLE_LOGIN_WINDOW_SECONDS
    if source is not None:
        for decision in (
            ratelimit.check(
                "login.source",
                f"{name}\x00{source}",
                settings.CONSOLE_LOGIN_FAILURES_PER_SOURCE,
                window,
            ),
            ratelimit.check(
                "login.address", source, settings.CONSOLE_LOGIN_FAILURES_PER_ADDRESS, window
            ),
        ):
            if not decision.allowed:
                return LoginGate(True, decision.retry_after, 0.0)
    per_user = ratelimit.check("login.user", name, settings.CONSOLE_LOGIN_SLOWDOWN_AFTER, window)
    delay = ratelimit.backoff(
        per_user,
        settings.CONSOLE_LOGIN_SLOWDOWN_AFTER,
        settings.CONSOLE_LOGIN_SLOWDOWN_BASE_SECONDS,
        settings.CONSOLE_LOGIN_SLOWDOWN_CAP_SECONDS,
    )
    return LoginGate(False, 0, delay)


def do_record_login_failure(username: str, source: str | None) -> None:
    """A wrong password (or a non-staff account). A right one counts against nobody."""
    name = _login_name(username)
    window = settings.CONSOLE_LOGIN_WINDOW_SECONDS
    ratelimit.hit("login.user", name, settings.CONSOLE_LOGIN_SLOWDOWN_AFTER, window)
    if source is not None:
        ratelimit.hit(
            "login.source",
            f"{name}\x00{source}",
            settings.CONSOLE_LOGIN_FAILURES_PER_SOURCE,
            window,
        )
        ratelimit.hit("login.address", source, settings.CONSOLE_LOGIN_FAILURES_PER_ADDRESS, window)


def profile_of(user: User) -> StaffProfile:
    profile, _ = StaffProfile.objects.get_or_create(
        user=user, defaults={"role": "admin" if user.is_superuser else "operator"}
    )
    return profile


def stamp_of(user: User) -> str:
    profile = StaffProfile.objects.filter(user=user).only("security_stamp").first()
    return profile.security_stamp if profile else ""


def has_factor(user: User) -> bool:
    return (
        SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or SecurityKey.objects.filter(user=user).exists()
    )


def do_rotate_stamp(user: User) -> str:
    """End every session of ``user`` (they carry the old stamp)."""
    profile = profile_of(user)
    profile.security_stamp = new_security_stamp()
    profile.save(update_fields=["security_stamp"])
    return profile.security_stamp


def mark_verified(request: HttpRequest, user: User, method: str) -> None:
    request.session.cycle_key()
    request.session[SESSION_MFA] = method
    request.session[SESSION_STAMP] = stamp_of(user)
    request.session[SESSION_SEEN] = int(time.time())
    audit.record(user, "staff.second_factor", None, method)


def keep_this_session(request: HttpRequest, user: User) -> None:
    """After this session changed the password or a factor: it stays, the others end."""
    request.session[SESSION_STAMP] = stamp_of(user)


def loaded_profile(user: User) -> StaffProfile | None:
    """The member's profile as this request loaded it (Django keeps it on the user object, so
    every check of one request shares one query), or None for an account without one."""
    try:
        return user.staff_profile
    except StaffProfile.DoesNotExist:
        return None


def session_state(request: HttpRequest, user: User, *, loaded: bool = False) -> str:
    """'ok', 'expired' (idle or stamp changed: log out) or 'needs_factor'.

    ``loaded``: compare with the stamp of the profile this request already loaded (the door
    of every console page, console.guard) instead of reading it again."""
    session = request.session
    seen = session.get(SESSION_SEEN)
    if seen is not None and time.time() - float(seen) > settings.CONSOLE_IDLE_SECONDS:
        return "expired"
    if session.get(SESSION_MFA) is None:
        return "needs_factor"
    if loaded:
        profile = loaded_profile(user)
        stamp = profile.security_stamp if profile is not None else ""
    else:
        stamp = stamp_of(user)
    if session.get(SESSION_STAMP) != stamp:
        return "expired"
    return "ok"


# Activity is noted at most this often: a page view in between writes no session row. A
# session may so end up to this much sooner than CONSOLE_IDLE_SECONDS after the last page.
TOUCH_EVERY_SECONDS = 30


def touch(request: HttpRequest) -> None:
    now = int(time.time())
    seen = request.session.get(SESSION_SEEN)
    if seen is None or now - float(seen) >= TOUCH_EVERY_SECONDS:
        request.session[SESSION_SEEN] = now


# TOTP -------------------------------------------------------------------------------------


def pending_totp(user: User) -> SealedTOTPDevice:
    """The unconfirmed TOTP device being enrolled (made on first call, its secret sealed).

    One whose secret no longer opens (e.g. a clear key from before sealing that escaped the
    migration) is replaced: nobody has confirmed it, so nothing is lost."""
    device: SealedTOTPDevice | None = SealedTOTPDevice.objects.filter(
        user=user, confirmed=False
    ).first()
    if device is not None and not device.readable():
        device.delete()
        device = None
    if device is None:
        device = SealedTOTPDevice.create_sealed(user, confirmed=False)
    return device


def verify_totp(device: SealedTOTPDevice, code: str) -> bool:
    """Check a code; each code works once (django-otp keeps the last time step used).

    The row lock makes two simultaneous uses of one code see each other.
    """
    token = "".join(ch for ch in code if ch.isdigit())
    if len(token) != 6:
        return False
    with transaction.atomic():
        locked = SealedTOTPDevice.objects.select_for_update().get(pk=device.pk)
        return bool(locked.verify_token(token))


def do_confirm_totp(user: User, code: str) -> bool:
    device = pending_totp(user)
    if not verify_totp(device, code):
        return False
    with transaction.atomic():
        SealedTOTPDevice.objects.filter(user=user, confirmed=True).delete()
        SealedTOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        do_rotate_stamp(user)
        audit.record(user, "staff.factor_added", None, "totp")
    return True


def check_totp(user: User, code: str) -> bool:
    device = SealedTOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device is not None and verify_totp(device, code)
