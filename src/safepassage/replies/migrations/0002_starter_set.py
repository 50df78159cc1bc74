"""The starter set of vetted replies (replies/starter.yaml), every text unreviewed. Adds what is
missing and changes nothing that exists; `safepassage manage load_starter_replies` does the
same later."""

from typing import Any

from django.db import migrations


def load(apps: Any, schema_editor: Any) -> None:
    from safepassage.replies.services import load_starter

    load_starter(apps.get_model("replies", "VettedReply"), apps.get_model("replies", "VettedText"))


class Migration(migrations.Migration):
    dependencies = [("replies", "0001_vetted_replies")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
