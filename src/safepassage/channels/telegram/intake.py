"""Exactly-once intake: an update is applied and remembered in one transaction.

The caller acknowledges (webhook 200, polling offset) only after :func:`do_apply` returned, so
a crash before the commit means Telegram delivers the update again, and a crash after it means
the redelivered ``update_id`` is found and dropped.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import DatabaseError, DataError, IntegrityError, transaction
from telegram import Update

from safepassage import metrics
from safepassage.channels.models import TelegramUpdate
from safepassage.channels.telegram import bots, deferral, dialogue, shape

log = structlog.get_logger(__name__)


class NotAnUpdate(ValueError):
    """The body parsed as JSON but is not a Telegram Update."""


def parse(slug: str, data: Any) -> Update:
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise NotAnUpdate("no integer update_id")
    if not 0 <= update_id < 2**63:
        raise NotAnUpdate("update_id out of range")
    try:
        update = Update.de_json(data, bots.parser(slug))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError) as exc:
        # OverflowError/OSError: a date field outside what the platform's clock can represent.
        raise NotAnUpdate(type(exc).__name__) from exc
    if update is None:
        raise NotAnUpdate("empty")
    metrics.UPDATES_RECEIVED.labels(slug).inc()
    return update


def do_apply(slug: str, update: Update) -> bool:
    """Apply ``update`` once. False when it was applied before (a redelivery)."""
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    TelegramUpdate.objects.create(bot=bots.bot_id(slug), update_id=update.update_id)
            except IntegrityError:
                return False
            if shape.acceptable(slug, update):
                # Alone, intake is not overloaded; but a chat with deferred updates waits.
                for each_slug, each in deferral.split([(slug, update)], busy=False):
                    dialogue.handle(each_slug, each)
        return True
    except (IntegrityError, DataError) as exc:
        # Data the database refuses will be refused again on every redelivery: like a bug below,
        # remember the update as seen instead of making Telegram retry it forever.
        return _seen_after_failure(slug, update, exc)
    except DatabaseError:
        raise  # not committed (the database is away): no ack, Telegram delivers it again
    except Exception as exc:
        # A bug must not make Telegram redeliver the same update forever: remember it as seen.
        return _seen_after_failure(slug, update, exc)


def _seen_after_failure(slug: str, update: Update, exc: Exception) -> bool:
    log.error(
        "telegram.update_failed", bot=slug, update_id=update.update_id, error=type(exc).__name__
    )
    with transaction.atomic():
        TelegramUpdate.objects.get_or_create(bot=bots.bot_id(slug), update_id=update.update_id)
    return True
