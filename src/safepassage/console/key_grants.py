"""Who holds the program key, and how it reaches a new holder: only by an act of a holder.

The admin role creates accounts and learns their one-time passwords, so nothing the admin does
alone may give an account the program key. A holder grants it by re-entering their own password
(a stolen session alone cannot grant): the private halves their keyring holds are sealed to the
grantee's own public key (privacy.member_keys), and at the grantee's next login they become wraps
under the grantee's password. The first admin holds the key only to bootstrap: once two members
of key-holding roles hold it, the admin's wraps are dropped. The last two holders' wraps are
never destroyed from the console.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from safepassage.console import access
from safepassage.console.models import Role, StaffProfile
from safepassage.console.staff import KEY_HOLDING_ROLES
from safepassage.privacy import audit, key_checks, keyring, member_keys, sealing
from safepassage.privacy.crypto import DecryptionError
from safepassage.privacy.keyring import Keyring, KeyringError
from safepassage.privacy.models import KeyGrant, ProgramKey, StaffKey

MIN_HOLDERS = 2


def _context(user_id: int, key_id: int) -> bytes:
    return f"key-grant:{user_id}:{key_id}".encode()


def holders() -> list[User]:
    """Members holding the key new cases are sealed to (or the newest key, if none is)."""
    key = key_checks.sealing_key() or keyring.active_key()
    if key is None:
        return []
    ids = StaffKey.objects.filter(program_key=key).values("user_id")
    return list(User.objects.filter(pk__in=ids).order_by("username"))


def is_last_holder(user: User) -> bool:
    """``user`` holds the key and fewer than :data:`MIN_HOLDERS` other holders who can log in
    (active accounts) would remain without them: their wraps must stay, and so must they."""
    current = holders()
    if user not in current:
        return False
    others = [u for u in current if u.pk != user.pk and u.is_active]
    return len(others) < MIN_HOLDERS


def may_hold(user: User) -> bool:
    role = access.role_of(user)
    return role is not None and role in KEY_HOLDING_ROLES


def _must_choose(user: User) -> bool:
    return StaffProfile.objects.filter(user=user, must_choose_password=True).exists()


def do_grant(by: User, by_password: str, to: User) -> int:
    """Seal every program key ``by`` holds to ``to``'s own public key; ``by`` proves it is them
    with their password, which also unlocks the keys."""
    if not may_hold(to):
        raise KeyringError("This member's role does not read cases: it cannot hold the key.")
    if _must_choose(to):
        raise KeyringError("This member has not chosen their own password yet.")
    public = member_keys.public_key_of(to)
    if public is None:
        raise KeyringError("This member has no key pair yet: they log in once first.")
    if not (may_hold(by) or access.role_of(by) == Role.ADMIN):  # admin: bootstrap only
        raise KeyringError("Your role cannot grant the key.")
    if not by.check_password(by_password):
        raise KeyringError("Your password is wrong.")
    ring = keyring.unlock(by, by_password)
    current = key_checks.sealing_key()
    if current is None or current.pk not in ring.private_keys:
        raise KeyringError("You do not hold the current program key.")
    with transaction.atomic():
        for key in ProgramKey.objects.filter(pk__in=ring.private_keys):
            KeyGrant.objects.update_or_create(
                grantee=to,
                program_key=key,
                defaults={
                    "granted_by": by,
                    "sealed_private_key": sealing.seal(
                        public, ring.private_keys[key.pk], _context(int(to.pk), key.pk)
                    ),
                },
            )
        audit.record(by, "keys.grant", detail=f"to user {to.pk}, sealed to their member key")
    return len(ring.private_keys)


def accept_grants(user: User, password: str, ring: Keyring) -> int:
    """At login: grants sealed to ``user`` become wraps under their password (and join ``ring``)."""
    if ring.member_private is None:
        return 0
    accepted = 0
    for grant in KeyGrant.objects.filter(grantee=user).select_related("program_key"):
        key = grant.program_key
        if key.alarm or key_checks.unverified(key):
            continue
        try:
            private = sealing.open_sealed(
                ring.member_private,
                bytes(grant.sealed_private_key),
                _context(int(user.pk), key.pk),
            )
        except DecryptionError:
            continue  # sealed to a member key they no longer have: a holder grants again
        if sealing.public_of(private) != bytes(key.public_key):
            continue
        with transaction.atomic():
            keyring._wrap_for(user, password, key, private)
            grant.delete()
            audit.record(user, "keys.grant_accepted", detail=f"program key {key.pk}")
        ring.private_keys[key.pk] = private
        accepted += 1
    if accepted:
        release_admin_wraps()
    return accepted


def release_admin_wraps() -> int:
    """The admin's bootstrap wraps go once two members of key-holding roles hold the key under
    passwords of their own (an upgraded member may still have one the admin gave). Also run at
    such a member's login and password choice: an upgrade brings holders without grants."""
    current = holders()
    if sum(1 for u in current if may_hold(u) and not _must_choose(u)) < MIN_HOLDERS:
        return 0
    admins = [u for u in current if access.role_of(u) == Role.ADMIN]
    if not admins:
        return 0
    with transaction.atomic():
        count, _ = StaffKey.objects.filter(user__in=admins).delete()
        KeyGrant.objects.filter(grantee__in=admins).delete()
        for admin in admins:
            keyring.end_sessions(admin)  # their open session's keyring holds the key too
            audit.record(None, "keys.admin_released", detail=f"user {admin.pk}")
    return count


def waiting() -> list[User]:
    """Members of key-holding roles who hold no key and have no grant pending."""
    current = {u.pk for u in holders()}
    pending = set(KeyGrant.objects.values_list("grantee_id", flat=True))
    profiles = StaffProfile.objects.filter(role__in=KEY_HOLDING_ROLES).select_related("user")
    return [
        p.user
        for p in profiles.order_by("user__username")
        if p.user.pk not in current and p.user.pk not in pending and p.user.is_active
    ]
