"""Creating staff accounts. A new account has a one-time password and no second factor yet:
its first login goes through enrolment (console.views_auth.enrol)."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.db import transaction

from safepassage.console.models import Role, StaffProfile
from safepassage.privacy import audit, keyring, member_keys
from safepassage.privacy.keyring import Keyring
from safepassage.privacy.models import MemberKey, StaffKey


class StaffRefused(ValueError):
    pass


# Roles whose work needs the program keys (they read case content). The one place that says so.
# Not liaisons: they read only the handover cards sealed to their own member key
# (cases.handover_cards), so a liaison's password opens no case.
KEY_HOLDING_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})


def do_create_staff(
    actor: User | None,
    username: str,
    role: str,
    sector: str = "",
    language: str = "en",
    ring: Keyring | None = None,
) -> tuple[User, str]:
    """A new account with a one-time password. Where the account's role reads cases and the
    creating member's session holds the program keys (``ring``), they are wrapped for the new
    account under that password; otherwise `safepassage keys grant` gives them later."""
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
        profile = StaffProfile(user=user, role=role, language=language)
        profile.set_sector(sector)
        profile.save()
        if ring and role in KEY_HOLDING_ROLES:
            keyring.do_wrap_for(user, password, ring)
        audit.record(actor, "staff.create", None, f"user {user.pk} role {role}")
    return user, password


def do_reset_access(actor: User, user: User, ring: Keyring | None = None) -> str:
    """A lost phone or key: new one-time password, every factor removed, every session ended.

    The person enrols a new factor at their next login, with the password given in person.
    """
    from safepassage.console import auth
    from safepassage.console.models import SealedTOTPDevice, SecurityKey

    password = secrets.token_urlsafe(15)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        # The old wraps were under the lost password: re-made from the acting member's keys.
        profile = StaffProfile.objects.filter(user=user).first()
        if ring and profile is not None and profile.role in KEY_HOLDING_ROLES:
            keyring.do_wrap_for(user, password, ring)
        else:
            StaffKey.objects.filter(user=user).delete()
        # The member key pair was wrapped under the lost password too: a new pair is made at the
        # next login; cards sealed to the old one wait to be shared again (cases.handover_cards).
        MemberKey.objects.filter(user=user).delete()
        SealedTOTPDevice.objects.filter(user=user).delete()
        SecurityKey.objects.filter(user=user).delete()
        auth.do_rotate_stamp(user)
        audit.record(actor, "staff.reset_access", None, f"user {user.pk}")
    return password


def do_change_password(user: User, new_password: str, ring: Keyring | None = None) -> None:
    """Ends every other session: Django's session hash changes with the password, and so does
    the security stamp (the caller re-marks its own session). The member's program keys, from
    their own session's keyring, are re-wrapped under the new password."""
    from safepassage.console import auth

    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        if ring:
            keyring.do_wrap_for(user, new_password, ring)
        member_private = ring.member_private if ring else None
        if member_private:
            member_keys.do_wrap_member_key(user, new_password, member_private)
        else:  # no pair yet, or none unlocked in this session: a new one under the new password
            member_keys.do_create_member_key(user, new_password)
        auth.do_rotate_stamp(user)
        audit.record(user, "staff.password_changed")
