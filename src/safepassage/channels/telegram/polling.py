"""Long polling (no public address needed) and the background threads of ``safepassage serve``.

The offset sent to ``getUpdates`` moves past an update only after :func:`batch.apply_all`
committed it: Telegram confirms an update when a later offset is requested, so an update is
never confirmed before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from django.db import close_old_connections, connections
from telegram import Bot, Update
from telegram.error import RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from safepassage import config
from safepassage.analytics import service
from safepassage.channels.telegram import batch, bots, deferral, intake
from safepassage.channels.telegram.sender import DATABASE_AWAY, Sender, retry_seconds
from safepassage.conversations import catalog
from safepassage.jobs import leases
from safepassage.jobs.worker import worker_id

log = structlog.get_logger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


def lease_name(slug: str) -> str:
    return f"telegram-poll:{slug}"


def _hold(slug: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew this bot's polling lease; False while another process holds it, or
    while the database cannot say (nothing polled then could be committed anyway)."""
    try:
        return leases.acquire(lease_name(slug), holder, ttl)
    except DATABASE_AWAY:
        close_old_connections()
        return False


def poll(slug: str, stop: threading.Event, timeout: int = 25) -> None:
    """Long polling for one bot, by one process of the whole installation at a time: each
    ``getUpdates`` is made under the bot's lease (jobs.leases), renewed before every call and
    longer than two calls take, so a second ``serve`` or ``sender`` waits, and takes over once
    the holder stopped (it gives the lease up) or died (the lease runs out)."""
    holder = worker_id()
    ttl = timedelta(seconds=2 * timeout + 15)
    loop = asyncio.new_event_loop()
    bot = bots.client(slug, read_timeout=timeout + 10)
    offset: int | None = None
    started = False
    drainer = deferral.Drainer()
    try:
        while not stop.is_set():
            if not _hold(slug, holder, ttl):
                started = False  # another process polled meanwhile: its offset, not ours
                stop.wait(min(5.0, timeout / 2 + 0.5))
                continue
            if not started:
                try:
                    loop.run_until_complete(bot.initialize())
                    loop.run_until_complete(bot.delete_webhook(drop_pending_updates=False))
                except TelegramError as exc:
                    log.warning("telegram.poll_error", bot=slug, error=type(exc).__name__)
                    stop.wait(3.0)
                    continue
                started, offset = True, None
            try:
                updates = loop.run_until_complete(_fetch(bot, offset, timeout))
                service.mark(service.telegram_contact(slug))
            except RetryAfter as exc:
                stop.wait(retry_seconds(exc))
                continue
            except bots.UnreadableAnswer:
                offset = _past_unreadable(loop, bot, slug, offset)
                stop.wait(0.5)
                continue
            except Exception as exc:  # whatever the answer held, the poller goes on
                log.warning("telegram.poll_error", bot=slug, error=type(exc).__name__)
                stop.wait(3.0)
                continue
            committed, failure = _apply(slug, _readable(slug, updates))
            if committed is not None:
                offset = committed
            quiet = len(updates) < deferral.OVERLOAD_WAITING
            if failure is None and drainer.due(idle=quiet):
                drainer.run()  # intake keeps up: apply what was deferred (deferral.py)
            if failure is not None:  # the database is away, or a bug: retry from the offset
                log.error("telegram.poll_apply_failed", bot=slug, error=type(failure).__name__)
                close_old_connections()
                stop.wait(2.0)
    finally:
        with contextlib.suppress(Exception):
            leases.release(lease_name(slug), holder)  # the next poller need not wait
        with contextlib.suppress(TelegramError):
            loop.run_until_complete(bot.shutdown())
        loop.close()
        connections.close_all()  # this thread's own: nothing else will close them


async def _fetch(bot: Bot, offset: int | None, timeout: int, limit: int = 100) -> list[Any]:
    """``getUpdates`` answered as raw JSON (parsed safely: bots.UnreadableAnswer), so that one
    update PTB cannot build is skipped (:func:`_readable`) instead of failing the whole answer
    again and again, which stopped this bot's intake for good."""
    kwargs: dict[str, Any] = {
        "timeout": timeout,
        "limit": limit,
        "allowed_updates": ALLOWED_UPDATES,
    }
    if offset is not None:
        kwargs["offset"] = offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBUserWarning)  # "use Bot.get_updates": it builds all
        result = await bot.do_api_request("getUpdates", api_kwargs=kwargs)
    return result if isinstance(result, list) else []


def _readable(slug: str, raw: Sequence[Any]) -> list[Update | int]:
    """Each update built, or (its id) skipped with one log line when it cannot be."""
    items: list[Update | int] = []
    for data in raw:
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
            log.info("telegram_update_refused", reason="no update id", bot=slug)
            continue
        try:
            items.append(intake.parse(slug, data))
        except intake.NotAnUpdate as exc:
            log.info("telegram_update_refused", reason=f"unreadable ({exc})", bot=slug)
            items.append(update_id)
    return items


def _past_unreadable(
    loop: asyncio.AbstractEventLoop, bot: Bot, slug: str, offset: int | None
) -> int | None:
    """An answer to ``getUpdates`` that is not JSON we can parse (nested beyond any real
    update). Fetch the first waiting update alone: readable, it is applied; unreadable too, it
    is the culprit and is skipped (the offset confirms it to Telegram). Without a known offset
    nothing can be skipped safely: the poller waits and tries again."""
    log.info("telegram_update_refused", reason="unreadable answer", bot=slug)
    try:
        first = loop.run_until_complete(_fetch(bot, offset, 0, limit=1))
    except bots.UnreadableAnswer:
        return offset + 1 if offset is not None else None
    except TelegramError:
        return offset
    committed, _failure = _apply(slug, _readable(slug, first))
    return committed if committed is not None else offset


def _apply(slug: str, items: Sequence[Update | int]) -> tuple[int | None, BaseException | None]:
    """One batch, one transaction (batch.py). The offset past the updates now committed or
    skipped (None when none is), and what stopped the rest: the offset never passes an
    uncommitted one."""
    pending = {id(item): batch.Pending(slug, item) for item in items if isinstance(item, Update)}
    try:
        batch.apply_all(list(pending.values()))
    except Exception as exc:  # a bug must not end this bot's poller
        return None, exc
    offset = None
    for item in items:
        if isinstance(item, int):
            offset = item + 1  # unreadable: skipped
            continue
        failure = pending[id(item)].done.exception()
        if failure is not None:
            return offset, failure
        offset = item.update_id + 1
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
