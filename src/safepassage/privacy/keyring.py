"""Staff-held program keys: the server can seal personal data but not open it.

The program key pair's private half is stored only wrapped, once per staff member, under a key
derived from that member's password with Argon2id (64 MiB). At login it is unwrapped into a
:class:`Keyring` that lives in the member's session encrypted under a key held only in their
browser (privacy.session). Adding and removing a member and rotating the key pair are actions
here, run by `safepassage keys …` (docs/operations.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from safepassage.privacy import audit, key_checks, sealing
from safepassage.privacy.crypto import DecryptionError
from safepassage.privacy.models import KeyGrant, ProgramKey, StaffKey

ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 1


class KeyringError(Exception):
    """A key operation cannot be done (wrong password, no key, key already exists)."""


@dataclass
class Keyring:
    """Unlocked program private keys by program key id. Never written anywhere in clear."""

    private_keys: dict[int, bytes] = field(default_factory=dict)
    # The member's own private key (privacy.member_keys): opens what was sealed to them.
    member_private: bytes | None = None
    # Case key pairs opened during this request (the loaded private key and its public half,
    # checked against the case's when opened), so a page of many fields opens each once, and
    # the cases whose key this keyring does not open (asked once, not once per field).
    opened_cases: dict[str, tuple[Any, bytes]] = field(
        default_factory=dict, compare=False, repr=False
    )
    unopened_cases: set[str] = field(default_factory=set, compare=False, repr=False)
    _loaded: dict[int, tuple[Any, bytes]] = field(default_factory=dict, compare=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.private_keys)

    def open(self, key_id: int, blob: bytes, context: bytes) -> bytes:
        private = self.private_keys.get(key_id)
        if private is None:
            raise DecryptionError("this keyring does not hold that program key")
        if key_id not in self._loaded:
            self._loaded[key_id] = sealing.loaded(private)
        key, public = self._loaded[key_id]
        return sealing.open_sealed(key, blob, context, public)


def _kek(password: str, salt: bytes, time_cost: int, memory_kib: int, parallelism: int) -> bytes:
    return hash_secret_raw(
        password.encode("utf-8"),
        salt,
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=32,
        type=Type.ID,
    )


def _context(user_id: int, key_id: int) -> bytes:
    return f"staff-wrap:{user_id}:{key_id}".encode()


def _params_in_bounds(time_cost: int, memory_kib: int, parallelism: int) -> bool:
    """Stored parameters out of these bounds were tampered with (and may be a memory bomb)."""
    return 1 <= time_cost <= 10 and 64 * 1024 <= memory_kib <= 1024 * 1024 and 1 <= parallelism <= 8


def wrap_secret(password: str, secret: bytes, context: bytes) -> tuple[bytes, int, int, int, bytes]:
    """``secret`` wrapped under Argon2id(``password``): (salt, time cost, memory KiB,
    parallelism, nonce + AES-256-GCM ciphertext bound to ``context``)."""
    salt = os.urandom(16)
    kek = _kek(password, salt, ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM)
    nonce = os.urandom(12)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, secret, context)
    return salt, ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, wrapped


def unwrap_secret(
    password: str,
    salt: bytes,
    time_cost: int,
    memory_kib: int,
    parallelism: int,
    wrapped: bytes,
    context: bytes,
) -> bytes | None:
    """What :func:`wrap_secret` wrapped, or None (wrong password, other context, bad params)."""
    if not _params_in_bounds(time_cost, memory_kib, parallelism):
        return None
    kek = _kek(password, salt, time_cost, memory_kib, parallelism)
    try:
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], context)
    except InvalidTag:
        return None


def _wrap_for(user: User, password: str, key: ProgramKey, private: bytes) -> StaffKey:
    salt, time_cost, memory_kib, parallelism, wrapped = wrap_secret(
        password, private, _context(int(user.pk), key.pk)
    )
    staff_key, _ = StaffKey.objects.update_or_create(
        user=user,
        program_key=key,
        defaults={
            "salt": salt,
            "time_cost": time_cost,
            "memory_cost_kib": memory_kib,
            "parallelism": parallelism,
            "wrapped_private_key": wrapped,
        },
    )
    return staff_key


def active_key() -> ProgramKey | None:
    return ProgramKey.objects.filter(retired_at__isnull=True).order_by("-id").first()


def unlock(user: User, password: str) -> Keyring:
    """Every program key this member holds, unwrapped with their password (empty if none)."""
    return unlock_checked(user, password)[0]


def unlock_checked(user: User, password: str) -> tuple[Keyring, list[int]]:
    """:func:`unlock`, and the ids of program keys whose wrap did not open."""
    keyring = Keyring()
    failed: list[int] = []
    for wrap in StaffKey.objects.filter(user=user):
        private = unwrap_secret(
            password,
            bytes(wrap.salt),
            wrap.time_cost,
            wrap.memory_cost_kib,
            wrap.parallelism,
            bytes(wrap.wrapped_private_key),
            _context(int(user.pk), wrap.program_key_id),
        )
        if private is None:
            failed.append(wrap.program_key_id)
        else:
            keyring.private_keys[wrap.program_key_id] = private
    return keyring, failed


def do_create_program_key(user: User, password: str) -> ProgramKey:
    """The first key pair, wrapped for its first holder."""
    with transaction.atomic():
        if active_key() is not None:
            raise KeyringError("a program key already exists; use rotation instead")
        private, public = sealing.generate_keypair()
        key = ProgramKey.objects.create(public_key=public)
        key_checks.confirm(key, private)
        _wrap_for(user, password, key, private)
        audit.record(user, "keys.create", detail=f"program key {key.pk}")
        return key


def _wrap_ring(user: User, password: str, ring: Keyring) -> None:
    for key in ProgramKey.objects.filter(pk__in=ring.private_keys):
        _wrap_for(user, password, key, ring.private_keys[key.pk])


def do_wrap_for(user: User, password: str, ring: Keyring) -> int:
    """Wrap every key of ``ring`` (a keyring unlocked in the session of the member acting) for
    ``user`` under ``password``, replacing the wraps ``user`` had. No server secret can do this:
    it needs a keyring someone unlocked with their own password."""
    with transaction.atomic():
        StaffKey.objects.filter(user=user).delete()
        _wrap_ring(user, password, ring)
    return len(ring.private_keys)


def do_grant(by: User, by_password: str, to: User, to_password: str) -> int:
    """Give ``to`` every program key ``by`` holds. Needs ``by``'s password: no server secret can
    add a reader."""
    keyring = unlock(by, by_password)
    if not keyring:
        raise KeyringError("the granting member's password does not unlock any program key")
    with transaction.atomic():
        _wrap_ring(to, to_password, keyring)
        audit.record(by, "keys.grant", detail=f"to user {to.pk}")
    return len(keyring.private_keys)


def end_sessions(user: User) -> int:
    """Log ``user`` out everywhere: their sessions hold their unlocked keyring."""
    from django.contrib.sessions.models import Session

    ended = 0
    for stored in Session.objects.all().iterator():
        if str(stored.get_decoded().get("_auth_user_id")) == str(user.pk):
            stored.delete()
            ended += 1
    return ended


def do_revoke(by: User | None, user: User) -> int:
    with transaction.atomic():
        count, _ = StaffKey.objects.filter(user=user).delete()
        # A grant not yet accepted would hand the key back at the member's next login.
        KeyGrant.objects.filter(grantee=user).delete()
        end_sessions(user)
        audit.record(by, "keys.revoke", detail=f"user {user.pk}")
    return count


def do_change_password(user: User, old_password: str, new_password: str) -> None:
    """New password, key wraps re-made under it, every session of the member ended."""
    if not user.check_password(old_password):
        raise KeyringError("the current password is wrong")
    keyring = unlock(user, old_password)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        end_sessions(user)
        _wrap_ring(user, new_password, keyring)
        audit.record(user, "keys.rewrap", detail="password change")


def do_rotate(by: User, password: str) -> tuple[ProgramKey, bytes, Keyring]:
    """Start a new key pair; the old one is retired. Returns the new key, its private half and
    the old keyring so the caller can re-wrap per-case keys, then call :func:`do_finish_rotation`.
    """
    keyring = unlock(by, password)
    old = active_key()
    if old is None or old.pk not in keyring.private_keys:
        raise KeyringError("rotation needs a member who holds the current program key")
    private, public = sealing.generate_keypair()
    with transaction.atomic():
        new = ProgramKey.objects.create(public_key=public)
        key_checks.confirm(new, private, vouching=keyring)
        _wrap_for(by, password, new, private)
        audit.record(by, "keys.rotate.start", detail=f"{old.pk} -> {new.pk}")
    return new, private, keyring


def do_finish_rotation(by: User, new: ProgramKey) -> None:
    with transaction.atomic():
        ProgramKey.objects.filter(retired_at__isnull=True).exclude(pk=new.pk).update(
            retired_at=timezone.now()
        )
        audit.record(by, "keys.rotate.finish", detail=f"active {new.pk}")


def do_rewrap_case_keys(
    by: User, new: ProgramKey, new_private: bytes, old: Keyring
) -> tuple[int, int]:
    """Move every case key pair under ``new``: its private half is re-sealed, no data is
    re-encrypted. Case keys under a program key ``old`` does not hold are left and counted as
    errors by the caller: returns (moved, skipped)."""
    from safepassage.privacy.models import CaseKey

    moved = skipped = 0
    for case_key in CaseKey.objects.exclude(program_key=new).iterator():
        if case_key.program_key_id not in old.private_keys:
            skipped += 1
            continue
        context = f"case-key:{case_key.case_id}".encode()
        private = old.open(case_key.program_key_id, bytes(case_key.sealed_private_key), context)
        CaseKey.objects.filter(pk=case_key.pk).update(
            sealed_private_key=sealing.seal(bytes(new.public_key), private, context),
            program_key=new,
        )
        moved += 1
    audit.record(by, "keys.rotate.rewrap", detail=f"{moved} case keys, {skipped} skipped")
    return moved, skipped
