"""Exactly-once intake: an update is applied and remembered in one transaction.

The caller acknowledges (webhook 200, polling offset) only after :func:`do_apply` returned, so
a crash before the commit means Telegram delivers the update again, and a crash after it means
the redelivered ``update_id`` is found and dropped.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import DatabaseError, IntegrityError, transaction
from telegram import Update

from safepassage.channels.models import TelegramUpdate
from safepassage.channels.telegram import bots, dialogue

log = structlog.get_logger(__name__)


class NotAnUpdate(ValueError):
    """The body parsed as JSON but is not a Telegram Update."""


def parse(slug: str, data: Any) -> Update:
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise NotAnUpdate("no integer update_id")
    try:
        update = Update.de_json(data, bots.parser(slug))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotAnUpdate(type(exc).__name__) from exc
    if update is None:
        raise NotAnUpdate("empty")
    return update


def do_apply(slug: str, update: Update) -> bool:
    """Apply ``update`` once. False when it was applied before (a redelivery)."""
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    TelegramUpdate.objects.create(bot=slug, update_id=update.update_id)
            except IntegrityError:
                return False
            dialogue.handle(slug, update)
        return True
    except DatabaseError:
        raise  # not committed: no ack, Telegram delivers it again
    except Exception as exc:
        # A bug must not make Telegram redeliver the same update forever: remember it as seen.
        log.error(
            "telegram.update_failed", bot=slug, update_id=update.update_id, error=type(exc).__name__
        )
        with transaction.atomic():
            TelegramUpdate.objects.get_or_create(bot=slug, update_id=update.update_id)
        return True
