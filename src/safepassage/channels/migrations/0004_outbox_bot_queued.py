"""Indexes that hold up in a flood on a young database (before PostgreSQL has statistics):
each outbox row names its bot, so that a sender's claim walks one index of this table
(outbox_queued) instead of joining every queued row to its chat (telegram.sender); a chat's
unique key starts with its pseudonym, which a batch looks chats up by."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def bot_of_each_row(apps, schema_editor):  # type: ignore[no-untyped-def]
    OutboxMessage = apps.get_model("channels", "OutboxMessage")
    TelegramChat = apps.get_model("channels", "TelegramChat")
    chat_bot = TelegramChat.objects.filter(pk=OuterRef("chat_id")).values("bot")[:1]
    OutboxMessage.objects.update(bot=Subquery(chat_bot))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_coarse_times"),
        ("channels", "0003_coarse_times"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="telegramchat", name="unique_telegram_chat"),
        migrations.AddConstraint(
            model_name="telegramchat",
            constraint=models.UniqueConstraint(
                fields=("pseudonym", "bot"), name="unique_telegram_chat"
            ),
        ),
        # With a database default: a process of the previous version, still running during
        # the upgrade, can go on queueing rows (the sender fills in their bot).
        migrations.AddField(
            model_name="outboxmessage",
            name="bot",
            field=models.CharField(db_default="", max_length=40),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("held", "Held"),
                ],
                default="queued",
                max_length=8,
            ),
        ),
        migrations.RunPython(bot_of_each_row, migrations.RunPython.noop),
        # No query reads not_before alone: one index less to write per reply.
        migrations.AlterField(
            model_name="outboxmessage",
            name="not_before",
            field=models.DateTimeField(),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(("status", "queued")),
                fields=["bot", "id"],
                name="outbox_queued",
            ),
        ),
    ]
