"""The PostgreSQL connection budget (settings._pool) against a connection per request: the web
chat's first answer (a POST that writes the database) from many browsers at once, against a
`serve` with one web process.

    BENCH_DB_PREFIX=<yours> .venv/bin/python bench/db_budget.py [--pool 4] [--clients 32]
                                                                [--answers 600]

Prints answers per second, latency p50/p99 of the answer, the statuses, and the most
connections to the database seen in pg_stat_activity during the run (sampled every 10 ms).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import POSTGRES, database, free_port, start_serve, wait_port

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def answer(base: str) -> tuple[int, float]:
    """A new browser opens the chat and answers its first question; the answer is timed."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(base + "/chat/ru/", timeout=30) as response:
        found = TOKEN.search(response.read().decode())
    assert found, "the first question has no form token"
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": found.group(1), "choice": "self"})
    started = time.perf_counter()
    try:
        with browser.open(base + "/chat/ru/", data=data.encode(), timeout=30) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = int(error.code)
    return status, time.perf_counter() - started


def most_connections(name: str, running: threading.Event, seen: list[int]) -> None:
    with psycopg.connect(POSTGRES.rstrip("/") + "/postgres", autocommit=True) as admin:
        while running.is_set():
            found = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
            ).fetchone()
            seen.append(int(found[0]) if found else 0)
            time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=4, help="SAFEPASSAGE_DATABASE_POOL (0: off)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--answers", type=int, default=600)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with database("postgres") as url, tempfile.TemporaryDirectory() as tmp:
        assert url is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
        env.update(
            DATABASE_URL=url,
            SAFEPASSAGE_DATA_DIR=str(Path(tmp) / "var"),
            SAFEPASSAGE_WEB_PROCESSES="1",
            SAFEPASSAGE_DATABASE_POOL=str(args.pool),
        )
        server = start_serve(env, tmp, port)
        try:
            wait_port(port, "/readyz", 120)
            running, seen = threading.Event(), [0]
            running.set()
            sampler = threading.Thread(
                target=most_connections, args=(url.rsplit("/", 1)[1], running, seen)
            )
            sampler.start()
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(lambda _: answer(base), range(args.answers)))
            elapsed = time.perf_counter() - started
            running.clear()
            sampler.join()
        finally:
            server.terminate()
            server.wait(timeout=20)
    times = sorted(t for _, t in results)
    print(f"pool {args.pool}, {args.clients} clients, {args.answers} answers in {elapsed:.1f} s")
    print(f"answers/s           {args.answers / elapsed:.1f}")
    print(
        f"answer p50 / p99    {times[len(times) // 2] * 1000:.0f} ms / "
        f"{times[int(len(times) * 0.99)] * 1000:.0f} ms"
    )
    print(f"statuses            {dict(Counter(s for s, _ in results))}")
    print(f"most connections    {max(seen)}")
    print(f"load average        {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
