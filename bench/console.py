#!/usr/bin/env python3
"""Console benchmark: 100,000 cases and 1,000,000 messages, then the pages operators live in.

    .venv/bin/python bench/console.py                      # SQLite (a file under var/bench)
    .venv/bin/python bench/console.py --database postgres://postgres@127.0.0.1:5432/sp_bench2

Seeds once (DEMO data; a database that already holds the cases is reused), then requests each
page through the whole Django stack (middleware, session, second-factor check, templates) as a
logged-in operator and supervisor, and prints p50/p95/max in milliseconds. Target: p95 under
150 ms for the queue, a filtered queue and a case page. Every message is really encrypted
under its case's key, as in production.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = 100_000
MESSAGES_PER_CASE = 10
BATCH = 5_000
LANGS = ["ru", "ru", "ru", "ko", "uk"]
STATUSES = ["new", "in_contact", "verified", "waiting", "waiting", "ready", "closed", "surrendered"]
BENCH_PASSWORD = "bench password 1234"
READINESS = ["now", "days", "later", "later", "unknown"]


def _setup(database: str) -> None:
    data_dir = ROOT / "var" / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["SAFEPASSAGE_DATA_DIR"] = str(data_dir)
    os.environ["SAFEPASSAGE_ALLOWED_HOSTS"] = "testserver"  # Django's test client
    if database == "sqlite":
        # v2: personal fields sealed for staff (issue 5); v1 files hold the older format.
        os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'console-bench-v2.sqlite3'}"
    else:
        os.environ["DATABASE_URL"] = database
        import psycopg

        name = database.rsplit("/", 1)[1]
        admin = database.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safepassage.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def sealed_demo_answers(holder: Any, public: bytes, name: str) -> bytes:
    """The answers map as a confirmed case keeps it: the DEMO name and unit sealed to the
    case's own key pair, the map under the case's data key."""
    import base64

    from safepassage.cases import sealed
    from safepassage.privacy import fields, staff_fields

    answers = {"name": name, "unit": "DEMO-UNIT"}
    return fields.seal_json(
        holder,
        sealed.ANSWERS_MAP,
        {
            field: base64.b64encode(
                staff_fields.seal_with_public_key(holder, f"answer:{field}", value, public)
            ).decode()
            for field, value in answers.items()
        },
    )


def _seed() -> None:

    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from safepassage.cases import sealed, services, triage
    from safepassage.cases.models import Case, Contact, Message
    from safepassage.privacy import fields, keyring, references, staff_fields
    from safepassage.privacy.models import CaseKey

    program = keyring.active_key()
    if program is None:
        holder = User.objects.create_user("bench_keyholder", password=BENCH_PASSWORD, is_staff=True)
        program = keyring.do_create_program_key(holder, BENCH_PASSWORD)
    have = Case.objects.count()
    if have >= CASES:
        print(f"reusing {have} cases, {Message.objects.count()} messages")
        return
    rng = random.Random(4)
    now = timezone.now()
    started = time.monotonic()
    next_message_id = (
        Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ) + 1
    for batch_start in range(have, CASES, BATCH):
        contacts, cases, messages, case_keys = [], [], [], []
        for i in range(batch_start, min(batch_start + BATCH, CASES)):
            contact = Contact(id=uuid.uuid4())
            contacts.append(contact)
            case_id = uuid.uuid4()
            answers = {
                "readiness": rng.choice(READINESS),
                "whereabouts": rng.choice(["front", "rear", "training"]),
                "company": rng.choice(["alone", "alone", "group"]),
                "wishes": rng.sample(["record_as_captured", "no_exchange", "medical"], 2),
            }
            wrote = now - timedelta(minutes=rng.randint(1, 60 * 24 * 90))
            case = Case(
                id=case_id,
                contact=contact,
                status=rng.choice(STATUSES),
                channel=rng.choice(["webchat", "telegram", "hotline"]),
                language=rng.choice(LANGS),
                wrapped_key=fields.new_case_key(case_id),
                reference_digest=references.reference_digest(references.generate()),
                triage=answers,
                submitted_at=wrote - timedelta(days=rng.randint(0, 30)),
                last_applicant_at=wrote,
                urgency=triage.urgency(answers, rng.random() < 0.01),
            )
            # As in production after confirmation: personal answers and messages sealed to
            # the case's own key pair, which only a staff keyring opens.
            case_key, public = staff_fields.new_case_key(case_id, program)
            case_keys.append(case_key)
            case.sealed_answers = sealed_demo_answers(case, public, f"DEMO-NAME {i}")
            services.refresh_reply_due(case, waiting=True)
            cases.append(case)
            for m in range(MESSAGES_PER_CASE):
                message = Message(
                    id=next_message_id,
                    case=case,
                    direction="in" if m % 2 == 0 else "out",
                    channel=case.channel,
                    created_at=wrote - timedelta(minutes=MESSAGES_PER_CASE - m),
                )
                message.body_sealed = staff_fields.seal_with_public_key(
                    case, f"{sealed.MESSAGE_FIELD}:{next_message_id}", f"DEMO message {m}", public
                )
                next_message_id += 1
                messages.append(message)
        with transaction.atomic():
            Contact.objects.bulk_create(contacts)
            Case.objects.bulk_create(cases)
            Message.objects.bulk_create(messages)
            CaseKey.objects.bulk_create(case_keys)
        done = batch_start + len(cases)
        print(f"  seeded {done} cases ({time.monotonic() - started:.0f} s)", flush=True)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _client(username: str, role: str) -> object:
    from django.contrib.auth.models import User
    from django.test import Client
    from django_otp.oath import TOTP

    from safepassage.console.models import SealedTOTPDevice, StaffProfile

    username = f"{username}_{uuid.uuid4().hex[:6]}"  # audit records keep earlier runs' users
    user = User.objects.create_user(username, password=BENCH_PASSWORD, is_staff=True)
    StaffProfile.objects.create(user=user, role=role)
    from safepassage.privacy import keyring

    holder = User.objects.get(username="bench_keyholder")
    keyring.do_grant(holder, BENCH_PASSWORD, user, BENCH_PASSWORD)  # the case page decrypts
    device = SealedTOTPDevice.create_sealed(user, confirmed=True)
    client = Client()
    response = client.post("/console/login/", {"username": username, "password": BENCH_PASSWORD})
    assert response.status_code == 302, response.status_code
    code = f"{TOTP(device.bin_key).token():06d}"
    assert client.post("/console/login/verify/", {"code": code}).status_code == 302
    return client


def _measure(label: str, client: object, urls: list[str]) -> float:
    timings = []
    for url in urls[:5]:
        client.get(url)  # type: ignore[attr-defined]  # warm caches
    for url in urls:
        t0 = time.perf_counter()
        response = client.get(url)  # type: ignore[attr-defined]
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{label:<38} n={len(timings):<4} p50={statistics.median(timings):6.1f} ms"
        f"  p95={p95:6.1f} ms  max={timings[-1]:6.1f} ms"
    )
    return p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="sqlite", help="'sqlite' or a postgres:// URL")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    _setup(args.database)
    from django.db import connection

    from safepassage.cases.models import Case, Message

    _seed()
    print(
        f"database: {connection.vendor}; {Case.objects.count()} cases, "
        f"{Message.objects.count()} messages"
    )
    operator = _client("bench_operator", "operator")
    supervisor = _client("bench_supervisor", "supervisor")
    rng = random.Random(7)
    ids = list(
        Case.objects.filter(
            status__in=["new", "in_contact", "ready"], assigned_to=None
        ).values_list("pk", flat=True)[:5000]
    )
    n = args.requests
    results = {
        "queue (operator)": _measure("queue (operator)", operator, ["/console/queue/"] * n),
        "queue (supervisor)": _measure("queue (supervisor)", supervisor, ["/console/queue/"] * n),
        "filtered queue (ko, overdue)": _measure(
            "filtered queue (ko, overdue)",
            operator,
            ["/console/queue/?language=ko&overdue=1"] * n,
        ),
        "filtered queue (status waiting, tg)": _measure(
            "filtered queue (status waiting, tg)",
            operator,
            ["/console/queue/?status=waiting&channel=telegram"] * n,
        ),
        "case page (10 messages)": _measure(
            "case page (10 messages)",
            operator,
            [f"/console/cases/{rng.choice(ids)}/" for _ in range(n)],
        ),
    }
    # Not one of the three targeted pages; measured so its cost is known.
    _measure("workload (supervisor)", supervisor, ["/console/queue/workload/"] * (n // 4))
    worst = max(results.values())
    print(f"worst p95: {worst:.1f} ms (target < 150 ms): {'OK' if worst < 150 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
