"""Webhook intake: updates per second and p50/p99 latency of `POST /tg/<slug>/webhook` (verify,
dedupe, run the flow step, store encrypted, enqueue the reply, commit, then 200), on SQLite and
PostgreSQL, driven by a load generator in another process; and, in the same run, the same flow
in python-telegram-bot's own webhook Application (ConversationHandler + PicklePersistence).

    .venv/bin/python bench/intake.py [--users 2000] [--concurrency 16] [--only postgres ...]

Each applicant sends /start, three button presses and one text (5 updates), in order; many
applicants at once. The baseline acknowledges before it processes (and persists to its pickle
file only every 60 s), so its "processed" rate, measured from the replies the fake Bot API
received, is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _setup import database, fake_bot_api, free_port, start_serve, stats, wait_port  # noqa: E402

TOKEN = "7000000001:AAE-bench-token-0123456789abcdefgh"
SECRET = "bench-webhook-secret-0123456789"
UPDATES_PER_USER = 5


def sent_messages(api_base: str) -> int:
    return int(stats(api_base, TOKEN)["calls"].get("sendMessage:200", 0))


def load(url: str, users: int, concurrency: int, first: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "_load.py"),
            url,
            SECRET,
            str(users),
            str(concurrency),
            str(first),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def ours(
    kind: str, api_base: str, users: int, concurrency: int, first: int, processes: int = 0
) -> dict[str, float]:
    port = free_port()
    with database(kind) as url, tempfile.TemporaryDirectory(prefix="sp-bench-") as data:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
        env.update(
            SAFEPASSAGE_DATA_DIR=data,
            TELEGRAM_BOTS=f"main={TOKEN}",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_API_BASE=api_base,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}",
            SAFEPASSAGE_LOG_LEVEL="WARNING",
        )
        if url:
            env["DATABASE_URL"] = url
        if processes:
            env["SAFEPASSAGE_WEB_PROCESSES"] = str(processes)
        server = start_serve(env, data, port)
        try:
            wait_port(port, "/readyz", 600)  # migrations on a loaded machine take a while
            target = f"http://127.0.0.1:{port}/tg/main/webhook"
            load(target, 20, 4, first - 10_000)  # warm-up
            result = load(target, users, concurrency, first)
            if url:
                with psycopg.connect(url) as conn:
                    row = conn.execute("SELECT count(*) FROM channels_telegramupdate").fetchone()
            else:
                with sqlite3.connect(Path(data) / "safepassage.sqlite3") as conn:
                    row = conn.execute("SELECT count(*) FROM channels_telegramupdate").fetchone()
            result["committed"] = float(row[0] if row else 0) - 20 * UPDATES_PER_USER
        finally:
            server.terminate()
            server.wait(timeout=20)
        found = re.search(r"(\d+) web process", (Path(data) / "serve.log").read_text())
        result["processes"] = float(found.group(1)) if found else 0.0
    return result


def baseline(api_base: str, users: int, concurrency: int, first: int) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sp-bench-ptb-") as data:
        app = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "_ptb_baseline.py"),
                TOKEN,
                api_base,
                str(port),
                SECRET,
                str(Path(data) / "state.pickle"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            target = f"http://127.0.0.1:{port}/tg/main/webhook"
            before = sent_messages(api_base)
            load(target, 20, 4, first - 10_000)  # warm-up: wait until it has been processed
            deadline = time.monotonic() + 60
            while sent_messages(api_base) < before + 20 * UPDATES_PER_USER:
                if time.monotonic() > deadline:
                    raise TimeoutError("the baseline did not process its warm-up")
                time.sleep(0.05)
            before = sent_messages(api_base)
            started = time.perf_counter()
            result = load(target, users, concurrency, first)
            wanted = before + users * UPDATES_PER_USER
            deadline = time.monotonic() + 300
            while sent_messages(api_base) < wanted and time.monotonic() < deadline:
                time.sleep(0.05)
            processed = sent_messages(api_base) - before
            result["processed_per_second"] = processed / (time.perf_counter() - started)
            result["processed"] = processed
        finally:
            app.terminate()
            app.wait(timeout=20)
    return result


def scale(users: int, concurrency: int, counts: list[int]) -> int:
    """The PostgreSQL path with 1, 2, 4 ... web processes, one after the other."""
    total = users * UPDATES_PER_USER
    rows = []
    with fake_bot_api(TOKEN, limits=False) as api_base:
        for n, count in enumerate(counts):
            first = 5_500_000_000 + n * 10_000_000
            rows.append((count, ours("postgres", api_base, users, concurrency, first, count)))
            r = rows[-1][1]
            print(f"  {count} web process(es): {r['per_second']:.0f} updates/s", flush=True)
    print(f"{total} updates ({users} applicants x {UPDATES_PER_USER}), {concurrency} connections")
    print(f"{'web processes':>14} {'updates/s':>10} {'p50 ms':>8} {'p99 ms':>8}  note")
    for count, r in rows:
        print(
            f"{int(r['processes']):>14} {r['per_second']:10.0f} {r['p50_ms']:8.1f}"
            f" {r['p99_ms']:8.1f}  {int(r['committed'])} of {total} committed,"
            f" {int(r['errors'])} errors (asked for {count})"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--only",
        action="append",
        choices=["sqlite", "postgres", "baseline"],
        help="measure only this path (repeatable); the ratio needs the baseline",
    )
    parser.add_argument(
        "--processes",
        help="PostgreSQL only, with these numbers of web processes, e.g. 1,2,4 (no baseline)",
    )
    args = parser.parse_args()
    if args.processes:
        return scale(args.users, args.concurrency, [int(n) for n in args.processes.split(",")])
    only = set(args.only or ["sqlite", "postgres", "baseline"])
    total = args.users * UPDATES_PER_USER
    with fake_bot_api(TOKEN, limits=False) as api_base:
        results = {}
        if "sqlite" in only:
            results["Safe Passage, SQLite"] = ours(
                "sqlite", api_base, args.users, args.concurrency, 5_200_000_000
            )
        if "postgres" in only:
            results["Safe Passage, PostgreSQL"] = ours(
                "postgres", api_base, args.users, args.concurrency, 5_300_000_000
            )
        if "baseline" in only:
            results["python-telegram-bot baseline"] = baseline(
                api_base, args.users, args.concurrency, 5_400_000_000
            )
    print(
        f"{total} updates ({args.users} applicants x {UPDATES_PER_USER}),"
        f" {args.concurrency} connections"
    )
    print(f"{'':32} {'updates/s':>10} {'p50 ms':>8} {'p99 ms':>8}  note")
    for name, r in results.items():
        if "processed_per_second" in r:
            note = (
                f"acked before processing; processed {r['processed_per_second']:.0f}/s"
                f" ({int(r['processed'])} replies)"
            )
        else:
            note = (
                f"acked after commit; {int(r['committed'])} of {total} committed,"
                f" {int(r['errors'])} errors; {int(r['processes'])} web process(es)"
            )
        print(f"{name:32} {r['per_second']:10.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f}  {note}")
    base = results.get("python-telegram-bot baseline")
    for name in ("Safe Passage, SQLite", "Safe Passage, PostgreSQL"):
        if base is None or name not in results:
            continue
        r = results[name]
        print(
            f"ratio {name} / baseline: {r['per_second'] / base['per_second']:.2f}x acked,"
            f" {r['per_second'] / base['processed_per_second']:.2f}x processed"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
