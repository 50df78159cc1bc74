"""What one Telegram update costs inside the intake, without HTTP: the benchmark's updates
applied in-process with ``batch.apply_all`` in batches of 8 (one update from each of 8
applicants, as one web process sees them under 16 connections), then per update: our CPU,
PostgreSQL's CPU (its backend process), statements, and the time spent in each kind of
statement.

    .venv/bin/python bench/intake_cost.py [--database sqlite|postgres] [--applicants 800]
                                          [--profile]
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _setup import database  # noqa: E402

PER_BATCH = 8


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--applicants", type=int, default=800)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    args = parser.parse_args()
    with database(args.database) as url, tempfile.TemporaryDirectory(prefix="sp-bench-") as data:
        os.environ.update(
            SAFEPASSAGE_DATA_DIR=data,
            TELEGRAM_BOTS="main=7000000001:AAE-bench-token-0123456789abcdefgh",
            TELEGRAM_WEBHOOK_SECRET="bench-webhook-secret-0123456789",  # noqa: S106 (DEMO)
            TELEGRAM_API_BASE="http://127.0.0.1:9/bot",  # never called: replies only queue
            SAFEPASSAGE_LOG_LEVEL="WARNING",
            DJANGO_SETTINGS_MODULE="safepassage.settings",
        )
        if url:
            os.environ["DATABASE_URL"] = url
        run(args.applicants, args.profile)
    return 0


def run(applicants: int, profile: bool) -> None:
    import django

    django.setup()
    from _load import updates
    from django.core.management import call_command
    from django.db import connection

    from safepassage.channels.telegram import batch, intake
    from safepassage.splog import configure

    configure()
    call_command("migrate", verbosity=0)

    def batches(first: int) -> Iterator[list[batch.Pending]]:
        people = [
            [intake.parse("main", u) for u in updates(first + n, (first + n) * 10)]
            for n in range(applicants)
        ]
        for group in range(0, applicants, PER_BATCH):
            for step in range(5):
                yield [batch.Pending("main", p[step]) for p in people[group : group + PER_BATCH]]

    for warm in list(batches(100_000))[:50]:
        batch.apply_all(warm)
    work = list(batches(200_000))
    count: collections.Counter[str] = collections.Counter()
    spent: dict[str, float] = collections.defaultdict(float)

    def timed(execute: Callable[..., Any], sql: str, *rest: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, *rest)
        finally:
            kind = sql.split(" ")[0] + " " + (sql.split('"')[1] if '"' in sql else "")
            count[kind] += 1
            spent[kind] += time.perf_counter() - started

    profiler = cProfile.Profile() if profile else None
    database_cpu = _backend_cpu(connection)
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(timed):
        for items in work:
            if profiler:
                profiler.enable()
            batch.apply_all(items)
            if profiler:
                profiler.disable()
            assert all(item.done.result() for item in items)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    database_cpu = _backend_cpu(connection) - database_cpu
    n = sum(len(items) for items in work)
    print(
        f"{connection.vendor}: {n} updates in {len(work)} batches of {PER_BATCH}:"
        f" {wall / n * 1000:.3f} ms wall, {cpu / n * 1000:.3f} ms our CPU,"
        f" {database_cpu / n * 1000:.3f} ms PostgreSQL CPU,"
        f" {sum(count.values()) / n:.2f} statements per update (BEGIN and COMMIT aside)"
    )
    for kind, times in count.most_common():
        print(
            f"  {times / len(work):5.2f} per batch {spent[kind] / n * 1e6:7.1f} µs/update  {kind}"
        )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    connection.close()


def _backend_cpu(connection: Any) -> float:
    """CPU seconds of this connection's PostgreSQL backend (0 on SQLite: it is ours)."""
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
