"""Sessions are stored under a keyed hash of their cookie from now on (privacy.session_store).

Rows written before hold the cookie value itself, which a copy of the table would let anyone
replay: they are deleted. Staff log in again; a web chat in progress starts afresh (an
application already confirmed is reached again with its reference and passphrase).
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def end_every_session(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("sessions", "Session").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0003_casekey"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(end_every_session, migrations.RunPython.noop)]
