"""Background work on the task framework (safepassage.jobs, safepassage.tasks): schedulers
running at once enqueue each due job exactly once, the database worker runs each task once, and
a case past its response-time target is raised to supervisors."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, connections
from django.test import Client
from django.utils import timezone

from safepassage import tasks
from safepassage.analytics import counters
from safepassage.cases import escalation
from safepassage.cases.models import CaseEvent
from safepassage.channels.models import ChatTrace, OutboxMessage
from safepassage.channels.telegram.sender import Sender
from safepassage.jobs import scheduler, worker
from safepassage.jobs.models import QueuedTask, ScheduledRun, TaskStatus
from safepassage.testing.fake_telegram import FakeTelegram
from tests.conftest import ChatDriver
from tests.telegram_support import Applicant

START = datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC)


def _drain() -> int:
    ran = 0
    while worker.run_one("DEMO-worker"):
        ran += 1
    return ran


@pytest.mark.django_db(transaction=True)
def test_schedulers_running_at_once_enqueue_each_due_job_exactly_once() -> None:
    """Four schedulers tick through the same two hours at the same moments (threads, each with
    its own connection: on PostgreSQL in CI, concurrent transactions racing for the key)."""
    jobs = [
        scheduler.Job("DEMO-minutely", tasks.ping, 60, ("minute",)),
        scheduler.Job("DEMO-hourly", tasks.ping, 3600, ("hour",)),
    ]
    moments = [START + timedelta(seconds=20 * step) for step in range(360)]
    barrier = threading.Barrier(4)
    enqueued: list[str] = []
    errors: list[BaseException] = []

    def run_scheduler(name: str) -> None:
        try:
            for moment in moments:
                # All four tick each moment together: a race for every due key, on SQLite too
                # (without it the first thread may tick the two hours before the others start).
                barrier.wait(timeout=60)
                for _attempt in range(20):
                    try:
                        enqueued.extend(scheduler.tick(jobs, name, now=moment))
                        break
                    except OperationalError:  # SQLite busy past its timeout: as
                        time.sleep(0.05)  # scheduler.run does, try the same tick again
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run_scheduler, args=(f"s{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    # Two hours: 120 minutes (06:00 … 07:59) and two hours (06:00, 07:00), each once. (A tick
    # that SQLite kept waiting past its timeout loses its list, not its runs: at most.)
    expected = Counter({"DEMO-minutely": 120, "DEMO-hourly": 2})
    runs = ScheduledRun.objects.all()
    assert Counter(runs.values_list("job", flat=True)) == expected
    assert Counter(enqueued) == expected or connection.vendor == "sqlite"
    assert Counter(enqueued) <= expected
    assert len({run.scheduler for run in runs}) > 1, "one scheduler did all the work: no race"
    # Each run's task was enqueued in its transaction: one task per run, none without a run.
    assert sorted(QueuedTask.objects.values_list("id", flat=True)) == sorted(
        runs.values_list("task_id", flat=True)
    )
    assert _drain() == 122
    done = Counter(QueuedTask.objects.values_list("return_value", flat=True))
    assert done == {"minute": 120, "hour": 2}
    assert not QueuedTask.objects.exclude(status=TaskStatus.SUCCESSFUL).exists()


@pytest.mark.django_db
def test_a_scheduler_started_mid_period_runs_that_period_once_and_prunes_old_runs() -> None:
    job = scheduler.Job("DEMO-hourly", tasks.ping, 3600)
    assert scheduler.tick([job], "a", now=START + timedelta(minutes=40)) == ["DEMO-hourly"]
    assert scheduler.tick([job], "b", now=START + timedelta(minutes=59)) == []  # a restart
    assert scheduler.tick([job], "b", now=START + timedelta(minutes=61)) == ["DEMO-hourly"]
    weekly = scheduler.Job("DEMO-weekly", tasks.ping, 7 * 24 * 3600)
    assert scheduler.tick([weekly], "a", now=START) == ["DEMO-weekly"]
    # A day later: the hourly job's older run goes, each job's latest stays (else the weekly
    # job would run again within its week).
    assert scheduler.prune(now=START + timedelta(days=1)) == 1
    later = START + timedelta(days=1, minutes=1)
    assert scheduler.tick([weekly], "b", now=later) == []
    assert set(ScheduledRun.objects.values_list("job", "due_at")) == {
        ("DEMO-hourly", START + timedelta(hours=1)),
        ("DEMO-weekly", scheduler.due_time(weekly.every, START)),
    }


@pytest.mark.django_db
def test_a_tick_whose_due_time_is_taken_sends_no_failing_statement() -> None:
    """A scheduler ticks every second and finds most due times taken: PostgreSQL logs every
    statement that fails (a duplicate key) as an ERROR, so none may fail."""
    job = scheduler.Job("DEMO-minutely", tasks.ping, 60)
    failed: list[str] = []

    def watch(execute: Callable[..., object], sql: str, *args: object) -> object:
        try:
            return execute(sql, *args)
        except Exception as exc:
            failed.append(f"{type(exc).__name__}: {sql[:60]}")
            raise

    assert scheduler.tick([job], "a", now=START) == ["DEMO-minutely"]
    with connection.execute_wrapper(watch):
        for second in range(1, 5):
            assert scheduler.tick([job], "b", now=START + timedelta(seconds=second)) == []
    assert failed == []
    assert ScheduledRun.objects.get().scheduler == "a"


@pytest.mark.django_db
def test_a_failing_task_is_recorded_by_its_class_only_and_the_worker_goes_on() -> None:
    result = tasks.ping.enqueue("first")
    tasks.ping.enqueue("second")
    # A row naming something that is not a task (an older version's, say) fails when run.
    QueuedTask.objects.filter(pk=result.id).update(task_path="safepassage.tasks.schedule")
    assert _drain() == 2
    failed = QueuedTask.objects.get(pk=result.id)
    assert failed.status == TaskStatus.FAILED and failed.error == "builtins.TypeError"
    assert QueuedTask.objects.get(return_value="second").status == TaskStatus.SUCCESSFUL


@pytest.mark.django_db
def test_a_case_past_its_response_target_is_raised_to_supervisors(
    chat: ChatDriver, staff: Callable[..., Client]
) -> None:
    chat.apply(readiness="days")  # a reply is due within the hour
    case = chat.case()
    assert case.reply_due_at is not None
    tasks.escalate_overdue.enqueue()
    _drain()
    assert not CaseEvent.objects.filter(case=case, kind="escalated").exists()  # not due yet

    case.reply_due_at = timezone.now() - timedelta(minutes=2)
    case.save(update_fields=["reply_due_at"])
    tasks.escalate_overdue.enqueue()
    tasks.escalate_overdue.enqueue()  # a second run changes nothing
    _drain()
    assert CaseEvent.objects.filter(case=case, kind="escalated").count() == 1
    assert counters.totals("escalated") == 1
    supervisor = staff("supervisor")
    rows = supervisor.get("/console/queue/rows/").content.decode()
    assert "raised to supervisors" in rows

    # The applicant writes again: a new deadline, raised again only once it too has passed.
    chat.choose("continue")
    chat.say("DEMO another message")
    case.refresh_from_db()
    assert not escalation.is_escalated(case)
    assert "raised to supervisors" not in supervisor.get("/console/queue/rows/").content.decode()
    assert case.reply_due_at is not None
    assert escalation.do_escalate_overdue(now=case.reply_due_at - timedelta(minutes=1)) == 0
    assert escalation.do_escalate_overdue(now=case.reply_due_at + timedelta(minutes=1)) == 1
    assert counters.totals("escalated") == 2


@pytest.mark.django_db
def test_the_telegram_sweep_task_erases_the_bots_messages_when_due(
    fake: FakeTelegram, client: Client
) -> None:
    """In service the sender no longer sweeps: the scheduled task queues the deletions, and the
    sender (here drained once, as its thread would) sends them."""
    person = Applicant(fake, client, FakeTelegram.applicant(5140000001, "en"))
    person.text("/start")
    shown = person.messages()
    assert shown and ChatTrace.objects.exists()
    ChatTrace.objects.update(erase_due=timezone.now() - timedelta(minutes=1))
    sender = Sender("main")
    sender.run_once()  # the sender alone: nothing is erased
    assert ChatTrace.objects.exists()
    tasks.telegram_sweep.enqueue("main")
    _drain()
    assert not ChatTrace.objects.exists()
    assert OutboxMessage.objects.filter(method="deleteMessage", status="queued").exists()
    try:
        while sender.run_once():
            pass
    finally:
        sender.close()
    assert person.messages() == []  # every message of ours is gone from the chat
