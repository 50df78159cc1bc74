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

Where a genuine step's time goes (``--no-breakdown`` leaves it out): the update from its
creation to its 200 (the fake Bot API notes when each push was answered: committed), from
there to its reply's outbox row being claimed, of which waiting behind an earlier row of its
chat, and from the claim to the fake receiving the reply. The claims are seen by a thread
that reads the genuine chats' unsent rows every ``WATCH_EVERY`` seconds (by their
pseudonyms: the benchmark gives serve its master key), so those figures are late by up to
that much plus one query.

The throw-away database is named ``--db-prefix`` (``BENCH_DB_PREFIX``, else "flood_bench")
and a random suffix; the data directory is made under ``TMPDIR``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
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
WATCH_EVERY = 0.02  # seconds between two looks at the genuine chats' unsent rows
CODES = 10  # leaflets: genuine applicants come with a campaign code, spread over ten
STEPS = [
    ("text", "/start CODE"),
    ("press", "self"),
    ("press", "front"),
    ("press", "READINESS"),
    ("text", "DEMO sector"),
]


def _pseudonyms(data: str, master: str, user_ids: list[int]) -> list[str]:
    """The chats' pseudonyms as serve computes them (its master key and data directory)."""
    os.environ.update(SAFEPASSAGE_DATA_DIR=data, SAFEPASSAGE_MASTER_KEY=master)
    from safepassage.privacy.fields import channel_pseudonym

    return [channel_pseudonym("telegram", str(user_id)) for user_id in user_ids]


def _deferred(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM channels_deferredupdate").fetchone()
    return int(row[0]) if row else 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * share + 0.5) - 1))]


@dataclass
class Step:
    """One genuine message and its reply (wall-clock seconds)."""

    kind: str  # "text" or "press"
    index: int  # which step of the flow (0: /start)
    sent_at: float
    update_id: int
    replied_at: float


class RowWatch:
    """Reads the genuine chats' unsent outbox rows every WATCH_EVERY seconds and keeps, per
    row, its chat's pseudonym, its method and each status it was seen in, from when."""

    def __init__(self, url: str, pseudonyms: list[str]) -> None:
        self.url = url
        self.pseudonyms = pseudonyms
        self.rows: dict[int, tuple[str, str, list[tuple[str, float]]]] = {}
        self.looks = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                found = conn.execute(
                    "SELECT c.pseudonym, o.id, o.method, o.status FROM channels_outboxmessage o"
                    " JOIN channels_telegramchat c ON c.id = o.chat_id"
                    " WHERE c.pseudonym = ANY(%s) AND o.status IN ('queued', 'behind', 'sending')",
                    [self.pseudonyms],
                ).fetchall()
                seen = time.time()
                self.looks += 1
                for pseudonym, pk, method, status in found:
                    _, _, statuses = self.rows.setdefault(pk, (pseudonym, method, []))
                    if not statuses or statuses[-1][0] != status:
                        statuses.append((status, seen))
                self.stop.wait(WATCH_EVERY)

    def reply_row(self, pseudonym: str, after: float) -> list[tuple[str, float]] | None:
        """The statuses of the chat's first message row first seen after ``after``."""
        for chat, method, statuses in sorted(self.rows.values(), key=lambda r: r[2][0][1]):
            if chat == pseudonym and method == "sendMessage" and statuses[0][1] >= after:
                return statuses
        return None


def breakdown(
    people: list[Genuine], watch: RowWatch, acked_at: dict[int, float], pseudonyms: list[str]
) -> None:
    """Print where the genuine steps' time went (the module's docstring)."""
    parts: list[tuple[float, float, float, float, float, int]] = []
    unseen = 0
    for person, pseudonym in zip(people, pseudonyms, strict=False):
        for step in person.steps:
            acked = acked_at.get(step.update_id)
            statuses = watch.reply_row(pseudonym, step.sent_at)
            claimed = next((t for s, t in (statuses or []) if s == "sending"), None)
            if acked is None or statuses is None or claimed is None:
                unseen += 1
                continue
            behind = sum(
                (statuses[n + 1][1] if n + 1 < len(statuses) else claimed) - t
                for n, (s, t) in enumerate(statuses)
                if s == "behind"
            )
            parts.append(
                (
                    step.replied_at - step.sent_at,
                    acked - step.sent_at,
                    claimed - acked,
                    behind,
                    step.replied_at - claimed,
                    step.index,
                )
            )
    if not parts:
        print("breakdown                    no step seen")
        return
    names = [
        "message → 200 (committed)",
        "200 → reply claimed",
        "  of which behind its chat",
        "claimed → reply sent",
    ]
    tail = sorted(parts)[int(len(parts) * 0.95) :]
    print(
        f"where the time goes ({len(parts)} steps, {unseen} not seen; {watch.looks} looks,"
        f" claims seen up to {WATCH_EVERY * 1000:.0f} ms late)   p50 / p99 / mean of the slowest 5%"
    )
    for n, name in enumerate(names, start=1):
        values = [p[n] for p in parts]
        print(
            f"  {name:<28} {statistics.median(values):.2f} / {percentile(values, 0.99):.2f}"
            f" / {statistics.fmean(p[n] for p in tail):.2f} s"
        )
    slowest = {n: sum(1 for p in tail if p[5] == n) for n in range(len(STEPS))}
    print(
        "  the slowest 5% by step of the flow: "
        + ", ".join(
            f"{STEPS[n][1].split()[0].lower()} {count}" for n, count in slowest.items() if count
        )
    )
    behind_steps = sum(1 for p in parts if p[3] > 0)
    print(
        f"  replies that waited behind an earlier row of their chat: {behind_steps} of {len(parts)}"
    )


class Genuine:
    """One applicant in the Telegram app: writes or presses, waits for the bot's answer."""

    def __init__(self, fake: FakeTelegram, user_id: int, ready_now: bool, code: str = "") -> None:
        self.fake = fake
        self.code = code
        self.user = FakeTelegram.applicant(user_id, "ru")
        self.ready_now = ready_now
        self.latencies: list[float] = []
        self.lost = 0
        self.steps: list[Step] = []

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
            update_id = self.fake.send_text(
                TOKEN, self.user, value.replace("CODE", self.code).strip()
            )
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
            update_id = self.fake.press(TOKEN, self.user, message, data)
        latency = self._reply_after(mark, sent_at, timeout)
        if latency is None:
            self.lost += 1
        else:
            self.latencies.append(latency)
            self.steps.append(Step(kind, len(self.steps), sent_at, update_id, sent_at + latency))

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
    parser.add_argument(
        "--db-prefix",
        default=os.environ.get("BENCH_DB_PREFIX", "flood_bench"),
        help="the throw-away database's name starts with it",
    )
    parser.add_argument("--no-breakdown", action="store_true", help="do not watch the claims")
    args = parser.parse_args()

    name = f"{args.db_prefix}_{secrets.token_hex(4)}"
    admin = POSTGRES.rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES.rstrip("/") + "/" + name
    port = free_port()
    fake = FakeTelegram([TOKEN], strict_callbacks=False).start()
    data = tempfile.mkdtemp(prefix="sp-flood-")
    master = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        SAFEPASSAGE_MASTER_KEY=master,
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
        people = [
            Genuine(fake, GENUINE_FIRST + n, n < args.ready_now, f"leaflet{n % CODES}")
            for n in range(args.genuine)
        ]
        pseudonyms = _pseudonyms(data, master, [p.user["id"] for p in people])
        watch = RowWatch(url, pseudonyms)
        if not args.no_breakdown:
            watch.thread.start()
        flood_began = time.time()
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
        threads = [
            threading.Thread(target=p.run, args=(3 + spread * n / max(1, args.genuine), STEPS))
            for n, p in enumerate(people)
        ]
        for thread in threads:
            thread.start()
        out, _ = hostile.communicate(timeout=args.seconds + 600)
        flood = json.loads(out)
        flood_ended = time.monotonic()
        flood_over = time.time()
        deferred_at_end = _deferred(url)
        for thread in threads:
            thread.join(timeout=300)
        watch.stop.set()
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
    with fake.lock:
        during = [c.method for c in bot.calls if flood_began <= c.at <= flood_over]
    print(
        f"Bot API calls in the flood   {len(during) / (flood_over - flood_began):.1f}/s"
        f" ({during.count('sendMessage') / (flood_over - flood_began):.1f}/s sendMessage)"
    )
    if not args.no_breakdown:
        with fake.lock:
            acked_at = dict(bot.acked_at)
        breakdown(people, watch, acked_at, pseudonyms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
