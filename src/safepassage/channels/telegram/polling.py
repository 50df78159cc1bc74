"""Long polling (no public address needed) and the background threads of ``safepassage serve``.

The offset sent to ``getUpdates`` moves past an update only after :func:`batch.apply_all`
committed it: Telegram confirms an update when a later offset is requested, so an update is
never confirmed before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence

import structlog
from django.db import close_old_connections
from telegram import Update
from telegram.error import RetryAfter, TelegramError

from safepassage import config
from safepassage.channels.telegram import batch, bots
from safepassage.channels.telegram.sender import Sender, retry_seconds
from safepassage.conversations import catalog

log = structlog.get_logger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


def poll(slug: str, stop: threading.Event, timeout: int = 25) -> None:
    loop = asyncio.new_event_loop()
    bot = bots.client(slug, read_timeout=timeout + 10)
    offset: int | None = None
    try:
        loop.run_until_complete(bot.initialize())
        loop.run_until_complete(bot.delete_webhook(drop_pending_updates=False))
        while not stop.is_set():
            try:
                updates = loop.run_until_complete(
                    bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
                )
            except RetryAfter as exc:
                stop.wait(retry_seconds(exc))
                continue
            except TelegramError as exc:
                log.warning("telegram.poll_error", bot=slug, error=type(exc).__name__)
                stop.wait(3.0)
                continue
            committed, failure = _apply(slug, updates)
            if committed is not None:
                offset = committed
            if failure is not None:  # the database is away, or a bug: retry from the offset
                log.error("telegram.poll_apply_failed", bot=slug, error=type(failure).__name__)
                close_old_connections()
                stop.wait(2.0)
    finally:
        with contextlib.suppress(TelegramError):
            loop.run_until_complete(bot.shutdown())
        loop.close()


def _apply(slug: str, updates: Sequence[Update]) -> tuple[int | None, BaseException | None]:
    """One batch, one transaction (batch.py). The offset past the updates now committed (None
    when none is), and what stopped the rest: the offset never passes an uncommitted one."""
    pending = [batch.Pending(slug, update) for update in updates]
    try:
        batch.apply_all(pending)
    except Exception as exc:  # a bug must not end this bot's poller
        return None, exc
    offset = None
    for item in pending:
        failure = item.done.exception()
        if failure is not None:
            return offset, failure
        offset = item.update.update_id + 1
    return offset, None


def set_webhooks() -> None:
    cfg = config.get()
    loop = asyncio.new_event_loop()
    try:
        for slug in bots.tokens():
            bot = bots.client(slug)
            loop.run_until_complete(
                bot.set_webhook(
                    url=f"{cfg.telegram_webhook_url}/tg/{slug}/webhook",
                    secret_token=cfg.telegram_webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                    max_connections=40,
                )
            )
            loop.run_until_complete(bot.shutdown())
    finally:
        loop.close()


def describe_bots() -> None:
    """The bot's description in each language we speak (catalog id chat.tg.description): the
    first thing a searched phone shows about the bot, so it must look harmless."""
    loop = asyncio.new_event_loop()
    try:
        for slug in bots.tokens():
            bot = bots.client(slug)
            for code in catalog.languages():
                text = catalog.text(code, "chat.tg.description")
                loop.run_until_complete(bot.set_my_description(text, language_code=code))
                loop.run_until_complete(bot.set_my_short_description(text, language_code=code))
            loop.run_until_complete(bot.shutdown())
    finally:
        loop.close()


def start_background(stop: threading.Event, *, senders: bool = True) -> list[threading.Thread]:
    """The sender of every bot, and a poller per bot unless a webhook URL is configured."""
    threads: list[threading.Thread] = []
    if not bots.enabled():
        return threads
    cfg = config.get()
    try:
        describe_bots()
        if cfg.telegram_webhook_url:
            set_webhooks()
    except TelegramError as exc:  # Telegram unreachable now: intake and the outbox still run
        log.error("telegram.setup_failed", error=type(exc).__name__)
    for slug in bots.tokens():
        if senders:
            sender = Sender(slug)
            threads.append(threading.Thread(target=sender.run, args=(stop,), daemon=True))
        if not cfg.telegram_webhook_url:
            threads.append(threading.Thread(target=poll, args=(slug, stop), daemon=True))
    for thread in threads:
        thread.start()
    return threads
