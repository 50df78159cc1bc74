"""The old per-attempt throttle rows (one per failure, a lock-out for anyone) go; rate limits
are counters per bucket and window now (privacy.ratelimit, privacy migration 0005)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0004_outbox_bot_queued"),
    ]

    operations = [
        migrations.DeleteModel(name="Attempt"),
    ]
