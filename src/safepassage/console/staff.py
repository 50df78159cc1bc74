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
