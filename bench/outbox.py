"""Outbox throughput: 2,000 messages across 500 chats to the local fake Bot API, which enforces
Telegram's limits (30/s per bot, 1/s per chat) and answers 429 beyond them.

    .venv/bin/python bench/outbox.py [--db sqlite|postgres] [--messages 2000] [--chats 500]

Prints sustained messages per second and the number of 429 answers (target: >= 28.5, zero).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _setup import data_dir, database, fake_bot_api, stats

TOKEN = "7000000001:AAE-bench-token-0123456789abcdefgh"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=500)
    args = parser.parse_args()
    with fake_bot_api(TOKEN) as api_base, database(args.db) as url:
        os.environ.update(
            SAFEPASSAGE_DATA_DIR=data_dir(),
            TELEGRAM_BOTS=f"main={TOKEN}",
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
                    bot="main",
                    pseudonym=f"bench{i}",
                    chat_sealed=outbox.seal_chat_id(6_000_000_000 + i),
                )
                for i in range(args.chats)
            ]
            for n in range(args.messages):
                outbox.do_send_text(chats[n % len(chats)], f"DEMO message {n}")
        sender = Sender("main")
        started = time.monotonic()
        sender.run_until_idle(timeout=args.messages / 10 + 60)
        elapsed = time.monotonic() - started
        sender.close()
        figures = stats(api_base, TOKEN)
        sent = OutboxMessage.objects.filter(status="sent").count()
        ok = figures["calls"].get("sendMessage:200", 0)
        received = sum(v for k, v in figures["calls"].items() if k.startswith("sendMessage:"))
        connections.close_all()
    print(f"database            {args.db}")
    print(f"messages            {args.messages} across {args.chats} chats")
    print(f"sent (outbox rows)  {sent}; accepted by the fake {ok}; calls {received}")
    print(f"elapsed             {elapsed:.1f} s")
    print(f"sustained rate      {ok / elapsed:.2f} messages/s")
    print(f"429 answers         {figures['rate_limited']}")
    return 0 if sent == args.messages and ok == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
