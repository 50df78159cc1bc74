"""Liaisons' sectors out of the clear, and liaisons out of the program key (findings 4 and 6).

Each profile's sector becomes a keyed index (routing, filters) and a label sealed under a
master-derived key; the clear column goes. Liaisons' program key wraps are deleted and their
sessions ended: they read only the handover cards sealed to their own member key
(cases.handover_cards). Backwards, the labels are opened again into the clear column; deleted
wraps are not restored.
"""

from django.contrib.sessions.backends.db import SessionStore
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from safepassage.privacy import crypto


def seal_sectors(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    profiles = apps.get_model("console", "StaffProfile").objects
    for pk, user_id, sector in profiles.exclude(sector="").values_list("pk", "user_id", "sector"):
        profiles.filter(pk=pk).update(
            sector_index=crypto.sector_index(sector),
            sector_sealed=crypto.seal_sector_label(sector.strip(), user_id),
            sector="",
        )
    liaisons = list(profiles.filter(role="liaison").values_list("user_id", flat=True))
    apps.get_model("privacy", "StaffKey").objects.filter(user_id__in=liaisons).delete()
    # A liaison logged in now holds the program key in their session's keyring: end it.
    ids = {str(user_id) for user_id in liaisons}
    sessions = apps.get_model("sessions", "Session").objects
    for key, data in sessions.values_list("session_key", "session_data").iterator():
        if str(SessionStore().decode(data).get("_auth_user_id")) in ids:
            sessions.filter(session_key=key).delete()


def open_sectors(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    profiles = apps.get_model("console", "StaffProfile").objects
    for pk, user_id, blob in profiles.exclude(sector_sealed=None).values_list(
        "pk", "user_id", "sector_sealed"
    ):
        profiles.filter(pk=pk).update(sector=crypto.open_sector_label(bytes(blob), user_id)[:40])


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0002_sealed_totp_device"),
        ("privacy", "0004_memberkey"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="staffprofile",
            name="sector_index",
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
        migrations.AddField(
            model_name="staffprofile",
            name="sector_sealed",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.RunPython(seal_sectors, open_sectors),
        migrations.RemoveField(model_name="staffprofile", name="sector"),
    ]
