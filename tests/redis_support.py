"""The machine's Redis (127.0.0.1:6379) for tests that need the real one.

The README's test command runs the suite on SQLite and on PostgreSQL at the same time, and CI
runs a third pass beside them: each run gets its own four Redis databases
(``SAFEPASSAGE_TEST_REDIS_DB_BASE``, set by ``safepassage.testrunner``), so that one run's
``flushdb`` or counters never reach into another's.
"""

from __future__ import annotations

import os

BASE = int(os.environ.get("SAFEPASSAGE_TEST_REDIS_DB_BASE") or 0)
THROTTLE, CONSOLE, TASKS, TELEGRAM = range(4)  # one database per purpose within a run


def redis_url(slot: int) -> str:
    if not 0 <= slot < 4:
        raise ValueError("a test run has four Redis databases")
    return f"redis://127.0.0.1:6379/{BASE + slot}"
