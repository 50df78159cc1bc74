"""`safepassage serve` runs the retention purge by itself, on its schedule: an application
abandoned before confirmation disappears from a running platform without anyone running
`safepassage purge`. Its scheduler enqueues the job once per due time and its worker thread
runs it from the task queue (safepassage.jobs, safepassage.tasks)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.http_client import FormClient
from tests.server import Platform, fresh_postgres_database, running_platform

# Constant statements: the test reaches into the running platform's database as an operator
# with a console would, to make a draft look a day old (the coarse timestamp retention reads).
AGE_DRAFTS = "UPDATE cases_case SET updated_at = '2020-01-01 00:00:00' WHERE status = 'draft'"
COUNT_DRAFTS = "SELECT count(*) FROM cases_case WHERE status = 'draft'"
PURGE_TASKS_DONE = (
    "SELECT count(*) FROM jobs_queuedtask WHERE task_path = 'safepassage.tasks.retention_purge'"
    " AND status = 'SUCCESSFUL'"
)
# Tasks not enqueued by exactly one scheduled run (a due time), and runs without their task.
PURGE_TASKS_UNPAIRED = (
    "SELECT count(*) FROM jobs_queuedtask t WHERE task_path = 'safepassage.tasks.retention_purge'"
    " AND (SELECT count(*) FROM jobs_scheduledrun r WHERE r.task_id = t.id) != 1"
)
PURGE_RUNS_UNPAIRED = (
    "SELECT count(*) FROM jobs_scheduledrun r WHERE job = 'retention-purge'"
    " AND NOT EXISTS (SELECT 1 FROM jobs_queuedtask t WHERE t.id = r.task_id)"
)


def _sql(platform: Platform, tmp_path: Path, statement: str) -> int:
    if platform.database_url:
        with psycopg.connect(platform.database_url, autocommit=True) as db:
            cursor = db.execute(statement)
            row = cursor.fetchone() if cursor.description else None
    else:
        with sqlite3.connect(tmp_path / "var" / "safepassage.sqlite3", timeout=30) as db:
            found = db.execute(statement)
            row = found.fetchone() if found.description else None
    return int(row[0]) if row else 0


def _abandon_an_application(platform: Platform) -> None:
    chat = FormClient(platform.url)
    chat.get("/chat/ru/")
    status, _ = chat.post("/chat/ru/", {"choice": "self"})
    assert status == 200


def _check(platform: Platform, tmp_path: Path) -> None:
    _abandon_an_application(platform)
    assert _sql(platform, tmp_path, COUNT_DRAFTS) == 1
    _sql(platform, tmp_path, AGE_DRAFTS)
    deadline = time.monotonic() + 20
    while _sql(platform, tmp_path, COUNT_DRAFTS) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _sql(platform, tmp_path, COUNT_DRAFTS) == 0, "the running serve did not purge"
    line = '"task": "retention-purge", "abandoned_drafts": 1'  # one line a run, counts only
    while line not in platform.output.read_text() and time.monotonic() < deadline:
        time.sleep(0.3)  # the run logs once its transaction is committed
    assert line in platform.output.read_text()
    # Through the task queue: one task per due time (one a second here), and they ran.
    assert _sql(platform, tmp_path, PURGE_TASKS_DONE) >= 1
    assert _sql(platform, tmp_path, PURGE_TASKS_UNPAIRED) == 0
    assert _sql(platform, tmp_path, PURGE_RUNS_UNPAIRED) == 0


@pytest.mark.django_db
def test_a_running_serve_erases_an_abandoned_draft_by_itself(tmp_path: Path) -> None:
    env = {"SAFEPASSAGE_PURGE_EVERY_SECONDS": "1"}
    if connection.vendor == "postgresql":
        # Two web processes: the purge is scheduled and run in the process that supervises them.
        env["SAFEPASSAGE_WEB_PROCESSES"] = "2"
        with fresh_postgres_database() as url, running_platform(tmp_path, url, env) as platform:
            _check(platform, tmp_path)
    else:
        with running_platform(tmp_path, None, env) as platform:
            _check(platform, tmp_path)
