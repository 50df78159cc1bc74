"""Creating staff accounts. A new account has a one-time password and no second factor yet:
its first login goes through enrolment (console.views_auth.enrol)."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext

from safepassage.config import APPLICANT_LANGUAGES
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
) -> tuple[User, str]:
    """A new account with a one-time password, which only lets its holder choose their own
    (console.first_login). It holds no program key: a key holder grants it (console.key_grants)."""
    username = username.strip()
    if not username or len(username) > 150 or not username.replace("_", "").isalnum():
        raise StaffRefused(gettext("A username has letters, digits and underscores only."))
    if role not in Role.values:
        raise StaffRefused(gettext("Choose a role."))
    if role == Role.LIAISON and not sector.strip():
        raise StaffRefused(gettext("A liaison needs the sector they receive people in."))
    if language not in ("en", "uk", "ru"):
        raise StaffRefused(gettext("Choose a console language."))
    password = secrets.token_urlsafe(15)
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise StaffRefused(gettext("That username is taken."))
        user = User.objects.create_user(username=username, password=password, is_staff=True)
        profile = StaffProfile(user=user, role=role, language=language, must_choose_password=True)
        profile.set_sector(sector)
        profile.save()
        audit.record(actor, "staff.create", None, f"user {user.pk} role {role}")
    return user, password


def do_set_reads(actor: User, user: User, reads: list[str]) -> None:
    """Which applicant languages ``user`` reads: the queue's preference, and the languages in
    which a supervisor may review vetted replies. Audited (codes only)."""
    chosen = [lang for lang in APPLICANT_LANGUAGES if lang in reads]
    if len(chosen) != len(set(reads)):
        raise StaffRefused("Choose applicant languages only.")
    with transaction.atomic():
        StaffProfile.objects.filter(user=user).update(reads=chosen)
        audit.record(actor, "staff.reads", None, f"user {user.pk} reads {','.join(chosen) or '-'}")


def do_reset_access(actor: User, user: User) -> None:
    """A lost phone or key: every factor removed, every session ended. The password, and with it
    the member's program key wraps and member key, stays: the member logs in with their own
    password and enrols a new factor. A forgotten password is :func:`do_reset_password`.

    Refused while the member still has a one-time password (a new account, or one kept from the
    previous version): whoever gave it could then log in as them with a factor of their own."""
    from safepassage.console import auth
    from safepassage.console.models import SealedTOTPDevice, SecurityKey

    if StaffProfile.objects.filter(user=user, must_choose_password=True).exists():
        raise StaffRefused(
            gettext(
                "This member has not chosen their own password yet: whoever knows the one-time "
                "password could enrol a factor as them. Reset their password instead."
            )
        )
    with transaction.atomic():
        SealedTOTPDevice.objects.filter(user=user).delete()
        SecurityKey.objects.filter(user=user).delete()
        auth.do_rotate_stamp(user)
        keyring.end_sessions(user)
        audit.record(actor, "staff.reset_access", None, f"user {user.pk}")


def do_reset_password(actor: User, user: User) -> str:
    """A forgotten password: a one-time password, every session ended. What was wrapped under
    the forgotten password cannot be opened again, so the wraps, pending grants and member key
    go (audited; a holder grants again), except for the last two holders of the program key,
    whose wraps would take every confirmed case with them: refused."""
    from safepassage.console import auth, key_grants
    from safepassage.privacy.models import KeyGrant

    if key_grants.is_last_holder(user):
        raise StaffRefused(
            gettext(
                "This member is one of the last two holders of the program key: resetting their "
                "password would destroy it. A holder grants the key to someone else first."
            )
        )
    password = secrets.token_urlsafe(15)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        wraps, _ = StaffKey.objects.filter(user=user).delete()
        KeyGrant.objects.filter(grantee=user).delete()
        # The member key pair was wrapped under the lost password too: a new pair is made at the
        # next login; cards sealed to the old one wait to be shared again (cases.handover_cards).
        MemberKey.objects.filter(user=user).delete()
        StaffProfile.objects.filter(user=user).update(must_choose_password=True)
        auth.do_rotate_stamp(user)
        keyring.end_sessions(user)
        audit.record(
            actor, "staff.reset_password", None, f"user {user.pk}, {wraps} key wrap(s) removed"
        )
    return password


def do_change_password(
    user: User, new_password: str, ring: Keyring | None = None, *, one_time: bool = False
) -> None:
    """Ends every other session: Django's session hash changes with the password, and so does
    the security stamp (the caller re-marks its own session). The member's program keys, from
    their own session's keyring, are re-wrapped under the new password. A wrap the session does
    not hold would stay under the old password: refused, except when replacing a one-time
    password (``one_time``), whose wraps must not outlive it."""
    from safepassage.console import auth

    # Not `ring or Keyring()`: a keyring without program keys is falsy, yet may hold the
    # member's own key pair, which must be re-wrapped rather than replaced.
    ring = ring if ring is not None else Keyring()
    unheld = StaffKey.objects.filter(user=user).exclude(program_key_id__in=ring.private_keys)
    if unheld.exists() and not one_time:
        raise StaffRefused(
            gettext("Log out and in again first: this session does not hold your keys.")
        )
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        keyring.do_wrap_for(user, new_password, ring)
        if ring.member_private:
            member_keys.do_wrap_member_key(user, new_password, ring.member_private)
        else:  # no pair yet, or none unlocked in this session: a new one under the new password
            member_keys.do_create_member_key(user, new_password)
        auth.do_rotate_stamp(user)
        audit.record(user, "staff.password_changed")


def _active_admins() -> int:
    from django.db.models import Q

    return (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(Q(staff_profile__role=Role.ADMIN) | Q(is_superuser=True, staff_profile=None))
        .count()
    )


def do_deactivate_staff(actor: User, user: User) -> int:
    """The member can no longer log in (Django refuses an inactive account's password) and every
    session of theirs ends at once. Their keys stay as they are (wraps, member key, pending
    grants), so reactivating gives them back what they had; the wraps open only with their
    password, which nobody else holds. Refused for oneself, for the last active admin, and for
    a holder of the program key whom fewer than two active holders would remain after: the key
    must stay within reach of people who can log in (console.key_grants). Returns the number of
    sessions ended; deactivating an inactive account changes nothing."""
    from safepassage.console import auth, key_grants

    if user.pk == actor.pk:
        raise StaffRefused("You cannot deactivate your own account.")
    if not user.is_active:
        return 0
    if key_grants.is_last_holder(user):
        raise StaffRefused(
            "This member is one of the last two active holders of the program key: "
            "deactivating them would leave it out of reach. A holder grants the key to "
            "someone else first."
        )
    role = StaffProfile.objects.filter(user=user).values_list("role", flat=True).first()
    is_admin = role == Role.ADMIN or (role is None and user.is_superuser)
    if is_admin and _active_admins() <= 1:
        raise StaffRefused("This is the last active admin account.")
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        auth.do_rotate_stamp(user)
        ended = keyring.end_sessions(user)
        audit.record(actor, "staff.deactivate", None, f"user {user.pk}, {ended} session(s) ended")
    return ended


def do_reactivate_staff(actor: User, user: User) -> None:
    """The member logs in again with their own password and factors, keys as they were."""
    if user.is_active:
        return
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
        audit.record(actor, "staff.reactivate", None, f"user {user.pk}")
