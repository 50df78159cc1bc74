"""The audit log: append-only, each record carrying the hash of the one before it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64)
    case_id = models.UUIDField(null=True, db_index=True)
    detail = models.CharField(max_length=200, blank=True)  # never personal data
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


class ProgramKey(models.Model):
    """The program's key pair. Only the public half is stored in clear; the private half exists
    only wrapped for each staff member (StaffKey), under a key derived from their password."""

    public_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Set only where a holder's unlocked private half matches ``public_key`` (creation, rotation,
    # a holder's login): new case keys are sealed only to a confirmed key (privacy.key_checks).
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # HMAC over the public key under a key derived from the private half: only a holder can make
    # or check it, so a row planted with a made-up one fails at the next holder's login.
    confirmation = models.BinaryField(null=True, blank=True)
    # Why this key must not be sealed to (a holder's check failed); shown as an alarm.
    alarm = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"program key {self.pk}"


class PasswordWrap(models.Model):
    """A private key wrapped under Argon2id(a member's password) with these parameters
    (privacy.keyring.wrap_secret): a program key (StaffKey) or the member's own (MemberKey)."""

    salt = models.BinaryField()
    time_cost = models.PositiveIntegerField()
    memory_cost_kib = models.PositiveIntegerField()
    parallelism = models.PositiveIntegerField()
    wrapped_private_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class StaffKey(PasswordWrap):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="program_keys"
    )
    program_key = models.ForeignKey(ProgramKey, on_delete=models.CASCADE, related_name="wraps")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "program_key"], name="one_wrap_per_key"),
        ]

    def __str__(self) -> str:
        return f"wrap of {self.program_key_id} for {self.user_id}"


class CaseKey(models.Model):
    """A case's own key pair. The server seals to its public half; the private half is sealed to
    the program key, so only a logged-in staff member can open what was sealed."""

    case_id = models.UUIDField(unique=True)
    public_key = models.BinaryField()
    sealed_private_key = models.BinaryField()
    program_key = models.ForeignKey(ProgramKey, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"case key {self.pk}"


class RateCounter(models.Model):
    """Hits on one rate-limit bucket in one window (privacy.ratelimit, the database store).

    ``key`` is a keyed digest of the bucket (scope and username, reference or source address,
    never in clear) with the window's length and number; rows go once ``expires_at`` passed.
    """

    key = models.CharField(max_length=80, primary_key=True)
    hits = models.IntegerField(default=0)
    # Exact: a sliding window needs its end; the row is deleted soon after (minutes).
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"rate counter {self.pk}"


class MemberKey(PasswordWrap):
    """A staff member's own key pair. Anyone may seal to its public half (a key holder granting
    the program key, a handover sealed to a liaison); the private half exists only wrapped under
    the member's password (Argon2id), as StaffKey wraps are."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_key"
    )
    public_key = models.BinaryField()

    def __str__(self) -> str:
        return f"member key of {self.user_id}"


class KeyGrant(models.Model):
    """A program private key sealed to a member's own public key (MemberKey) by a key holder who
    re-entered their password. At the member's next login it becomes a StaffKey wrap under their
    password and this row goes."""

    grantee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pending_key_grants"
    )
    program_key = models.ForeignKey(ProgramKey, on_delete=models.CASCADE, related_name="grants")
    sealed_private_key = models.BinaryField()
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grantee", "program_key"], name="one_grant_per_key"),
        ]

    def __str__(self) -> str:
        return f"grant of {self.program_key_id} to {self.grantee_id}"
