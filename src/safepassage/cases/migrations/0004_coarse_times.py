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
    "Contact": {"created_at": "day"},
    "Case": {
        "created_at": "day",
        "updated_at": "hour",
        "submitted_at": "minute",
        "ready_now_at": "minute",
        "last_applicant_at": "minute",
        "reply_due_at": "minute",
        "last_operator_at": "minute",
    },
    "Message": {"created_at": "minute", "shown_at": "hour"},
    "CallLog": {"started_at": "minute"},
}


def coarsen_existing(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for model, fields in FIELDS.items():
        truncate_existing(apps.get_model("cases", model), fields)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_merge_0002_console_work_0002_message_shown_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="calllog",
                    name="started_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(precision="minute"),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="created_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now_add=True, precision="day"
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="last_applicant_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, null=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="last_operator_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, null=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="ready_now_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, null=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="reply_due_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, null=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="submitted_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, db_index=True, null=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="updated_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now=True, precision="hour"
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="created_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now_add=True, precision="day"
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="created_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now_add=True, db_index=True, precision="minute"
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="shown_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        blank=True, null=True, precision="hour"
                    ),
                ),
            ],
        ),
        migrations.RunPython(coarsen_existing, migrations.RunPython.noop),
    ]
