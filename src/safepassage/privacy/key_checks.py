"""Which program key new case keys are sealed to, and the alarms when a key row is not genuine.

Anyone who can write to the database can insert a ``ProgramKey`` row whose private half they
hold. So new case keys go only to a key that was confirmed (``confirmed_at``: set where a
holder's unlocked private half matches the row, at creation and rotation, or by the upgrade
migration), raised no alarm and is held through a wrap, which only a member's password makes.
A rotated key's ``confirmation`` is an HMAC over its id and public key under a key derived from
its predecessor's private half: every holder of the predecessor checks it at login, which a
planter cannot pass, as no holder's keyring matches a planted public key. A failed check sets
``alarm``, and sealing skips that key.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from safepassage.privacy import audit, sealing
from safepassage.privacy.models import ProgramKey, StaffKey

if TYPE_CHECKING:
    from safepassage.privacy.keyring import Keyring


def confirmation_of(key_id: int, public: bytes, private: bytes) -> bytes:
    mac_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"program-key-confirmation"
    ).derive(private)
    return hmac.new(mac_key, f"{key_id}:".encode() + public, hashlib.sha256).digest()


def predecessor(key: ProgramKey) -> ProgramKey | None:
    """The key that vouches for ``key``: the newest confirmed key older than it."""
    return (
        ProgramKey.objects.filter(pk__lt=key.pk, confirmed_at__isnull=False, alarm="")
        .order_by("-id")
        .first()
    )


def confirm(key: ProgramKey, private: bytes, vouching: Keyring | None = None) -> bool:
    """Mark ``key`` confirmed if ``private`` is its private half; with the predecessor's private
    half in ``vouching``, also write the HMAC that holders of the predecessor check."""
    public = bytes(key.public_key)
    if not hmac.compare_digest(sealing.public_of(private), public):
        return False
    before = predecessor(key)
    if before is not None and vouching is not None and before.pk in vouching.private_keys:
        key.confirmation = confirmation_of(key.pk, public, vouching.private_keys[before.pk])
    key.confirmed_at = key.confirmed_at or timezone.now()
    key.save(update_fields=["confirmation", "confirmed_at"])
    return True


def _raise_alarm(key: ProgramKey, by: User | None, why: str) -> None:
    if not key.alarm:
        ProgramKey.objects.filter(pk=key.pk).update(alarm=why[:200])
        audit.record(by, "keys.alarm", detail=f"program key {key.pk}: {why}"[:200])


def check_unlocked(user: User, keyring: Keyring, failed: list[int], wrapped: set[int]) -> None:
    """At a holder's login. ``wrapped``: ids of keys this login opened from the member's own
    wraps (which nobody without the password can make); ``failed``: wraps that did not open."""
    for key in ProgramKey.objects.filter(retired_at__isnull=True).order_by("id"):
        public = bytes(key.public_key)
        own = keyring.private_keys.get(key.pk)
        if own is not None and not hmac.compare_digest(sealing.public_of(own), public):
            _raise_alarm(key, user, "its public key does not match the private key holders hold")
            continue
        before = predecessor(key)
        if before is None or before.pk not in keyring.private_keys:
            if key.pk in failed and key.confirmation is None and before is not None:
                _raise_alarm(key, user, f"a wrap of it for member {user.pk} does not open")
            continue
        vouch = keyring.private_keys[before.pk]
        if key.confirmation is not None:
            if not hmac.compare_digest(
                bytes(key.confirmation), confirmation_of(key.pk, public, vouch)
            ):
                _raise_alarm(key, user, "its confirmation was not made by a key holder")
        elif key.pk in wrapped and key.confirmed_at is not None:
            # A key from before confirmations (the upgrade), held through an unforgeable wrap.
            key.confirmation = confirmation_of(key.pk, public, vouch)
            key.save(update_fields=["confirmation"])
        elif key.pk in failed:
            _raise_alarm(key, user, f"a wrap of it for member {user.pk} does not open")


def unverified(key: ProgramKey) -> bool:
    """A rotated key without its predecessor's HMAC cannot be granted through a sealed grant
    (a database writer could have made both the row and the grant)."""
    return key.confirmation is None and predecessor(key) is not None


def _held() -> Q:
    return Q(pk__in=StaffKey.objects.values("program_key_id"))


def sealing_key() -> ProgramKey | None:
    """The newest unretired program key that was confirmed, raised no alarm, that some member
    holds through a wrap and, where it has a predecessor, carries the predecessor's HMAC: the
    only key new case keys are sealed to. ``confirmed_at`` and a wrap are only database rows (a
    writer makes both, a wrap under a password of their own); the HMAC needs a holder's key."""
    candidates = (
        ProgramKey.objects.filter(retired_at__isnull=True, confirmed_at__isnull=False, alarm="")
        .filter(_held())
        .order_by("-id")
    )
    return next((key for key in candidates if not unverified(key)), None)


def alarms() -> list[str]:
    """What `safepassage check` and the console show; empty when every key row is genuine."""
    found: list[str] = []
    chosen = sealing_key()
    for key in ProgramKey.objects.filter(retired_at__isnull=True).order_by("id"):
        # In the reader's language in the console (English on the command line); the stored
        # reason of an alarm is a record and stays as written.
        if key.alarm:
            found.append(
                gettext("program key %(key)s is refused for sealing: %(why)s")
                % {"key": key.pk, "why": key.alarm}
            )
        elif key.confirmed_at is None:
            found.append(
                gettext(
                    "program key %(key)s was never confirmed by a key holder (planted?): "
                    "new cases are not sealed to it"
                )
                % {"key": key.pk}
            )
        elif unverified(key):
            found.append(
                gettext(
                    "program key %(key)s lacks the confirmation its predecessor's holders make "
                    "(planted?): new cases are not sealed to it until a holder of both logs in"
                )
                % {"key": key.pk}
            )
        elif chosen is None or key.pk > chosen.pk:
            found.append(
                gettext("program key %(key)s has no holder: new cases are not sealed to it")
                % {"key": key.pk}
            )
    if chosen is None and ProgramKey.objects.exists():
        found.append(gettext("no usable program key: new answers stay readable by the server only"))
    return found
