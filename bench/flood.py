"""A flood beside genuine applicants (issue 12): `safepassage serve` on PostgreSQL with its
defaults, the fake Bot API enforcing Telegram's limits (30 messages/s per bot, 1/s per chat),
HOSTILE chats writing texts as fast as the pacing allows (by default five times the intake
rate bench/intake.py measured, 1,200 updates/s), and GENUINE applicants going through the first
five steps of the flow meanwhile (some ready now; each came by a leaflet: /start with one
of ten campaign codes), each waiting for the bot's answer and a
second of thought before the next step. After the flood, AFTER more applicants write /start.

    .venv/bin/python bench/flood.py [--seconds 60] [--hostile 1000] [--rate 6000]
                                    [--genuine 50] [--ready-now 10] [--redis URL]

Prints genuine p50/p99 from message to reply (ready-now applicants apart), lost messages
(genuine messages never answered, hostile updates refused), the share of hostile senders
parked and of their updates answered, whether the ready-now cases top the console queue, and
how soon applicants are answered after the flood stops.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _setup import POSTGRES, free_port, start_serve, wait_port  # noqa: E402

from safepassage.testing.fake_telegram import FakeTelegram  # noqa: E402

TOKEN = "7000000001:AAE-bench-token-0123456789abcdefgh"
SECRET = "bench-webhook-secret-0123456789"
HOSTILE_FIRST = 6_100_000_000
GENUINE_FIRST = 6_200_000_000
CODES = 10  # leaflets: genuine applicants come with a campaign code, spread over ten
STEPS = [
    ("text", "/start CODE"),
    ("press", "self"),
    ("press", "front"),
    ("press", "READINESS"),
    ("text", "DEMO sector"),
]


def _deferred(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM channels_deferredupdate").fetchone()
    return int(row[0]) if row else 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * share + 0.5) - 1))]


class Genuine:
    """One applicant in the Telegram app: writes or presses, waits for the bot's answer."""

    def __init__(self, fake: FakeTelegram, user_id: int, ready_now: bool, code: str = "") -> None:
        self.fake = fake
        self.code = code
        self.user = FakeTelegram.applicant(user_id, "ru")
        self.ready_now = ready_now
        self.latencies: list[float] = []
        self.lost = 0

    def _reply_after(self, mark: int, sent_at: float, timeout: float) -> float | None:
        bot = self.fake.bots[TOKEN]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.fake.lock:
                calls = bot.calls[mark:]
            for call in calls:
                if (
                    call.method == "sendMessage"
                    and call.status == 200
                    and int(call.params.get("chat_id", 0)) == self.user["id"]
                ):
                    return call.at - sent_at
            time.sleep(0.01)
        return None

    def step(self, kind: str, value: str, timeout: float = 120.0) -> None:
        bot = self.fake.bots[TOKEN]
        with self.fake.lock:
            mark = len(bot.calls)
        sent_at = time.time()
        if kind == "text":
            self.fake.send_text(TOKEN, self.user, value.replace("CODE", self.code).strip())
        else:
            value = ("now" if self.ready_now else "days") if value == "READINESS" else value
            message = self.fake.chat(TOKEN, self.user["id"])[-1]
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            data = next(
                b["callback_data"]
                for row in rows
                for b in row
                if b["callback_data"].endswith(f"|{value}")
            )
            self.fake.press(TOKEN, self.user, message, data)
        latency = self._reply_after(mark, sent_at, timeout)
        if latency is None:
            self.lost += 1
        else:
            self.latencies.append(latency)

    def run(self, delay: float, steps: list[tuple[str, str]]) -> None:
        time.sleep(delay)
        for kind, value in steps:
            self.step(kind, value)
            if self.lost:
                return
            time.sleep(1.0)  # a person reads the question before answering


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--hostile", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=6000, help="hostile updates/s offered")
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--genuine", type=int, default=50)
    parser.add_argument("--ready-now", type=int, default=10)
    parser.add_argument("--after", type=int, default=10)
    parser.add_argument("--redis", default="", help="SAFEPASSAGE_REDIS_URL for serve")
    args = parser.parse_args()

    name = f"flood_bench_{secrets.token_hex(4)}"
    admin = POSTGRES.rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES.rstrip("/") + "/" + name
    port = free_port()
    fake = FakeTelegram([TOKEN], strict_callbacks=False).start()
    data = tempfile.mkdtemp(prefix="sp-flood-")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        SAFEPASSAGE_DATA_DIR=data,
        DATABASE_URL=url,
        TELEGRAM_BOTS=f"main={TOKEN}",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE=fake.base_url,
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}",
        SAFEPASSAGE_LOG_LEVEL="WARNING",
    )
    if args.redis:
        env["SAFEPASSAGE_REDIS_URL"] = args.redis
    server = start_serve(env, data, port)
    try:
        wait_port(port, "/healthz")
        with psycopg.connect(url, autocommit=True) as conn:
            for n in range(CODES):  # every NOT NULL column: the model's defaults live in Python
                row = conn.execute(
                    "INSERT INTO campaigns_campaign (code, name, active, created_at, medium,"
                    " languages, target_sector, status, notes, instructions)"
                    " VALUES (%s, %s, true, now(), 'leaflet', 'ru', '', 'active', '', '{}')"
                    " RETURNING id",
                    [f"leaflet{n}", f"DEMO leaflet {n}"],
                ).fetchone()
                assert row is not None
                conn.execute(
                    "INSERT INTO campaigns_campaigncode (campaign_id, code, label, created_at)"
                    " VALUES (%s, %s, '', now())",
                    [row[0], f"leaflet{n}"],
                )
        hostile = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "_flood_load.py"),
                f"http://127.0.0.1:{port}/tg/main/webhook",
                SECRET,
                str(args.hostile),
                str(args.rate),
                str(args.connections),
                str(args.seconds),
                str(HOSTILE_FIRST),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        # Genuine applicants start over the first half of the flood (at least 3 s into it).
        spread = max(1.0, min(10.0, args.seconds / 2 - 3))
        people = [
            Genuine(fake, GENUINE_FIRST + n, n < args.ready_now, f"leaflet{n % CODES}")
            for n in range(args.genuine)
        ]
        threads = [
            threading.Thread(target=p.run, args=(3 + spread * n / max(1, args.genuine), STEPS))
            for n, p in enumerate(people)
        ]
        for thread in threads:
            thread.start()
        out, _ = hostile.communicate(timeout=args.seconds + 600)
        flood = json.loads(out)
        flood_ended = time.monotonic()
        deferred_at_end = _deferred(url)
        for thread in threads:
            thread.join(timeout=300)
        # After the flood: new applicants, while the hostile backlog is still queued.
        after = [
            Genuine(fake, GENUINE_FIRST + 10_000 + n, False, f"leaflet{n % CODES}")
            for n in range(args.after)
        ]
        after_threads = [
            threading.Thread(target=p.run, args=(0.2 * n, STEPS[:1])) for n, p in enumerate(after)
        ]
        after_started = time.monotonic() - flood_ended
        for thread in after_threads:
            thread.start()
        for thread in after_threads:
            thread.join(timeout=300)
        # Intake shedding: the parked senders' deferred updates are applied once intake is idle.
        drained_by = time.monotonic() + 120
        while (deferred_left := _deferred(url)) and time.monotonic() < drained_by:
            time.sleep(0.5)
        drained_after = time.monotonic() - flood_ended
        with psycopg.connect(url) as conn:
            committed = conn.execute("SELECT count(*) FROM channels_telegramupdate").fetchone()
            parked = conn.execute(
                "SELECT count(*) FROM channels_telegramchat WHERE parked_until IS NOT NULL"
            ).fetchone()
            top = conn.execute(
                "SELECT urgency FROM cases_case WHERE status = 'draft'"
                " ORDER BY urgency DESC LIMIT %s",
                [args.ready_now],
            ).fetchall()
            hostile_sent = conn.execute(
                "SELECT count(*) FROM channels_outboxmessage o JOIN channels_telegramchat c"
                " ON c.id = o.chat_id WHERE o.status = 'sent' AND o.method = 'sendMessage'"
                " AND c.parked_until IS NOT NULL"
            ).fetchone()
    finally:
        server.terminate()
        server.wait(timeout=30)
        fake.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    genuine = [lat for p in people for lat in p.latencies] or [float("nan")]
    ready = [lat for p in people if p.ready_now for lat in p.latencies]
    later = [lat for p in after for lat in p.latencies]
    ready = ready or [float("nan")]
    lost = sum(p.lost for p in people + after)
    steps = len(genuine) + len(later) + lost
    bot = fake.bots[TOKEN]
    print(
        f"flood: {args.hostile} hostile senders, offered {args.rate:.0f} updates/s for"
        f" {args.seconds:.0f} s; taken {flood['per_second']:.0f}/s ({flood['updates']} updates,"
        f" {flood['errors']} refused); {args.connections} connections"
    )
    print(f"committed updates            {committed[0] if committed else 0}")
    print(
        f"genuine ({args.genuine}, {len(genuine)} replies)  p50 {statistics.median(genuine):.2f} s"
        f"  p99 {percentile(genuine, 0.99):.2f} s  max {max(genuine):.2f} s"
    )
    if ready:
        print(
            f"  of which ready now ({args.ready_now})  p50 {statistics.median(ready):.2f} s"
            f"  p99 {percentile(ready, 0.99):.2f} s"
        )
    print(f"lost messages                {lost} of {steps} genuine; {flood['errors']} hostile")
    print(
        f"hostile senders parked       {parked[0] if parked else 0} of {args.hostile}"
        f" ({(parked[0] if parked else 0) / args.hostile:.0%}); their replies sent"
        f" {hostile_sent[0] if hostile_sent else 0} for {flood['updates']} updates"
    )
    print(
        "ready-now cases on top       "
        + ("yes" if top and all(row[0] >= 80 for row in top) else f"no ({top})")
    )
    if later:
        print(
            f"after the flood (+{after_started:.1f} s)  {len(later)} first answers:"
            f" p50 {statistics.median(later):.2f} s  max {max(later):.2f} s"
        )
    print(
        f"deferred updates             {deferred_at_end} waiting as the flood ended;"
        f" {deferred_left} left {drained_after:.1f} s after it"
    )
    print(f"429 answers                  {bot.rate_limited}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
