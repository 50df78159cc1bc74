#!/usr/bin/env python3
"""Console under load: 20 operators working at once on PostgreSQL with 100,000 cases.

    .venv/bin/python bench/console_load.py --database postgres://postgres@127.0.0.1:5432/ops_console_load

Seeds once (a database that already holds the cases is reused): 2,000 cases exactly as
bench/console.py makes them (each with its own wrapped key and key pair, name, unit and ten
messages sealed to it), then PostgreSQL itself copies them (INSERT ... SELECT, in seconds) into
98,000 more cases with their 980,000 messages, each copy with its own id, reference digest and
a shifted time. Only the 2,000 originals are opened on case pages (a copy's ciphertext is bound
to its original's id, so it would not open); the queue and its filters read all 100,000.

Then `safepassage serve` runs on that database (its default web processes) and 20 operators
(two of them supervisors) log in over HTTP with password and TOTP, each in its own thread with
its own session, start within the first --stagger seconds (2 by default) and work for
--seconds: the queue open and its rows polled every 10 s, as console.js does; in between,
with a pause of --think seconds on average, the queue page, a filtered queue, a case opened
from the queue, a reply to it (one time in three) or "take next" (followed to the case it
took). While a case page is open its live updates flow as console.js
asks them: the live endpoint every 2 s (``writing=1`` while a reply is being typed), and the
conversation whenever the newest message changed. Cases already past their deadline are marked
as raised first (the escalation task's backlog in a running deployment).
Prints p50/p95/max per page. Target: p95 under 150 ms.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import _console_copies  # noqa: E402
import console  # noqa: E402  (bench/console.py: the seeding of real, sealed cases)

TOTAL_CASES = 100_000
REAL_CASES = 2_000
DATA_DIR = ROOT / "var" / "bench-console-load"


def setup(database: str) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["SAFEPASSAGE_DATA_DIR"] = str(DATA_DIR)
    os.environ["SAFEPASSAGE_ALLOWED_HOSTS"] = "127.0.0.1"
    import psycopg

    name = database.rsplit("/", 1)[1]
    admin = database.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safepassage.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _columns(model: Any, skip: set[str]) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if f.column not in skip]


def seed() -> None:
    from django.db import connection

    from safepassage.cases.models import Case, Contact, Message

    have = Case.objects.count()
    if have >= TOTAL_CASES:
        print(f"reusing {have} cases, {Message.objects.count()} messages", flush=True)
        _console_copies.reseal_copies()  # a database seeded before copies were sealed
        return
    started = time.monotonic()
    console.CASES = REAL_CASES
    console._seed()  # the originals, sealed for real
    print(f"  {REAL_CASES} sealed cases in {time.monotonic() - started:.0f} s", flush=True)
    copies = (TOTAL_CASES - Case.objects.count()) // REAL_CASES
    contact_cols = _columns(Contact, {"id"})
    case_cols = _columns(Case, {"id", "contact_id", "reference_digest"})
    message_cols = _columns(Message, {"id", "case_id"})
    shifted = {"last_applicant_at", "reply_due_at", "submitted_at"}
    q = connection.ops.quote_name
    case_values = ", ".join(
        f"c.{q(col)} - s.shift" if col in shifted else f"c.{q(col)}" for col in case_cols
    )
    contacts, cases, messages = (q(m._meta.db_table) for m in (Contact, Case, Message))
    # Only names from the models' own metadata go into these statements.
    statements = [
        "CREATE TEMP TABLE copies AS SELECT c.id AS src, c.contact_id AS src_contact,"  # noqa: S608
        " gen_random_uuid() AS id, gen_random_uuid() AS contact_id,"
        " md5(random()::text) || md5(random()::text) AS digest,"
        " floor(random() * 1440) * interval '1 minute' AS shift"
        f" FROM {cases} c, generate_series(1, {int(copies)})",
        f"INSERT INTO {contacts} (id, {', '.join(map(q, contact_cols))})"  # noqa: S608
        f" SELECT s.contact_id, {', '.join('o.' + q(c) for c in contact_cols)}"
        f" FROM copies s JOIN {contacts} o ON o.id = s.src_contact",
        f"INSERT INTO {cases} (id, contact_id, reference_digest, {', '.join(map(q, case_cols))})"  # noqa: S608
        f" SELECT s.id, s.contact_id, s.digest, {case_values}"
        f" FROM copies s JOIN {cases} c ON c.id = s.src",
        f"SELECT setval(pg_get_serial_sequence('{Message._meta.db_table}', 'id'),"  # noqa: S608
        f" (SELECT max(id) FROM {messages}))",
        f"INSERT INTO {messages} (case_id, {', '.join(map(q, message_cols))})"  # noqa: S608
        f" SELECT s.id, {', '.join('m.' + q(c) for c in message_cols)}"
        f" FROM copies s JOIN {messages} m ON m.case_id = s.src",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        cursor.execute("DROP TABLE copies")
    print(
        f"  copied to {Case.objects.count()} cases, {Message.objects.count()} messages"
        f" ({time.monotonic() - started:.0f} s)",
        flush=True,
    )
    _console_copies.reseal_copies()
    print(f"  seeded in {time.monotonic() - started:.0f} s in all", flush=True)


def catch_up_escalation() -> None:
    """Mark every case already past its deadline as raised to supervisors, as the escalation
    task (every minute) has done in a running deployment: otherwise `serve` spends the run
    raising the seeded backlog, 500 cases a minute, beside the operators' requests."""
    from django.db.models import F
    from django.utils import timezone

    from safepassage.cases import escalation
    from safepassage.cases.models import Case

    raised = Case.objects.filter(escalation.overdue(timezone.now())).update(
        escalated_due_at=F("reply_due_at")
    )
    print(f"  {raised} overdue cases marked as raised (the escalation task's backlog)")


def make_operators(count: int) -> list[tuple[str, bytes]]:
    """(username, TOTP key) of ``count`` new staff: two supervisors, the rest operators."""
    from django.contrib.auth.models import User

    from safepassage.console.models import SealedTOTPDevice, StaffProfile
    from safepassage.privacy import keyring

    holder = User.objects.get(username="bench_keyholder")
    out = []
    for n in range(count):
        role = "supervisor" if n < 2 else "operator"
        # An earlier run's account (its key grant cost two Argon2 hashes) is used again.
        earlier = User.objects.filter(username__startswith=f"load_{role}_{n}_").first()
        if earlier is not None:
            device = SealedTOTPDevice.objects.get(user=earlier, confirmed=True)
            out.append((earlier.username, bytes(device.bin_key)))
            continue
        username = f"load_{role}_{n}_{uuid.uuid4().hex[:6]}"
        user = User.objects.create_user(username, password=console.BENCH_PASSWORD, is_staff=True)
        StaffProfile.objects.create(user=user, role=role)
        keyring.do_grant(holder, console.BENCH_PASSWORD, user, console.BENCH_PASSWORD)
        device = SealedTOTPDevice.create_sealed(user, confirmed=True)
        out.append((username, bytes(device.bin_key)))
    return out


TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CASE_LINK = re.compile(r'href="(/console/cases/[0-9a-f-]{36}/)"')
LIVE = "case live (2 s poll)"
CASE_PATH = re.compile(r"/console/cases/[0-9a-f-]{36}/")
CASE_LAST = re.compile(r'data-last="(\d*)"')
LIVE_LAST = re.compile(r'"last": ?(\d+)')


class Operator(threading.Thread):
    def __init__(
        self,
        base: str,
        username: str,
        totp_key: bytes,
        until: float,
        think: float,
        timings: dict[str, list[float]],
        errors: list[str],
        lock: threading.Lock,
        seed: int,
        originals: list[str],
    ) -> None:
        super().__init__(daemon=True)
        import httpx

        self.http = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
        self.username, self.totp_key = username, totp_key
        self.until, self.think = until, think
        self.timings, self.errors, self.lock = timings, errors, lock
        self.rng = random.Random(seed)
        self.originals = originals
        self.original_set = set(originals)
        self.next_poll = 0.0
        self.start_delay = 0.0
        # The case page open in the browser (console.js asks its live endpoint every 2 s and
        # fetches the conversation when the newest message changed), or None.
        self.case_url: str | None = None
        self.case_last = ""
        self.next_live = 0.0
        self.writing = False

    def request(self, page: str, method: str, url: str, data: dict[str, str] | None = None) -> str:
        import httpx

        started = time.perf_counter()
        try:
            response = self.http.request(method, url, data=data)
        except httpx.TransportError:
            # The server closed an idle keep-alive connection just as it was reused: again.
            started = time.perf_counter()
            response = self.http.request(method, url, data=data)
        elapsed = (time.perf_counter() - started) * 1000
        ok = response.status_code == (302 if method == "POST" else 200)
        if page in {"case page", "reply (POST)", LIVE, "conversation"} and (
            response.status_code == 404
        ):
            page, ok = "not theirs (404)", True  # another operator took the case meanwhile
            self.case_url = None  # console.js stops asking too
        with self.lock:
            self.timings[page].append(elapsed)
            if not ok:
                self.errors.append(f"{page} {response.status_code}")
        if response.status_code == 302:
            return str(response.headers.get("location", ""))
        return response.text

    def login(self) -> None:
        from django_otp.oath import TOTP

        page = self.http.get("/console/login/").text
        token = TOKEN.search(page)
        assert token, "no login form"
        data = {"csrfmiddlewaretoken": token.group(1), "username": self.username}
        response = self.http.post(
            "/console/login/", data={**data, "password": console.BENCH_PASSWORD}
        )
        assert response.status_code == 302, response.status_code
        page = self.http.get("/console/login/verify/").text
        token = TOKEN.search(page)
        assert token, "no verify form"
        code = f"{TOTP(self.totp_key).token():06d}"
        response = self.http.post(
            "/console/login/verify/", data={"csrfmiddlewaretoken": token.group(1), "code": code}
        )
        assert response.status_code == 302, response.status_code

    def poll(self) -> None:
        if time.monotonic() >= self.next_poll:  # console.js refreshes the rows every 10 s
            self.request("queue rows (poll)", "GET", "/console/queue/rows/")
            self.next_poll = time.monotonic() + 10
        if self.case_url and time.monotonic() >= self.next_live:  # an open case: every 2 s
            self.next_live = time.monotonic() + 2
            writing = "1" if self.writing else "0"
            body = self.request(LIVE, "GET", f"{self.case_url}live/?writing={writing}")
            found = LIVE_LAST.search(body)
            if found and found.group(1) != self.case_last:
                self.request("conversation", "GET", f"{self.case_url}conversation/")
                self.case_last = found.group(1)

    def open_case(self, url: str) -> str:
        """The case page, as the browser shows it; its live updates flow from now on."""
        page = self.request("case page", "GET", url)
        found = CASE_LAST.search(page)
        self.case_url, self.case_last = url, found.group(1) if found else ""
        self.next_live = time.monotonic() + 2
        return page

    def pause(self) -> None:
        end = time.monotonic() + self.rng.expovariate(1 / self.think)
        while time.monotonic() < min(end, self.until):
            self.poll()
            time.sleep(min(0.2, max(end - time.monotonic(), 0)))

    def run(self) -> None:
        try:
            self.work()
        except Exception as exc:  # a crashed operator is reported, not hidden
            with self.lock:
                self.errors.append(f"{self.username}: {type(exc).__name__}: {exc}")

    def queue(self, page: str, url: str) -> str:
        self.case_url = None  # the browser left the case page for the queue
        return self.request(page, "GET", url)

    def work(self) -> None:
        # A shift's members do not open their queues in the same millisecond: each starts
        # within the first --stagger seconds, and console.js first refreshes the rows 10 s
        # after the queue page loaded.
        time.sleep(self.start_delay)
        page = self.queue("queue", "/console/queue/")
        self.next_poll = time.monotonic() + 10
        while time.monotonic() < self.until:
            roll = self.rng.random()
            if roll < 0.15:
                page = self.queue(
                    "filtered queue",
                    self.rng.choice(
                        [
                            "/console/queue/?language=ko&overdue=1",
                            "/console/queue/?status=waiting&channel=telegram",
                            "/console/queue/?mine=1",
                        ]
                    ),
                )
            elif roll < 0.25:
                token = TOKEN.search(page)
                if token:
                    taken = self.request(
                        "take next (POST)",
                        "POST",
                        "/console/queue/next/",
                        {"csrfmiddlewaretoken": token.group(1)},
                    )
                    if CASE_PATH.fullmatch(taken):  # the browser follows to the case taken
                        self.open_case(taken)
                        self.pause()
                page = self.queue("queue", "/console/queue/")
            else:
                page = self.queue("queue", "/console/queue/")
                # A case from the queue whose sealed messages open (an original, not a copy),
                # else an original from the whole set, as a search by reference finds one.
                links = [u for u in CASE_LINK.findall(page) if u.split("/")[3] in self.original_set]
                url = (
                    self.rng.choice(links)
                    if links
                    else f"/console/cases/{self.rng.choice(self.originals)}/"
                )
                case_page = self.open_case(url)
                token = TOKEN.search(case_page)
                if token and self.rng.random() < 1 / 3:
                    self.writing = True
                    self.pause()
                    self.writing = False
                    back = self.request(
                        "reply (POST)",
                        "POST",
                        url + "reply/",
                        {"csrfmiddlewaretoken": token.group(1), "text": "DEMO reply"},
                    )
                    if back.startswith(url):  # the browser follows to the case page
                        self.open_case(url)
            self.pause()


def serve(database: str, processes: int, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database, "SAFEPASSAGE_DATA_DIR": str(DATA_DIR)}
    env["SAFEPASSAGE_ALLOWED_HOSTS"] = "127.0.0.1"
    env["SAFEPASSAGE_PURGE_EVERY_SECONDS"] = "0"  # keep the seeded data as it is
    if processes:
        env["SAFEPASSAGE_WEB_PROCESSES"] = str(processes)
    log = (DATA_DIR / "serve.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "safepassage.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=DATA_DIR,
    )


def wait_ready(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("serve did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True, help="a postgres:// URL")
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between actions")
    parser.add_argument(
        "--stagger", type=float, default=2.0, help="operators start within this many seconds"
    )
    parser.add_argument("--web-processes", type=int, default=0, help="0: serve's default")
    args = parser.parse_args()
    setup(args.database)
    seed()
    operators = make_operators(args.operators)
    catch_up_escalation()
    from safepassage.cases.models import Case
    from safepassage.privacy.models import CaseKey

    originals = [
        str(pk)
        for pk in Case.objects.filter(
            pk__in=CaseKey.objects.values("case_id"), assigned_to=None, merged_into=None
        ).values_list("pk", flat=True)
    ]
    from django.db import connections

    connections.close_all()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    server = serve(args.database, args.web_processes, port)
    try:
        wait_ready(base)
        timings: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        lock = threading.Lock()
        until = time.monotonic() + args.seconds + 30  # logins first (Argon2), then work
        threads = [
            Operator(base, name, key, until, args.think, timings, errors, lock, n, originals)
            for n, (name, key) in enumerate(operators)
        ]
        for thread in threads:
            thread.login()
        started = time.monotonic()
        stagger = random.Random(1)
        for thread in threads:
            thread.until = started + args.seconds
            thread.start_delay = stagger.uniform(0, args.stagger)
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    found = re.search(r"(\d+) web process", (DATA_DIR / "serve.log").read_text())
    total = sum(len(v) for v in timings.values())
    print(
        f"{args.operators} operators for {wall:.0f} s, {found.group(1) if found else '?'} web"
        f" process(es), think {args.think} s: {total} requests ({total / wall:.1f}/s),"
        f" {len(errors)} errors"
    )
    worst = 0.0
    for page in [
        "queue",
        "queue rows (poll)",
        "filtered queue",
        "case page",
        LIVE,
        "conversation",
        "reply (POST)",
        "take next (POST)",
        "not theirs (404)",
    ]:
        values = sorted(timings.get(page, []))
        if not values:
            continue
        p95 = values[max(math.ceil(len(values) * 0.95) - 1, 0)]  # nearest rank
        worst = max(worst, p95)
        print(
            f"{page:<20} n={len(values):<5} p50={statistics.median(values):7.1f} ms"
            f"  p95={p95:7.1f} ms  max={values[-1]:7.1f} ms"
        )
    for error in errors[:10]:
        print("error:", error)
    print(f"worst p95: {worst:.1f} ms (target < 150 ms): {'OK' if worst < 150 else 'MISSED'}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
