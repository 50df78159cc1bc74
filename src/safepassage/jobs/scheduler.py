"""The scheduler: each periodic job is enqueued exactly once per due time, however many
schedulers run (``serve`` on several machines, or ``safepassage scheduler`` twice).

Due times are the multiples of a job's period since the epoch. For the current one, a
scheduler inserts ``ScheduledRun(job, due_at)`` (unique) and, in the same transaction, enqueues
the task: on the database backend the task row commits with the run row or not at all; on a
backend outside the database (RQ) the task is enqueued once the run row committed. A second
scheduler's insert waits for the first's transaction and inserts nothing (ON CONFLICT DO
NOTHING), so it enqueues nothing. A scheduler that starts in the middle of a period enqueues
that period's run at once if nobody did, so a restart never skips a due time and never repeats
one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
    transaction,
)
from django.db.models import Max
from django.utils import timezone
from django_tasks import task_backends
from django_tasks.base import Task

from safepassage.jobs.backend import DatabaseBackend
from safepassage.jobs.models import ScheduledRun
from safepassage.jobs.worker import worker_id

log = structlog.get_logger("safepassage.jobs")
KEPT = timedelta(hours=1)


@dataclass(frozen=True)
class Job:
    name: str
    task: Task[Any, Any]
    every: float  # seconds
    args: tuple[Any, ...] = field(default=())


def due_time(every: float, now: datetime) -> datetime:
    """The latest multiple of ``every`` seconds since the epoch, at or before ``now``."""
    seconds = int(now.timestamp() // every * every)
    return datetime.fromtimestamp(seconds, tz=UTC)


def tick(jobs: Sequence[Job], scheduler: str, now: datetime | None = None) -> list[str]:
    """Enqueue every job whose current due time has no run yet; the names enqueued here."""
    now = now or timezone.now()
    enqueued = []
    for job in jobs:
        due = due_time(job.every, now)
        in_database = isinstance(task_backends[job.task.backend], DatabaseBackend)
        with transaction.atomic():
            run = _claim(job.name, due, scheduler)
            if run is None:
                continue  # another scheduler (or this one, earlier) has this due time
            if in_database:
                run.task_id = job.task.enqueue(*job.args).id
                run.save(update_fields=["task_id"])
            else:
                transaction.on_commit(_enqueuer(job))
        enqueued.append(job.name)
    return enqueued


def _claim(job: str, due: datetime, scheduler: str) -> ScheduledRun | None:
    """The run row of ``job`` at ``due``, inserted here; None when it exists. ON CONFLICT DO
    NOTHING rather than a failed INSERT: a due time is taken at nearly every tick (a tick each
    second, periods of minutes), and PostgreSQL logs each failed statement as an ERROR."""
    field: Any = ScheduledRun._meta.get_field("due_at")
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_statement(), [job, field.get_db_prep_save(due, connection), scheduler]
        )
        row = cursor.fetchone()
    return (
        None if row is None else ScheduledRun(id=row[0], job=job, due_at=due, scheduler=scheduler)
    )


@functools.cache
def _claim_statement() -> str:
    """Names from the model, quoted by the connection; every value a placeholder."""
    quote = connection.ops.quote_name
    job, due_at = quote("job"), quote("due_at")
    return (
        f"INSERT INTO {quote(ScheduledRun._meta.db_table)}"  # noqa: S608 (see docstring)
        f" ({job}, {due_at}, {quote('task_id')}, {quote('scheduler')})"
        f" VALUES (%s, %s, '', %s) ON CONFLICT ({job}, {due_at}) DO NOTHING RETURNING {quote('id')}"
    )


def _enqueuer(job: Job) -> Callable[[], None]:
    def enqueue() -> None:
        job.task.enqueue(*job.args)

    return enqueue


def run(stop: threading.Event, jobs: Callable[[], Sequence[Job]], every: float = 1.0) -> None:
    """Tick every second until ``stop`` is set."""
    me = worker_id()
    log.info("scheduler_started", jobs=[job.name for job in jobs()])
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                tick(jobs(), me)
            except (OperationalError, InterfaceError) as exc:  # the database is away: wait
                log.warning("scheduler_waits", error=type(exc).__name__)
                close_old_connections()
            except Exception as exc:  # a bug in one tick must not end the scheduler
                log.error("scheduler_failed", error=type(exc).__name__)
            stop.wait(every)
    finally:
        connections.close_all()


def prune(now: datetime | None = None) -> int:
    """Past due times serve no one once an hour old, except each job's latest: it is what stops
    a job with a longer period from running again within that period."""
    cutoff = (now or timezone.now()) - KEPT
    latest = ScheduledRun.objects.values("job").annotate(newest=Max("due_at"))
    deleted = 0
    for row in latest:
        gone, _ = ScheduledRun.objects.filter(
            job=row["job"], due_at__lt=min(cutoff, row["newest"])
        ).delete()
        deleted += gone
    return deleted
