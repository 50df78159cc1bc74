"""The in-process task runner used by `safepassage serve` on embedded defaults.

Periodic jobs run on one daemon thread. A deployment with several web processes runs them
from exactly one place instead (`safepassage purge` from cron or a systemd timer).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from django.db import close_old_connections

log = structlog.get_logger("safepassage.tasks")
PURGE_EVERY_SECONDS = 3600


def _loop(job: Callable[[], object], every: float, name: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            close_old_connections()
            result = job()
            log.info("task_ran", task=name, result=str(result))
        except Exception as exc:  # a failed run must not kill the thread; it runs again later
            log.error("task_failed", task=name, error=type(exc).__name__)
        finally:
            close_old_connections()
        stop.wait(every)


def start_periodic(job: Callable[[], object], every: float, name: str) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=_loop, args=(job, every, name, stop), name=name, daemon=True)
    thread.start()
    return stop


def start_embedded() -> None:
    from safepassage.privacy import retention

    start_periodic(retention.purge_expired, PURGE_EVERY_SECONDS, "retention-purge")
