"""Staff accounts' console data: role, sector, language, their WebAuthn security keys, and
their TOTP devices with the secret sealed at rest."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from safepassage.privacy import crypto

TOTP_SECRET_BYTES = 20  # django-otp's default, and what authenticator apps expect (RFC 4226)


class Role(models.TextChoices):
    OPERATOR = "operator", _("Operator")
    SUPERVISOR = "supervisor", _("Supervisor")
    LIAISON = "liaison", _("Liaison")
    ANALYST = "analyst", _("Analyst")
    ADMIN = "admin", _("Admin")


def new_security_stamp() -> str:
    return secrets.token_hex(16)


class StaffProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    role = models.CharField(max_length=12, choices=Role.choices)
    # Liaisons: the sector they receive people in, never in clear (finding 6): a keyed index
    # that routes handovers to them, and the name sealed under a master-derived key for staff
    # pages (privacy.crypto.sector_index / seal_sector_label).
    sector_index = models.CharField(max_length=64, blank=True, db_index=True)
    sector_sealed = models.BinaryField(null=True, blank=True)
    language = models.CharField(max_length=8, default="en")
    # The applicant languages this member reads (codes of config.APPLICANT_LANGUAGES): the
    # queue and take-next offer them cases in those first, and a supervisor reviews vetted
    # replies only in these. Set by an admin (console.staff.do_set_reads, audited).
    reads = models.JSONField(default=list, blank=True)
    # The IANA time zone the console shows and reads times in ("": the deployment's default,
    # SAFEPASSAGE_TIME_ZONE); console.middleware activates it per request.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # Changes whenever the password or a second factor changes; sessions carrying an older
    # stamp end (console.auth).
    security_stamp = models.CharField(max_length=32, default=new_security_stamp)
    # A one-time password (new account, forgotten password, first admin) only opens the page
    # where the member chooses their own; choosing it voids the one-time one (console.first_login).
    must_choose_password = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.role} profile"

    def set_sector(self, label: str) -> None:
        label = label.strip()[:40]
        self.sector_index = crypto.sector_index(label) if label else ""
        self.sector_sealed = crypto.seal_sector_label(label, self.user_id) if label else None

    @property
    def sector(self) -> str:
        """The sector's name, opened with the master key ("" for none)."""
        if not self.sector_sealed:
            return ""
        try:
            return crypto.open_sector_label(bytes(self.sector_sealed), self.user_id)
        except crypto.DecryptionError:
            return "?"


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


class SealedTOTPDevice(TOTPDevice):  # type: ignore[misc]
    """django-otp's TOTP device whose ``key`` column holds the secret sealed under a key derived
    from the master key (``crypto.seal_totp_secret``) instead of in hex, so a stolen database or
    backup mints no codes. django-otp reads the secret only through ``bin_key`` (verification,
    the provisioning URI), so verification, drift, throttling and single use (``last_t``) are
    django-otp's own. Our code creates, loads and verifies devices only through this class;
    django-otp's own model would read the sealed value as hex and fail, never succeed."""

    class Meta:
        proxy = True
        verbose_name = "TOTP device (sealed)"

    @classmethod
    def create_sealed(cls, user: Any, *, confirmed: bool) -> SealedTOTPDevice:
        """A new device with a fresh random secret, stored only sealed. The sealing binds the
        row id, which exists only after the insert: both writes are one transaction, and the
        placeholder is no secret."""
        with transaction.atomic():
            device = cls.objects.create(user=user, name="TOTP", confirmed=confirmed, key="")
            device.key = crypto.seal_totp_secret(
                os.urandom(TOTP_SECRET_BYTES), device.pk, device.user_id
            )
            device.save(update_fields=["key"])
        return device  # type: ignore[no-any-return]

    @property
    def bin_key(self) -> bytes:
        """The secret, opened (``crypto.DecryptionError`` if the row was tampered with)."""
        return crypto.open_totp_secret(self.key, self.pk, self.user_id)

    def readable(self) -> bool:
        try:
            _ = self.bin_key
        except crypto.DecryptionError:
            return False
        return True

    def verify_token(self, token: Any) -> bool:
        # A secret that does not open (a row moved between accounts, a clear key written in,
        # another master key) verifies nothing, rather than failing the login page.
        if not self.readable():
            return False
        return bool(super().verify_token(token))


class CasePresence(models.Model):
    """Who has a case page open, or is writing a reply on it, for a few seconds (console.presence).

    Used when no Redis is configured; shared by every web process through the database. Rows
    expire after seconds and hold no message content."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    writing = models.BooleanField(default=False)
    until = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="one_presence_per_viewer"),
        ]

    def __str__(self) -> str:
        return f"presence of {self.user_id} on {self.case_id}"
