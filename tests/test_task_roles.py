"""The roles started on their own, as deploy/systemd/ runs them: `safepassage worker` runs a
task enqueued in the database, and on the RQ backend (the machine's Redis) runs a task enqueued
there; `safepassage scheduler` enqueues the periodic jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.test import override_settings
from django_tasks import TaskResultStatus

from safepassage import tasks
from safepassage.jobs.models import QueuedTask, ScheduledRun, TaskStatus
from tests.redis_support import TASKS, redis_url

REDIS_URL = redis_url(TASKS)


def database_url_of_this_test() -> str:
    """The database this test runs on, for a subprocess to use."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return (
        f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )


@contextmanager
def role(command: str, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "safepassage.cli", command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    try:
        yield process
    finally:
        process.terminate()  # SIGTERM, as systemd stops a unit
        try:
            assert process.wait(timeout=15) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_runs_a_task_enqueued_in_the_database(tmp_path: Path) -> None:
    result = tasks.ping.enqueue("DEMO-database")
    with role("worker", tmp_path / "worker.log", DATABASE_URL=database_url_of_this_test()):
        assert wait_for(
            lambda: QueuedTask.objects.filter(pk=result.id, status=TaskStatus.SUCCESSFUL).exists()
        ), (tmp_path / "worker.log").read_text()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == "DEMO-database"


@pytest.mark.django_db(transaction=True)
def test_a_scheduler_process_enqueues_the_periodic_jobs(tmp_path: Path) -> None:
    with role("scheduler", tmp_path / "scheduler.log", DATABASE_URL=database_url_of_this_test()):
        assert wait_for(lambda: ScheduledRun.objects.filter(job="escalation").exists())
    jobs = set(ScheduledRun.objects.values_list("job", flat=True))
    assert {"escalation", "retention-purge", "prune-jobs"} <= jobs
    # Each run's task is in the queue for a worker, enqueued with it.
    assert (
        QueuedTask.objects.filter(
            pk__in=ScheduledRun.objects.values_list("task_id", flat=True)
        ).count()
        == ScheduledRun.objects.count()
    )


@pytest.mark.django_db
def test_the_rq_backend_runs_a_task_through_an_rq_worker(tmp_path: Path) -> None:
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()  # this project's database number, and only it
    rq_settings = {
        "TASKS": {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}},
        "RQ_QUEUES": {"default": {"URL": REDIS_URL}},
    }
    try:
        with override_settings(**rq_settings):
            result = tasks.ping.enqueue("DEMO-rq")
            assert result.status == TaskResultStatus.READY
            env = {
                "SAFEPASSAGE_DATA_DIR": str(tmp_path / "var"),
                "SAFEPASSAGE_TASK_BACKEND": "redis",
                "SAFEPASSAGE_REDIS_URL": REDIS_URL,
            }
            with role("worker", tmp_path / "worker.log", **env):

                def finished() -> bool:
                    result.refresh()
                    return result.is_finished

                assert wait_for(finished), (tmp_path / "worker.log").read_text()
            assert result.status == TaskResultStatus.SUCCESSFUL
            assert result.return_value == "DEMO-rq"
    finally:
        store.flushdb()
