"""Staff accounts' console data: role, sector, language, and their WebAuthn security keys."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OPERATOR = "operator", "Operator"
    SUPERVISOR = "supervisor", "Supervisor"
    LIAISON = "liaison", "Liaison"
    ANALYST = "analyst", "Analyst"
    ADMIN = "admin", "Admin"


def new_security_stamp() -> str:
    return secrets.token_hex(16)


class StaffProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    role = models.CharField(max_length=12, choices=Role.choices)
    sector = models.CharField(max_length=40, blank=True)  # liaisons: the sector they receive in
    language = models.CharField(max_length=8, default="en")
    # Changes whenever the password or a second factor changes; sessions carrying an older
    # stamp end (console.auth).
    security_stamp = models.CharField(max_length=32, default=new_security_stamp)

    def __str__(self) -> str:
        return f"{self.role} profile"


class SecurityKey(models.Model):
    """A registered WebAuthn credential (public key only)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="security_keys"
    )
    name = models.CharField(max_length=60)
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"security key {self.pk}"
