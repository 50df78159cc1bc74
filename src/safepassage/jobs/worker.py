"""The worker of the database backend: claims one ready task at a time and runs it.

Several workers (``safepassage worker`` processes, the worker thread of ``serve``) share the
queue: a claim takes the oldest ready row with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite
has one writer) and marks it running in the same transaction, so no task is run twice. The
task runs outside any transaction. A worker that dies mid-task leaves its row running; the
prune job (safepassage.tasks) marks it failed after ``LOST_AFTER``: every periodic task runs
again at its next due time anyway.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from datetime import timedelta
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
from django.db.models import Q
from django.utils import timezone
from django_tasks.utils import get_module_path, get_random_id, normalize_json

from safepassage.jobs.backend import task_of
from safepassage.jobs.models import QueuedTask, TaskStatus

log = structlog.get_logger("safepassage.jobs")
LOST_AFTER = timedelta(hours=1)
KEPT = timedelta(hours=1)


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{get_random_id()[:8]}"


def claim(worker: str, queues: Sequence[str] = ("default",)) -> QueuedTask | None:
    now = timezone.now()
    with transaction.atomic():
        ready = (
            QueuedTask.objects.filter(status=TaskStatus.READY, queue_name__in=list(queues))
            .filter(Q(run_after__isnull=True) | Q(run_after__lte=now))
            .order_by("-priority", "enqueued_at")
        )
        if connection.vendor == "postgresql":
            ready = ready.select_for_update(skip_locked=True)
        row = ready.first()
        if row is None:
            return None
        taken = QueuedTask.objects.filter(pk=row.pk, status=TaskStatus.READY).update(
            status=TaskStatus.RUNNING, started_at=now, worker_id=worker
        )
        if not taken:  # another worker's (SQLite, between our read and write: never twice)
            return None
    return row


def run_one(worker: str, queues: Sequence[str] = ("default",), alias: str = "default") -> bool:
    """Claim and run one task; False when none is ready."""
    row = claim(worker, queues)
    if row is None:
        return False
    status, error, value = TaskStatus.SUCCESSFUL, "", None
    try:
        value = normalize_json(task_of(row, alias).call(*row.args, **row.kwargs))
    except Exception as exc:  # recorded by class name only; the worker goes on
        status, error = TaskStatus.FAILED, get_module_path(type(exc))[:200]
        log.error("task_failed", task=row.task_path.rsplit(".", 1)[-1], error=type(exc).__name__)
    QueuedTask.objects.filter(pk=row.pk).update(
        status=status, error=error, return_value=value, finished_at=timezone.now()
    )
    return True


def run(stop: threading.Event, queues: Sequence[str] = ("default",), idle: float = 0.5) -> None:
    """Run tasks until ``stop`` is set (a thread of ``serve``, or ``safepassage worker``)."""
    me = worker_id()
    log.info("worker_started", queues=list(queues))
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                ran = run_one(me, queues)
            except (OperationalError, InterfaceError) as exc:  # the database is away: wait
                log.warning("worker_waits", error=type(exc).__name__)
                ran = False
                stop.wait(2.0)
            if not ran:
                stop.wait(idle)
    finally:
        connections.close_all()


def prune(now: Any = None) -> dict[str, int]:
    """Finished tasks older than an hour go; a task running for an hour lost its worker."""
    now = now or timezone.now()
    lost = QueuedTask.objects.filter(
        status=TaskStatus.RUNNING, started_at__lt=now - LOST_AFTER
    ).update(status=TaskStatus.FAILED, error="worker lost", finished_at=now)
    gone, _ = QueuedTask.objects.filter(
        status__in=[TaskStatus.SUCCESSFUL, TaskStatus.FAILED], finished_at__lt=now - KEPT
    ).delete()
    return {"tasks_lost": lost, "tasks_pruned": gone}
