"""Group commit for intake: updates that arrive together are applied in one transaction.

Telegram counts an update delivered only when we answer 200 (or, polling, when a later offset
is asked for), so every update waits for its commit. Committing each one alone costs a
transaction per update; an applier thread instead takes every update waiting at that moment
(up to ``MAX_BATCH``), remembers their ids in one statement, applies them in arrival order in
one transaction, commits once and releases all their waiters.

A failure inside a batch (a bug, data the database refuses; on SQLite also a duplicate
committed by another process in the meantime, which PostgreSQL's ``ON CONFLICT`` waits for
instead) rolls the whole batch back and applies its updates one by one with
:func:`intake.do_apply`, so one bad update costs its neighbours time, never their effect. A
database that is away fails every waiter: none is acknowledged, and Telegram delivers again.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import Error, connection, transaction
from telegram import Update

from safepassage import config, fastsave, metrics
from safepassage.channels.models import TelegramUpdate
from safepassage.channels.telegram import bots, deferral, dialogue, intake, outbox, shape

log = structlog.get_logger(__name__)
MAX_BATCH = 64
# After the first update, wait this long for others: without it a batch holds only what
# arrived during the previous commit, often one or two updates.
GATHER_SECONDS = 0.002
# ...but stop as soon as the updates stop coming: Telegram's connections answered by the last
# commit send their next updates within a fraction of a millisecond, and waiting out the full
# 2 ms after that burst only idled the applier (measured: about 8% more updates per second).
GATHER_GAP_SECONDS = 0.0005


@dataclass
class Pending:
    slug: str
    update: Update
    done: Future[bool] = field(default_factory=Future)
    # Asked through a webhook: the answer to its callback query may ride on the 200
    # (outbox.answers_in_reply); ``answer`` holds it once the update committed.
    in_reply: bool = False
    answer: dict[str, Any] | None = None


class _Rollback(Exception):
    """Raised inside the batch transaction to undo it (the cause is chained)."""


def apply_all(items: list[Pending], behind: int = 0) -> None:
    """Apply ``items`` in one transaction and settle each one's future: True when applied (or
    deferred: deferral.py), False when it was a redelivery; the database's exception when
    nothing could be stored. ``behind``: updates queued after these (intake's load)."""
    if not items:
        return
    busy = len(items) + behind >= deferral.OVERLOAD_WAITING
    try:
        results = _in_one_transaction(items, busy)
    except _Rollback as exc:
        log.warning("telegram.batch_retried", error=type(exc.__cause__).__name__)
        results = None
    except Error as exc:
        if not _connection_usable():
            connection.close()
            for item in items:
                _settle(item, exc)
            return
        # Refused data or a racing duplicate: sort it out one by one.
        log.warning("telegram.batch_retried", error=type(exc).__name__)
        results = None
    if results is None:
        _one_by_one(items)
        return
    for item, applied in zip(items, results, strict=True):
        _settle(item, applied)


def _settle(item: Pending, outcome: bool | BaseException) -> None:
    """A waiter that gave up (its request was cancelled) has nobody left to tell."""
    if not isinstance(outcome, BaseException):
        counted(item.slug, outcome)
    if item.done.done():
        return
    if isinstance(outcome, BaseException):
        item.done.set_exception(outcome)
    else:
        item.done.set_result(outcome)


def counted(slug: str, applied: bool) -> bool:
    metrics.UPDATES_APPLIED.labels(slug, "applied" if applied else "duplicate").inc()
    return applied


def _in_one_transaction(items: list[Pending], busy: bool) -> list[bool]:
    keys = [(bots.bot_id(item.slug), item.update.update_id) for item in items]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            fresh = _remember_new(keys)
        else:
            fresh = _remember_after_lookup(keys)
        todo = [
            (i.slug, i.update)
            for i, new in zip(items, fresh, strict=True)
            if new and shape.acceptable(i.slug, i.update)
        ]
        # Under overload a parked sender's updates are stored to be applied later.
        todo = deferral.split(todo, busy)
        try:
            with (
                outbox.answers_in_reply(_queries(items)) as answers,
                outbox.deferred(),
                dialogue.batch(todo),
                fastsave.deferred(),
            ):
                for slug, update in todo:
                    dialogue.handle(slug, update)
        except Error:
            raise
        except Exception as exc:
            raise _Rollback from exc
    for item, new in zip(items, fresh, strict=True):  # committed: the answers may go
        query = item.update.callback_query
        if new and item.in_reply and query is not None:
            item.answer = answers.pop(query.id, None)
    return fresh


def _queries(items: list[Pending]) -> set[str]:
    """The callback queries whose answers the webhook's 200 may carry."""
    return {
        item.update.callback_query.id
        for item in items
        if item.in_reply and item.update.callback_query is not None
    }


def _remember_after_lookup(keys: list[tuple[str, int]]) -> list[bool]:
    """Which keys are new (the same key twice: the second is a redelivery); record those."""
    by_bot: dict[str, set[int]] = {}
    for bot, update_id in keys:
        by_bot.setdefault(bot, set()).add(update_id)
    seen: set[tuple[str, int]] = set()
    for bot, update_ids in by_bot.items():
        found = TelegramUpdate.objects.filter(bot=bot, update_id__in=update_ids)
        seen.update(found.values_list("bot", "update_id"))
    fresh: list[bool] = []
    for key in keys:
        fresh.append(key not in seen)
        seen.add(key)
    # Sorted, so that two processes inserting the same redelivered ids cannot deadlock.
    new_keys = sorted(key for key, new in zip(keys, fresh, strict=True) if new)
    TelegramUpdate.objects.bulk_create(
        [TelegramUpdate(bot=bot, update_id=uid) for bot, uid in new_keys]
    )
    return fresh


def _remember_new(keys: list[tuple[str, int]]) -> list[bool]:
    """The same in one statement on PostgreSQL, which also waits for a racing batch that
    holds one of the keys instead of failing on it. (A lookup first would also depend on
    table statistics: on a young table PostgreSQL read every row of the bot to find eight.)"""
    unique = sorted(set(keys))  # in key order: two processes cannot deadlock
    stamp_field: Any = TelegramUpdate._meta.get_field("received_at")
    stamp = stamp_field.get_db_prep_save(stamp_field.pre_save(TelegramUpdate(), True), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            _remember_statement(len(unique)),
            [v for bot, uid in unique for v in (bot, uid, stamp)],
        )
        inserted = {(bot, int(uid)) for bot, uid in cursor.fetchall()}
    fresh: list[bool] = []
    for key in keys:
        fresh.append(key in inserted)
        inserted.discard(key)  # the same key again in this batch: a redelivery
    return fresh


@functools.cache
def _remember_statement(count: int) -> str:
    """Names from the model, quoted by the connection; every value a placeholder."""
    quote = connection.ops.quote_name
    bot, update_id, received_at = quote("bot"), quote("update_id"), quote("received_at")
    return (
        f"INSERT INTO {quote(TelegramUpdate._meta.db_table)}"  # noqa: S608 (see docstring)
        f" ({bot}, {update_id}, {received_at})"
        f" VALUES {', '.join(['(%s, %s, %s)'] * count)}"
        f" ON CONFLICT ({bot}, {update_id}) DO NOTHING RETURNING {bot}, {update_id}"
    )


def _one_by_one(items: list[Pending]) -> None:
    """After the first update that cannot be stored (the database went away), none of the rest
    is tried: a later update of the same chat must not be committed before it."""
    for n, item in enumerate(items):
        try:
            _settle(item, intake.do_apply(item.slug, item.update))
        except Error as exc:
            connection.close()
            for rest in items[n:]:
                _settle(rest, exc)
            return


def _connection_usable() -> bool:
    try:
        return connection.connection is not None and connection.is_usable()
    except Error:
        return False


class Applier:
    """Applier threads sharing one queue. Each thread keeps its own database connection."""

    def __init__(self, threads: int) -> None:
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, name=f"tg-intake-{n}", daemon=True)
            for n in range(threads)
        ]
        self._drainer = deferral.Drainer()
        for thread in self._threads:
            thread.start()

    def submit(self, slug: str, update: Update) -> Future[bool]:
        return self.enqueue(slug, update).done

    def enqueue(self, slug: str, update: Update, *, in_reply: bool = False) -> Pending:
        """``in_reply``: the caller answers a webhook and may carry ``Pending.answer``."""
        item = Pending(slug, update, in_reply=in_reply)
        self._queue.put(item)
        return item

    def stop(self) -> None:
        """Finish what was submitted, close the threads' connections, end the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    apply_all(batch, self._queue.qsize())
                except Exception as exc:  # never leave a waiter hanging
                    log.error("telegram.batch_failed", error=type(exc).__name__)
                    connection.close()
                    for item in batch:
                        _settle(item, exc)
        finally:
            connection.close()

    def _next_batch(self) -> list[Pending] | None:
        while True:
            if self._drainer.due(idle=False):
                self._drainer.run()  # under a sustained flood, deferred updates still move
            try:
                first = self._queue.get(timeout=deferral.DRAIN_IDLE_SECONDS)
                break
            except queue.Empty:
                if self._drainer.due(idle=True):
                    self._drainer.run()  # idle: apply what was deferred
        if first is None:
            return None
        batch = [first]
        gather_until = time.monotonic() + GATHER_SECONDS
        while len(batch) < MAX_BATCH:
            wait = min(gather_until - time.monotonic(), GATHER_GAP_SECONDS)
            try:
                item = self._queue.get(timeout=max(wait, 0))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # the stop signal is for after this batch
                break
            batch.append(item)
        return batch


# The process's applier, started on first use.
_batches: Applier | None = None
_lock = threading.Lock()


def _threads() -> int:
    size = config.get().telegram_intake_threads
    return 1 if size < 0 else size


def applier() -> Applier:
    """The group-commit applier (at least one thread: the ASGI lane has none of its own)."""
    global _batches
    with _lock:
        if _batches is None:
            _batches = Applier(max(_threads(), 1))
        return _batches


def stop_applier() -> None:
    global _batches
    with _lock:
        if _batches is not None:
            _batches.stop()
            _batches = None


def do_apply_from_webhook(slug: str, update: Update) -> dict[str, Any] | None:
    """Apply on a long-lived applier thread, together with the updates that arrived at the same
    moment (:mod:`batch`). The request still waits for the commit before answering, and
    returns the Bot API call its 200 may carry (``Pending.answer``).
    ``TELEGRAM_INTAKE_THREADS=0`` applies on the caller's thread instead (tests)."""
    if _threads() == 0:
        counted(slug, intake.do_apply(slug, update))
        return None
    item = applier().enqueue(slug, update, in_reply=True)
    item.done.result()
    return item.answer
