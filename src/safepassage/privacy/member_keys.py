"""Each staff member's own key pair: something others can seal to without knowing a password.

The program key cannot be granted to a member by wrapping it under their password, since the
granting member must then know that password. Sealing to the member's public key needs nothing
secret; only the member's password opens the private half (Argon2id, as program key wraps).
A member without a key pair (created before this existed) gets one at their next login, which is
the one moment the server holds their password.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from safepassage.privacy import sealing
from safepassage.privacy.keyring import unwrap_secret, wrap_secret
from safepassage.privacy.models import MemberKey


def _context(user_id: int) -> bytes:
    return f"member-key:{user_id}".encode()


def public_key_of(user: User) -> bytes | None:
    row = MemberKey.objects.filter(user=user).only("public_key").first()
    return bytes(row.public_key) if row else None


def unlock_member_key(user: User, password: str) -> bytes | None:
    """The member's private key, or None without a key pair or with a wrong password."""
    row = MemberKey.objects.filter(user=user).first()
    if row is None:
        return None
    return unwrap_secret(
        password,
        bytes(row.salt),
        row.time_cost,
        row.memory_cost_kib,
        row.parallelism,
        bytes(row.wrapped_private_key),
        _context(int(user.pk)),
    )


def do_wrap_member_key(user: User, password: str, private: bytes) -> MemberKey:
    """Store ``private`` (the member's own private key) wrapped under ``password``."""
    salt, time_cost, memory_kib, parallelism, wrapped = wrap_secret(
        password, private, _context(int(user.pk))
    )
    row, _ = MemberKey.objects.update_or_create(
        user=user,
        defaults={
            "public_key": sealing.public_of(private),
            "salt": salt,
            "time_cost": time_cost,
            "memory_cost_kib": memory_kib,
            "parallelism": parallelism,
            "wrapped_private_key": wrapped,
        },
    )
    return row


def do_create_member_key(user: User, password: str) -> bytes:
    """A new key pair for ``user``, replacing any they had; returns its private half. Whatever was
    sealed to the old pair no longer opens for them."""
    private, _public = sealing.generate_keypair()
    with transaction.atomic():
        do_wrap_member_key(user, password, private)
    return private


def ensure_member_key(user: User, password: str) -> bytes | None:
    """At login: the member's private key, creating the pair if they have none. None when a pair
    exists that this password does not open (a wrap under an older password)."""
    if not MemberKey.objects.filter(user=user).exists():
        return do_create_member_key(user, password)
    return unlock_member_key(user, password)


def seal_to_member(user: User, plaintext: bytes, context: bytes) -> bytes:
    public = public_key_of(user)
    if public is None:
        raise LookupError("this member has no key pair yet (they have not logged in since)")
    return sealing.seal(public, plaintext, context)
