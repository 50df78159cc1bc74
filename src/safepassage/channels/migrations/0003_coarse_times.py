"""Applicant-side times stored no finer than the workflow needs (privacy.coarse_time).

The columns keep their type, so the schema is untouched (no table rebuild on SQLite);
only what Django writes changes. Values already stored are coarsened in place.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

import safepassage.privacy.coarse_time
from safepassage.privacy.coarse_time import Precision, truncate_existing

FIELDS: dict[str, dict[str, Precision]] = {
    "TelegramUpdate": {"received_at": "hour"},
    "TelegramChat": {"created_at": "day", "blocked_at": "day"},
    "OutboxMessage": {"created_at": "minute", "sent_at": "minute"},
    "ChatTrace": {"erase_due": "minute"},
    "Attachment": {"received_at": "minute"},
}


def coarsen_existing(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for model, fields in FIELDS.items():
        truncate_existing(apps.get_model("channels", model), fields)


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0002_telegram"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="attachment",
                    name="received_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now_add=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="chattrace",
                    name="erase_due",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        db_index=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="outboxmessage",
                    name="created_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now_add=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="outboxmessage",
                    name="sent_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, null=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="telegramchat",
                    name="blocked_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, null=True, precision="day"
                    ),
                ),
                migrations.AlterField(
                    model_name="telegramchat",
                    name="created_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now_add=True, precision="day"
                    ),
                ),
                migrations.AlterField(
                    model_name="telegramupdate",
                    name="received_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now_add=True, precision="hour"
                    ),
                ),
            ],
        ),
        migrations.RunPython(coarsen_existing, migrations.RunPython.noop),
    ]
