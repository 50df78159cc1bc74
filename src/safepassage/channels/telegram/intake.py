"""Exactly-once intake: an update is applied and remembered in one transaction.

The caller acknowledges (webhook 200, polling offset) only after :func:`do_apply` returned, so
a crash before the commit means Telegram delivers the update again, and a crash after it means
the redelivered ``update_id`` is found and dropped.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from telegram import Update

from safepassage import config
from safepassage.channels.models import TelegramUpdate
from safepassage.channels.telegram import bots, dialogue

log = structlog.get_logger(__name__)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


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
            dialogue.handle(slug, update)
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


def _executor() -> ThreadPoolExecutor | None:
    global _pool
    size = config.get().telegram_intake_threads
    if size < 0:
        size = 8 if connection.vendor == "postgresql" else 1
    if size == 0:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tg-intake")
        return _pool


def _on_intake_thread(slug: str, update: Update) -> bool:
    try:
        return do_apply(slug, update)
    except DatabaseError:
        connection.close()  # this thread's connection may be dead: open a new one next time
        raise


def do_apply_from_webhook(slug: str, update: Update) -> bool:
    """Apply on a long-lived intake thread. Its database connection outlives the request (no
    connect per update), and on SQLite one thread writes in turn instead of many threads
    sleeping on the write lock. The request still waits for the commit before answering."""
    pool = _executor()
    if pool is None:
        return do_apply(slug, update)
    return pool.submit(_on_intake_thread, slug, update).result()
