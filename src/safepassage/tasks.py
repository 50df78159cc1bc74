"""Background work: the tasks, and the schedule that enqueues them (docs/architecture.md,
"Background work").

Every job outside a request is a task of the task framework (django-tasks, the API of Django
6's ``django.tasks``), queued in the database by default (safepassage.jobs.backend) or in
Redis through RQ (``SAFEPASSAGE_TASK_BACKEND=redis``). ``safepassage scheduler`` (or the
scheduler thread of ``serve``) enqueues each periodic job once per due time however many
schedulers run (safepassage.jobs.scheduler); ``safepassage worker`` (or the worker thread of
``serve``) runs them. A task's arguments are never personal data; each run logs one line with
counts only.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

import structlog
from django.utils import timezone
from django_tasks import task

from safepassage import config

log = structlog.get_logger("safepassage.tasks")

TELEGRAM_SWEEP_EVERY = 10.0  # erasures are due to the minute: never early, at most ~10 s late
ATTACHMENTS_EVERY = 5.0  # an applicant waits for "received" that long at most, plus the fetch
ESCALATION_EVERY = 60.0  # deadlines are kept to the minute
PRUNE_EVERY = 3600.0


def _ran(name: str, counts: Mapping[str, int], *, quiet: bool = False) -> dict[str, int]:
    """One log line a run (counts only; ``quiet``: nothing happened, no line), and the run's
    time for the health page and the metrics' task lag (web.service_health)."""
    if not quiet:
        log.info("task_ran", task=name, **counts)
    record_run(name, _period(name), ok=True)
    return dict(counts)


def _period(name: str) -> float:
    return {
        "retention-purge": config.get().purge_every_seconds or 3600.0,
        "telegram-sweep": TELEGRAM_SWEEP_EVERY,
        "telegram-attachments": ATTACHMENTS_EVERY,
        "escalation": ESCALATION_EVERY,
        "prune-jobs": PRUNE_EVERY,
    }.get(name, 3600.0)


def record_run(name: str, every: float, *, ok: bool) -> None:
    """When ``name`` last finished (web.service_health reads it: the last purge, the task lag)."""
    from safepassage.analytics.models import TaskRun

    TaskRun.objects.update_or_create(
        name=name, defaults={"every_seconds": every, "finished_at": timezone.now(), "ok": ok}
    )


@task()
def retention_purge() -> dict[str, int]:
    from safepassage import retention

    report = retention.purge_expired()
    return _ran("retention-purge", dataclasses.asdict(report))


@task()
def telegram_sweep(slug: str) -> dict[str, int]:
    from safepassage.channels.telegram import sweeps

    counts = sweeps.sweep(slug)
    return _ran("telegram-sweep", counts, quiet=not any(counts.values()))


@task()
def telegram_attachments(slug: str) -> dict[str, int]:
    from safepassage.channels.telegram import sweeps
    from safepassage.jobs.worker import worker_id

    fetched = sweeps.fetch_attachments_once(slug, worker_id())
    return _ran("telegram-attachments", {"fetched": fetched}, quiet=not fetched)


@task()
def escalate_overdue() -> dict[str, int]:
    from safepassage.cases import escalation

    raised = escalation.do_escalate_overdue()
    return _ran("escalation", {"escalated": raised}, quiet=not raised)


@task()
def prune_jobs() -> dict[str, int]:
    from safepassage.jobs import scheduler, worker

    return _ran("prune-jobs", {**worker.prune(), "runs_pruned": scheduler.prune()})


@task()
def ping(value: str = "pong") -> str:
    """Answers: shows that a worker takes tasks from the queue (operations checks, tests)."""
    return value


def schedule() -> list[Any]:
    """The periodic jobs of this configuration."""
    from safepassage.channels.telegram import bots
    from safepassage.jobs.scheduler import Job

    cfg = config.get()
    jobs = [
        Job("escalation", escalate_overdue, ESCALATION_EVERY),
        Job("prune-jobs", prune_jobs, PRUNE_EVERY),
    ]
    if cfg.purge_every_seconds > 0:
        jobs.append(Job("retention-purge", retention_purge, cfg.purge_every_seconds))
    if bots.enabled():
        for slug in bots.tokens():
            jobs.append(
                Job(f"telegram-sweep:{slug}", telegram_sweep, TELEGRAM_SWEEP_EVERY, (slug,))
            )
            jobs.append(
                Job(
                    f"telegram-attachments:{slug}", telegram_attachments, ATTACHMENTS_EVERY, (slug,)
                )
            )
    return jobs


def start_scheduler(stop: threading.Event) -> threading.Thread:
    from safepassage.jobs import scheduler

    jobs = schedule()
    thread = threading.Thread(
        target=scheduler.run, args=(stop, lambda: jobs), name="scheduler", daemon=True
    )
    thread.start()
    return thread


def start_worker(stop: threading.Event) -> threading.Thread:
    """A worker thread: the database backend's loop, or an RQ worker's."""
    target = _rq_work if config.get().task_backend == "redis" else _database_work
    thread = threading.Thread(target=target, args=(stop,), name="task-worker", daemon=True)
    thread.start()
    return thread


def _database_work(stop: threading.Event) -> None:
    from safepassage.jobs import worker

    worker.run(stop)


def _rq_work(stop: threading.Event) -> None:
    """An RQ worker on a thread of ``serve``: no fork per task (tasks are short sweeps) and no
    signal handlers (they belong to the main thread); it checks ``stop`` every few seconds."""
    import django_rq
    from django_tasks_rq import Job as RQJob
    from rq import SimpleWorker

    class ThreadWorker(SimpleWorker):
        def _install_signal_handlers(self) -> None:
            pass

    while not stop.is_set():
        rq_worker = django_rq.get_worker(
            "default",
            job_class=RQJob,
            worker_class=ThreadWorker,  # type: ignore[arg-type]  # rq's workers share a base
        )
        rq_worker.work(max_idle_time=3, logging_level="WARNING")


def run_rq_worker() -> None:
    """``safepassage worker`` on the RQ backend: RQ's own loop, stopped by SIGTERM/SIGINT."""
    import django_rq
    from django_tasks_rq import Job as RQJob

    rq_worker = django_rq.get_worker("default", job_class=RQJob, worker_class="rq.SimpleWorker")
    rq_worker.work(logging_level="WARNING")
