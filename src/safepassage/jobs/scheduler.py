"""The scheduler: each periodic job is enqueued exactly once per due time, however many
schedulers run (``serve`` on several machines, or ``safepassage scheduler`` twice).

Due times are the multiples of a job's period since the epoch. For the current one, a
scheduler inserts ``ScheduledRun(job, due_at)`` (unique) and, in the same transaction, enqueues
the task: on the database backend the task row commits with the run row or not at all; on a
backend outside the database (RQ) the task is enqueued once the run row committed. A second
scheduler's insert waits for the first's transaction and fails on the key, so it enqueues
nothing. A scheduler that starts in the middle of a period enqueues that period's run at once
if nobody did, so a restart never skips a due time and never repeats one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
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
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(job=job.name, due_at=due, scheduler=scheduler)
                if in_database:
                    run.task_id = job.task.enqueue(*job.args).id
                    run.save(update_fields=["task_id"])
                else:
                    transaction.on_commit(_enqueuer(job))
        except IntegrityError:
            continue  # another scheduler (or this one, earlier) has this due time
        enqueued.append(job.name)
    return enqueued


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
