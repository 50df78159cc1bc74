"""Run the whole test suite: on SQLite, and on PostgreSQL when one is configured.

    python3 quickstart.py test [pytest args]

SAFEPASSAGE_TEST_POSTGRES=postgres://user@host:port/ adds a second run on a fresh database
(created and dropped here), at the same time as the SQLite run. "No tests collected" counts as
a failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


def _start(env: dict[str, str], args: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    # The slowest tests are listed at the end of each run, to keep the suite's time in view.
    command = [sys.executable, "-m", "pytest", "--durations=15", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def main(argv: list[str]) -> int:
    """SQLite and PostgreSQL run at the same time (most of a run's time is spent waiting for
    servers, browsers and clocks, not on the CPU); each one's output is printed whole, in turn."""
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    # Each run gets its own four Redis databases (tests/redis_support.py), from the base given
    # (CI's extra pass starts at 8).
    redis_base = int(os.environ.get("SAFEPASSAGE_TEST_REDIS_DB_BASE") or 0)
    runs: dict[str, dict[str, str]] = {
        "SQLite": {"SAFEPASSAGE_TEST_REDIS_DB_BASE": str(redis_base)}
    }
    pg = os.environ.get("SAFEPASSAGE_TEST_POSTGRES")
    if pg:
        runs["PostgreSQL"] = {
            "DATABASE_URL": pg.rstrip("/") + "/" + f"safepassage_{secrets.token_hex(4)}",
            "SAFEPASSAGE_TEST_REDIS_DB_BASE": str(redis_base + 4),
        }
    results: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        started = []
        for label, extra in runs.items():
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="sp-test-"))
            log = stack.enter_context(tempfile.TemporaryFile())
            env = {**base, **extra, "SAFEPASSAGE_DATA_DIR": data_dir}
            started.append((label, log, _start(env, argv, log)))
        for label, log, process in started:
            code = process.wait()
            print(f"\n=== test suite on {label} ===", flush=True)
            log.seek(0)
            shutil.copyfileobj(log, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            if code == 5:
                print(f"no tests were collected on {label}: failing", flush=True)
                code = 1
            results[label] = code
    print("\n" + ", ".join(f"{k}: {'passed' if v == 0 else 'FAILED'}" for k, v in results.items()))
    return 0 if all(v == 0 for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
