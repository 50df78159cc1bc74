"""TOTP secrets sealed at rest (console.models.SealedTOTPDevice, crypto.seal_totp_secret).

Adds the proxy model (no schema change) and seals every key django-otp stored in hex. Keys
already sealed are left alone, so running the step again changes nothing.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from safepassage.privacy import crypto


def seal_clear_keys(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    devices = apps.get_model("otp_totp", "TOTPDevice").objects
    clear = devices.exclude(key__startswith=crypto.TOTP_SEALED_PREFIX)
    for pk, user_id, key in clear.values_list("pk", "user_id", "key"):
        try:
            secret = bytes.fromhex(key)
            sealed = crypto.seal_totp_secret(secret, pk, user_id)
        except ValueError as exc:
            # Not hex (django-otp could never verify it) or longer than the column can hold
            # sealed. Stopping is safer than deleting it: a member without a factor would
            # enrol a new one with the password alone.
            raise RuntimeError(
                f"TOTP device {pk} has a key that cannot be sealed ({exc}); delete that device "
                "and reset the member's access after the upgrade"
            ) from exc
        devices.filter(pk=pk, key=key).update(key=sealed)


def open_sealed_keys(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    """Back to hex, for the code before this migration (which cannot read sealed keys)."""
    devices = apps.get_model("otp_totp", "TOTPDevice").objects
    sealed = devices.filter(key__startswith=crypto.TOTP_SEALED_PREFIX)
    for pk, user_id, key in sealed.values_list("pk", "user_id", "key"):
        clear = crypto.open_totp_secret(key, pk, user_id).hex()
        devices.filter(pk=pk, key=key).update(key=clear)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_initial"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="SealedTOTPDevice",
            fields=[],
            options={
                "verbose_name": "TOTP device (sealed)",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("otp_totp.totpdevice",),
        ),
        migrations.RunPython(seal_clear_keys, open_sealed_keys, elidable=False),
    ]
