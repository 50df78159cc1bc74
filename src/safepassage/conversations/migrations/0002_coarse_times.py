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
    "Conversation": {"updated_at": "hour"},
}


def coarsen_existing(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for model, fields in FIELDS.items():
        truncate_existing(apps.get_model("conversations", model), fields)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="conversation",
                    name="updated_at",
                    field=safepassage.privacy.coarse_time.CoarseDateTimeField(
                        auto_now=True, precision="hour"
                    ),
                ),
            ],
        ),
        migrations.RunPython(coarsen_existing, migrations.RunPython.noop),
    ]
