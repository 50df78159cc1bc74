"""The in-process task runner used by `safepassage serve`.

Periodic jobs run on one daemon thread of the process that runs `serve` (with several web
processes, the supervising one), so a `serve` runs each job once per period however many web
processes it starts. `safepassage purge` runs the same job from cron or a systemd timer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable

import structlog
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

log = structlog.get_logger("safepassage.tasks")


def _loop(job: Callable[[], object], every: float, name: str, stop: threading.Event) -> None:
    while True:
        try:
            close_old_connections()
            result = job()
            # One line a run, with counts only (retention.PurgeReport): never whose data.
            counts = (
                dataclasses.asdict(result)
                if dataclasses.is_dataclass(result) and not isinstance(result, type)
                else {}
            )
            log.info("task_ran", task=name, **counts)
            record_run(name, every, ok=True)
        except Exception as exc:  # a failed run must not kill the thread; it runs again later
            log.error("task_failed", task=name, error=type(exc).__name__)
            with contextlib.suppress(DatabaseError):
                record_run(name, every, ok=False)
        finally:
            close_old_connections()
        if stop.wait(every):
            return


def record_run(name: str, every: float, *, ok: bool) -> None:
    """When ``name`` last finished (web.service_health reads it: the last purge, the task lag)."""
    from safepassage.analytics.models import TaskRun

    TaskRun.objects.update_or_create(
        name=name, defaults={"every_seconds": every, "finished_at": timezone.now(), "ok": ok}
    )


def start_periodic(job: Callable[[], object], every: float, name: str) -> threading.Event:
    """Run ``job`` now and then every ``every`` seconds (a `serve` restarted more often than
    the period still runs it); set the returned event to stop."""
    stop = threading.Event()
    thread = threading.Thread(target=_loop, args=(job, every, name, stop), name=name, daemon=True)
    thread.start()
    return stop


def start_embedded(every: float) -> threading.Event | None:
    """The periodic jobs of one `serve`: the retention purge. None when switched off (0)."""
    if every <= 0:
        return None
    from safepassage import retention

    return start_periodic(retention.purge_expired, every, "retention-purge")
