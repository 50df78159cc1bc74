"""Rows of the background machinery. None holds personal data: a task's arguments are bot
slugs and the like, never a case or a person (safepassage.tasks)."""

from __future__ import annotations

from django.db import models


class TaskStatus(models.TextChoices):
    READY = "READY", "ready"
    RUNNING = "RUNNING", "running"
    SUCCESSFUL = "SUCCESSFUL", "successful"
    FAILED = "FAILED", "failed"


class QueuedTask(models.Model):
    """One task of the database backend (jobs.backend): enqueued in the caller's transaction,
    run by a worker (jobs.worker) that claims it with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL."""

    id = models.CharField(primary_key=True, max_length=64)
    task_path = models.CharField(max_length=200)
    queue_name = models.CharField(max_length=32, default="default")
    priority = models.SmallIntegerField(default=0)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.READY)
    run_after = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=64, blank=True)
    # Only the exception's class: a traceback or message could quote what a task worked on.
    error = models.CharField(max_length=200, blank=True)
    return_value = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["queue_name", "-priority", "enqueued_at"],
                name="task_ready",
                condition=models.Q(status="READY"),
            ),
            models.Index(fields=["status", "finished_at"], name="task_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.task_path} {self.status}"


class ScheduledRun(models.Model):
    """One periodic job at one due time. The unique key is what makes a job run once per due
    time however many schedulers run: each inserts the row and enqueues the task in the same
    transaction, and only the one whose insert went in enqueues it."""

    job = models.CharField(max_length=64)
    due_at = models.DateTimeField()
    task_id = models.CharField(max_length=64, blank=True)
    scheduler = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "due_at"], name="one_run_per_due")]

    def __str__(self) -> str:
        return f"{self.job} at {self.due_at}"


class Lease(models.Model):
    """A role held by one process at a time until ``expires_at``; its holder renews it, and a
    holder that died is replaced once the lease ran out (jobs.leases)."""

    name = models.CharField(primary_key=True, max_length=80)
    holder = models.CharField(max_length=80)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
