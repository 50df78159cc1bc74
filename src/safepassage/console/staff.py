"""Creating staff accounts. A new account has a one-time password and no second factor yet:
its first login goes through enrolment (console.views_auth.enrol)."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.db import transaction

from safepassage.console.models import Role, StaffProfile
from safepassage.privacy import audit


class StaffRefused(ValueError):
    pass


def do_create_staff(
    actor: User | None, username: str, role: str, sector: str = "", language: str = "en"
) -> tuple[User, str]:
    username = username.strip()
    if not username or len(username) > 150 or not username.replace("_", "").isalnum():
        raise StaffRefused("A username has letters, digits and underscores only.")
    if role not in Role.values:
        raise StaffRefused("Choose a role.")
    if role == Role.LIAISON and not sector.strip():
        raise StaffRefused("A liaison needs the sector they receive people in.")
    if language not in ("en", "uk", "ru"):
        raise StaffRefused("Choose a console language.")
    password = secrets.token_urlsafe(15)
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise StaffRefused("That username is taken.")
        user = User.objects.create_user(username=username, password=password, is_staff=True)
        StaffProfile.objects.create(
            user=user, role=role, sector=sector.strip()[:40], language=language
        )
        audit.record(actor, "staff.create", None, f"user {user.pk} role {role}")
    return user, password


def do_reset_access(actor: User, user: User) -> str:
    """A lost phone or key: new one-time password, every factor removed, every session ended.

    The person enrols a new factor at their next login, with the password given in person.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from safepassage.console import auth
    from safepassage.console.models import SecurityKey

    password = secrets.token_urlsafe(15)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        TOTPDevice.objects.filter(user=user).delete()
        SecurityKey.objects.filter(user=user).delete()
        auth.do_rotate_stamp(user)
        audit.record(actor, "staff.reset_access", None, f"user {user.pk}")
    return password


def do_change_password(user: User, new_password: str) -> None:
    """Ends every other session: Django's session hash changes with the password, and so does
    the security stamp (the caller re-marks its own session)."""
    from safepassage.console import auth

    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        auth.do_rotate_stamp(user)
        audit.record(user, "staff.password_changed")
