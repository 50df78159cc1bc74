"""The service's health in figures, without personal data: what the supervisors' health page
(console) and the Prometheus endpoint (web.metrics_view) both read. Plain functions, no views.

Every figure is a count, an age or a yes/no: no case, chat, person or text. Each part is read
on its own, so a database or Redis that is away gives "down" for that part and the rest still
shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Q
from django.utils import timezone

from safepassage.analytics.models import TaskRun
from safepassage.cases import workflow
from safepassage.cases.models import Case

PURGE_TASK = "retention-purge"


@dataclass(frozen=True)
class Backlog:
    """One push channel's outgoing queue for one bot."""

    bot: str
    depth: int  # waiting or being sent (not yet sent, not failed; held chats apart)
    oldest_age_seconds: float | None  # the oldest waiting row (to the minute)
    held: int = 0  # waiting for a chat that blocked the bot to write again


@dataclass(frozen=True)
class Health:
    database: bool
    migrations_applied: bool | None  # None when the database could not be asked
    redis: str  # "ok", "down" or "off" (not configured)
    backlogs: list[Backlog] = field(default_factory=list)
    queue_by_urgency: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    last_purge_at: datetime | None = None
    last_purge_ok: bool | None = None
    task_lag_seconds: dict[str, float] = field(default_factory=dict)
    # TODO(flood): parked senders are counted here once the flood defence records them.
    parked_senders: int | None = None


# A push channel registers how to read its backlog at start-up (channels.apps), as it
# registers its delivery with cases.delivery: this module never imports a channel.
_backlog_sources: list[Callable[[], list[Backlog]]] = []


def register_backlog(source: Callable[[], list[Backlog]]) -> None:
    if source not in _backlog_sources:
        _backlog_sources.append(source)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        connection.close()
        return False
    return True


_migrated = False


def migrations_applied() -> bool:
    """No migration of this version is left to apply. Once true it stays true in this process
    (migrations are only ever added), so a readiness probe costs one query after that."""
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrated


def redis_state() -> str:
    url = getattr(settings, "SAFEPASSAGE_REDIS_URL", "")
    if not url:
        return "off"
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError:
        return "down"
    return "ok"


def queue_by_urgency() -> tuple[dict[str, int], int]:
    """Open cases in the queue by urgency band (the bands of triage.urgency_label: now from 60,
    days from 30), and how many are past their reply target."""
    now = timezone.now()
    bands = Case.objects.filter(
        status__in=workflow.OPEN_STATUSES, merged_into__isnull=True
    ).aggregate(
        now=Count("id", filter=Q(urgency__gte=60)),
        days=Count("id", filter=Q(urgency__gte=30, urgency__lt=60)),
        later=Count("id", filter=Q(urgency__lt=30)),
        overdue=Count("id", filter=Q(reply_due_at__lt=now)),
    )
    overdue = int(bands.pop("overdue") or 0)
    return {k: int(v or 0) for k, v in bands.items()}, overdue


def task_runs() -> tuple[datetime | None, bool | None, dict[str, float]]:
    """The last purge, and per periodic task how far past its period it is (0: on time)."""
    now = time.time()
    lag: dict[str, float] = {}
    last_purge: datetime | None = None
    last_ok: bool | None = None
    for run in TaskRun.objects.all():
        due = run.finished_at.timestamp() + run.every_seconds
        lag[run.name] = max(now - due, 0.0)
        if run.name == PURGE_TASK:
            last_purge, last_ok = run.finished_at, run.ok
    return last_purge, last_ok, lag


def gather() -> Health:
    redis = redis_state()
    if not database_ok():
        return Health(database=False, migrations_applied=None, redis=redis)
    try:
        backlogs = [b for source in _backlog_sources for b in source()]
        queue, overdue = queue_by_urgency()
        last_purge, last_ok, lag = task_runs()
        migrated = migrations_applied()
    except DatabaseError:
        connection.close()
        return Health(database=False, migrations_applied=None, redis=redis)
    return Health(
        database=True,
        migrations_applied=migrated,
        redis=redis,
        backlogs=backlogs,
        queue_by_urgency=queue,
        overdue=overdue,
        last_purge_at=last_purge,
        last_purge_ok=last_ok,
        task_lag_seconds=lag,
    )
