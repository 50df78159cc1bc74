"""Rate limits become counters per bucket and window (web.ratelimit), shared by every web
process; the old per-attempt rows (one per failure, a lock-out for anyone) go."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0004_outbox_bot_queued"),
    ]

    operations = [
        migrations.DeleteModel(name="Attempt"),
        migrations.CreateModel(
            name="RateCounter",
            fields=[
                ("key", models.CharField(max_length=80, primary_key=True, serialize=False)),
                ("hits", models.IntegerField(default=0)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
        ),
    ]
