"""Handovers' sector and window out of the clear; cards sealed to each liaison (findings 4, 6).

For every existing handover: the sector becomes a keyed index, sector and window are sealed to
the case key (readable by operators and supervisors as before), and the clear columns go; the
"sector …" detail of handover events is blanked. No card can be sealed here: the card holds the
meeting point and reference, which only a staff keyring opens. A supervisor shares current
handovers with the sector's liaisons from the case page (docs/operations.md, upgrade note).
Backwards only an empty handover table can go (sector and window need a keyring to open).
"""

from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from safepassage.cases.handover_cards import PLAN_FIELD, plan_text
from safepassage.privacy import crypto, staff_fields


def seal_plans(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    handovers = apps.get_model("cases", "Handover").objects.select_related("case")
    case_keys = apps.get_model("privacy", "CaseKey").objects
    for handover in handovers.all().iterator():
        case = handover.case
        text = plan_text(handover.sector, handover.window_start, handover.window_end)
        field = f"{PLAN_FIELD}:{handover.pk}"
        key = case_keys.filter(case_id=case.pk).first()
        if key is not None:
            sealed = staff_fields.seal_with_public_key(case, field, text, bytes(key.public_key))
        else:  # no program key ever (every field of the case is pending too)
            sealed = staff_fields.pending(case, field, text)
        handovers.filter(pk=handover.pk).update(
            sector_index=crypto.sector_index(handover.sector),
            plan_sealed=sealed,
            sector="",
        )
    apps.get_model("cases", "CaseEvent").objects.filter(
        kind="handover", detail__startswith="sector "
    ).update(detail="")


def unseal_nothing(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    """Backwards the server cannot open what was sealed: the columns get placeholders."""


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_coarse_times"),
        ("privacy", "0004_memberkey"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="handover",
            name="sector_index",
            field=models.CharField(db_index=True, default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="handover",
            name="plan_sealed",
            field=models.BinaryField(default=b""),
        ),
        migrations.AlterField(
            model_name="handover",
            name="sector",
            field=models.CharField(blank=True, db_index=True, max_length=40),
        ),
        migrations.RunPython(seal_plans, unseal_nothing),
        migrations.RemoveField(model_name="handover", name="sector"),
        migrations.RemoveField(model_name="handover", name="window_start"),
        migrations.RemoveField(model_name="handover", name="window_end"),
        migrations.CreateModel(
            name="HandoverCard",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sealed", models.BinaryField()),
                ("recipient_key", models.BinaryField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "handover",
                    models.ForeignKey(
                        on_delete=models.deletion.CASCADE,
                        related_name="cards",
                        to="cases.handover",
                    ),
                ),
                (
                    "liaison",
                    models.ForeignKey(
                        on_delete=models.deletion.CASCADE,
                        related_name="handover_cards",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("handover", "liaison"), name="one_card_per_liaison"
                    )
                ],
            },
        ),
    ]
