"""A database backend for the task framework (django-tasks, Django 6's ``django.tasks`` API):
the embedded default, on SQLite or PostgreSQL, with no other server.

A task is a row (jobs.QueuedTask) written in the caller's transaction, so it exists exactly
when what caused it committed; ``safepassage worker`` (or the worker thread of ``serve``)
claims and runs it (jobs.worker). The maintained ``django-tasks-db`` package does the same;
this one keeps only an exception's class name, never a traceback or message, which could
quote what a task worked on.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.utils import timezone
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.base import Task, TaskError, TaskResult, TaskResultStatus
from django_tasks.exceptions import TaskResultDoesNotExist
from django_tasks.signals import task_enqueued
from django_tasks.utils import get_random_id
from typing_extensions import ParamSpec

from safepassage.jobs.models import QueuedTask

T = TypeVar("T")
P = ParamSpec("P")


class DatabaseBackend(BaseTaskBackend):
    supports_defer = True
    supports_get_result = True
    supports_priority = True

    def enqueue(
        self,
        task: Task[P, T],
        args: P.args,  # type: ignore[valid-type]
        kwargs: P.kwargs,  # type: ignore[valid-type]
    ) -> TaskResult[T]:
        self.validate_task(task)
        row = QueuedTask.objects.create(
            id=get_random_id(),
            task_path=task.module_path,
            queue_name=task.queue_name,
            priority=task.priority,
            args=list(args),
            kwargs=dict(kwargs),
            run_after=task.run_after,
            enqueued_at=timezone.now(),
        )
        result: TaskResult[T] = result_of(row, self.alias)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any]:
        row = QueuedTask.objects.filter(pk=result_id).first()
        if row is None:
            raise TaskResultDoesNotExist(result_id)
        return result_of(row, self.alias)


def task_of(row: QueuedTask, alias: str) -> Task[Any, Any]:
    from django.utils.module_loading import import_string

    found = import_string(row.task_path)
    if not isinstance(found, Task):
        raise TypeError(f"{row.task_path} is not a task")
    return found.using(
        queue_name=row.queue_name, priority=row.priority, run_after=row.run_after, backend=alias
    )


def result_of(row: QueuedTask, alias: str) -> TaskResult[Any]:
    result: TaskResult[Any] = TaskResult(
        task=task_of(row, alias),
        id=row.id,
        status=TaskResultStatus(row.status),
        enqueued_at=row.enqueued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        last_attempted_at=row.started_at,
        args=row.args,
        kwargs=row.kwargs,
        backend=alias,
        errors=[TaskError(exception_class_path=row.error, traceback="")] if row.error else [],
        worker_ids=[row.worker_id] if row.worker_id else [],
    )
    if row.status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", row.return_value)
    return result
