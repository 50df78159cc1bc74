"""Outbox throughput: 2,000 messages across 500 chats to the local fake Bot API, which enforces
Telegram's limits (30/s per bot, 1/s per chat) and answers 429 beyond them.

    .venv/bin/python bench/outbox.py [--db sqlite|postgres] [--messages 2000] [--chats 500]
                                     [--bots 1] [--senders 1]

Prints sustained messages per second and the number of 429 answers (target: >= 28.5 per bot,
zero). With ``--bots N`` the chats are spread over N bots, each with its own sender thread.
``--overtake`` queues the backlog as ordinary replies instead and, every 1.5 s while it drains,
one urgent message to a new chat (as a reply to a case that is ready now would be): it prints
how long those took from queued to sent, which depends on the claim's size
(TELEGRAM_CLAIM_BATCH), since a claim in flight is sent before the next one is read.
With ``--senders N`` (PostgreSQL, no Redis) each bot has N sender processes, which keep the
bot's limit together through the window in the database (``channels/telegram/dbwindow.py``);
the run then also prints what that window costs per call (taking a place and giving it back).
Elapsed time then includes the processes' start-up (about a second each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _setup import data_dir, database, fake_bot_api, stats

TOKEN = "7000000001:AAE-bench-token-0123456789abcdefgh"


def token(n: int) -> str:
    return TOKEN if n == 0 else f"70000000{n + 1:02d}:AAE-bench-token-0123456789abcdefgh"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--bots", type=int, default=1)
    parser.add_argument("--overtake", action="store_true")
    parser.add_argument("--senders", type=int, default=1, help="sender processes per bot")
    parser.add_argument("--drain", help=argparse.SUPPRESS)  # one sender process, for --senders
    args = parser.parse_args()
    if args.drain:
        return drain_process(args.drain, args.messages / 10 + 60)
    if args.senders > 1 and args.db != "postgres":
        parser.error("--senders needs --db postgres (on SQLite one process sends)")
    os.environ.pop("SAFEPASSAGE_REDIS_URL", None)  # the database's window, not Redis
    tokens = [token(n) for n in range(args.bots)]
    slugs = ["main"] + [f"spare{n}" for n in range(1, args.bots)]
    with fake_bot_api(tokens) as api_base, database(args.db) as url:
        os.environ.update(
            SAFEPASSAGE_DATA_DIR=data_dir(),
            TELEGRAM_BOTS=",".join(f"{s}={t}" for s, t in zip(slugs, tokens, strict=True)),
            TELEGRAM_API_BASE=api_base,
            DJANGO_SETTINGS_MODULE="safepassage.settings",
        )
        if url:
            os.environ["DATABASE_URL"] = url
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections, transaction

        from safepassage.channels.models import OutboxMessage, TelegramChat
        from safepassage.channels.telegram import outbox
        from safepassage.channels.telegram.sender import Sender

        call_command("migrate", verbosity=0)
        with transaction.atomic():
            chats = [
                TelegramChat.objects.create(
                    bot=slugs[i % args.bots],
                    pseudonym=f"bench{i}",
                    chat_sealed=outbox.seal_chat_id(6_000_000_000 + i),
                )
                for i in range(args.chats)
            ]
            for n in range(args.messages):
                # As the credentials message is queued: never merged or capped.
                outbox.do_send_text(
                    chats[n % len(chats)], f"DEMO message {n}", urgent=not args.overtake
                )
        waits: list[float] = []

        def probe(stop: threading.Event) -> None:
            """One urgent message at a time: queued, then watched until it is recorded sent."""
            while not stop.wait(1.5):
                chat = TelegramChat.objects.create(
                    bot=slugs[0],
                    pseudonym=f"probe{len(waits)}",
                    chat_sealed=outbox.seal_chat_id(6_900_000_000 + len(waits)),
                )
                queued = time.monotonic()
                row = outbox.do_send_text(chat, "DEMO urgent", urgent=True)
                while not stop.is_set():
                    if OutboxMessage.objects.filter(pk=row.pk, status="sent").exists():
                        waits.append(time.monotonic() - queued)
                        break
                    time.sleep(0.02)
            connections.close_all()

        def drain(slug: str) -> None:
            sender = Sender(slug)
            sender.run_until_idle(timeout=args.messages / 10 + 60)
            sender.close()
            connections.close_all()

        cost = gate_cost() if args.senders > 1 else None
        stop_probes = threading.Event()
        prober = threading.Thread(target=probe, args=(stop_probes,))
        started = time.monotonic()
        if args.overtake:
            prober.start()
        if args.senders > 1:
            processes = [
                subprocess.Popen(
                    [sys.executable, __file__, "--drain", slug, "--messages", str(args.messages)]
                )
                for slug in slugs
                for _ in range(args.senders)
            ]
            failed = sum(1 for process in processes if process.wait() != 0)
        else:
            threads = [threading.Thread(target=drain, args=(slug,)) for slug in slugs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            failed = 0
        elapsed = time.monotonic() - started
        if args.overtake:
            stop_probes.set()
            prober.join()
        waits.sort()
        per_bot = [stats(api_base, t) for t in tokens]
        sent = OutboxMessage.objects.filter(status="sent").count()
        ok = sum(f["calls"].get("sendMessage:200", 0) for f in per_bot)
        received = sum(
            v for f in per_bot for k, v in f["calls"].items() if k.startswith("sendMessage:")
        )
        figures = {"rate_limited": sum(f["rate_limited"] for f in per_bot)}
        connections.close_all()
    print(f"database            {args.db}; {args.bots} bot(s), {args.senders} sender(s) each")
    print(f"messages            {args.messages} across {args.chats} chats")
    print(f"sent (outbox rows)  {sent}; accepted by the fake {ok}; calls {received}")
    print(f"elapsed             {elapsed:.1f} s")
    print(
        f"sustained rate      {ok / elapsed:.2f} messages/s"
        f" ({ok / elapsed / args.bots:.2f} per bot)"
    )
    print(f"429 answers         {figures['rate_limited']}")
    if waits:
        print(
            f"urgent, queued→sent p50 {waits[len(waits) // 2]:.2f} s, max {waits[-1]:.2f} s"
            f" ({len(waits)} during the drain)"
        )
    if cost is not None:
        print(f"window per call     {cost * 1000:.2f} ms (take a place and give it back)")
    if args.overtake:
        return 0
    good = sent == args.messages and ok == args.messages and not failed
    return 0 if good else 1


def gate_cost(calls: int = 600) -> float:
    """Mean seconds to take a place in a bot's window in the database and give it back, on
    windows of their own (20 bots of 30 calls: never full, so no waiting is counted)."""
    from safepassage.channels.telegram import dbwindow

    total = 0.0
    for n in range(calls // dbwindow.LIMIT):
        window = dbwindow.DatabaseWindow(f"gate-cost-{n}")
        window.try_enter()  # connects and creates the places; not counted
        started = time.perf_counter()
        for _ in range(dbwindow.LIMIT - 1):
            token, _ = window.try_enter()
            window.leave(token)
        total += time.perf_counter() - started
        window.close()
    return total / (calls // dbwindow.LIMIT * (dbwindow.LIMIT - 1))


def drain_process(slug: str, timeout: float) -> int:
    """One sender process (--senders): configured by the parent's environment."""
    import django

    django.setup()
    from safepassage.channels.telegram.sender import Sender

    sender = Sender(slug)
    sender.run_until_idle(timeout=timeout)
    sender.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
