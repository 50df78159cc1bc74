#!/usr/bin/env python3
"""What each console page of bench/console_load.py costs, without HTTP or other operators.

    .venv/bin/python bench/console_cost.py --database postgres://postgres@127.0.0.1:5432/NAME
                                           [--requests 40] [--profile PAGE]

Uses the database bench/console_load.py seeded (100,000 cases; run that first) and its
accounts. Each page is requested --requests times in this one process through the whole Django
stack (Django's test client: middleware, session, second factor, templates), as an operator
and a supervisor holding the program key. Per request it prints this process's CPU time (which
load on the machine hardly changes, unlike wall time), the SQL statements and the time spent
waiting for their answers, and the wall time. ``--profile queue`` prints cProfile's top
functions for one page.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import console_load  # noqa: E402


def login(username: str, totp_key: bytes) -> Any:
    from django.test import Client
    from django_otp.oath import TOTP

    client = Client(HTTP_HOST="127.0.0.1")
    from console import BENCH_PASSWORD as password

    response = client.post("/console/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.status_code
    code = f"{TOTP(totp_key).token():06d}"
    assert client.post("/console/login/verify/", {"code": code}).status_code == 302
    return client


def kind(sql: str) -> str:
    words = sql.split()
    head = words[0].upper() if words else "?"
    if head in {"UPDATE", "DELETE"}:
        return f"{head} {words[1].strip(chr(34))}"
    if head == "INSERT":
        return f"INSERT {words[2].strip(chr(34))}"
    if head == "SELECT" and " FROM " in sql:
        table = sql.split(" FROM ", 1)[1].split()[0].strip(chr(34))
        return f"SELECT {table}"
    return head


def shape(sql: str) -> str:
    """The statement with its literal values blanked, so repeats group together."""
    import re

    return re.sub(r"'[^']*'|\b\d+\b", "?", sql)[:160]


OPTIONS: dict[str, Any] = {"profile": "", "slow": False, "sort": "cumulative"}


def measure(label: str, requests: int, call: Any) -> None:
    profile, slow = OPTIONS["profile"], OPTIONS["slow"]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        call()  # warm caches
    cpu: list[float] = []
    wall: list[float] = []
    counts: list[int] = []
    sql_ms: list[float] = []
    by_kind: collections.Counter[str] = collections.Counter()
    by_shape: dict[str, float] = collections.defaultdict(float)
    profiler = cProfile.Profile() if profile and profile in label else None
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            c0, w0 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            call()
            if profiler:
                profiler.disable()
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
        counts.append(len(captured.captured_queries))
        sql_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
        by_kind.update(kind(q["sql"]) for q in captured.captured_queries)
        for q in captured.captured_queries:
            by_shape[shape(q["sql"])] += float(q["time"]) * 1000 / requests
    p95 = sorted(wall)[max(int(len(wall) * 0.95) - 1, 0)]
    print(
        f"{label:<26} cpu {statistics.median(cpu):6.1f} ms"
        f"  queries {statistics.median(counts):4.0f}"
        f" (max {max(counts):3d})  sql {statistics.median(sql_ms):6.1f} ms"
        f"  wall p50 {statistics.median(wall):6.1f} p95 {p95:6.1f}"
    )
    if slow:
        for text, ms in sorted(by_shape.items(), key=lambda item: -item[1])[:3]:
            print(f"    {ms:7.1f} ms/request  {text}")
    if profiler:
        for name, n in by_kind.most_common(12):
            print(f"    {n / requests:6.1f} x {name}")
        pstats.Stats(profiler).sort_stats(OPTIONS["sort"]).print_stats(35)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True, help="the postgres:// URL console_load used")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--profile", default="", help="a page label (part of it) to profile")
    parser.add_argument("--slow", action="store_true", help="each page's 3 costliest statements")
    parser.add_argument("--sort", default="cumulative", help="cProfile order: cumulative, tottime")
    args = parser.parse_args()
    OPTIONS.update(profile=args.profile, slow=args.slow, sort=args.sort)
    console_load.setup(args.database)
    from django.conf import settings

    settings.ALLOWED_HOSTS.append("127.0.0.1")
    from safepassage.cases.models import Case
    from safepassage.privacy.models import CaseKey

    accounts = console_load.make_operators(3)
    supervisor = login(*accounts[0])
    operator = login(*accounts[2])
    originals = list(
        Case.objects.filter(
            pk__in=CaseKey.objects.values("case_id"), assigned_to=None, merged_into=None
        ).values_list("pk", flat=True)[:500]
    )
    token = supervisor.cookies["spc"].value if "spc" in supervisor.cookies else ""
    pages = iter(originals)

    def get(client: Any, url: str) -> Any:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response

    n = args.requests
    measure("queue (operator)", n, lambda: get(operator, "/console/queue/"))
    measure("queue (supervisor)", n, lambda: get(supervisor, "/console/queue/"))
    measure("queue rows (poll)", n, lambda: get(operator, "/console/queue/rows/"))
    for query in ["language=ko&overdue=1", "status=waiting&channel=telegram", "mine=1"]:
        measure(
            f"filtered {query[:16]}",
            n,
            lambda q=query: get(operator, f"/console/queue/?{q}"),
        )
    measure("case page", n, lambda: get(operator, f"/console/cases/{next(pages)}/"))
    case = originals[-1]
    measure(
        "case live (2 s poll)",
        n,
        lambda: get(operator, f"/console/cases/{case}/live/?writing=0"),
    )
    measure(
        "conversation",
        n,
        lambda: get(operator, f"/console/cases/{case}/conversation/"),
    )

    def reply() -> None:
        response = supervisor.post(
            f"/console/cases/{next(pages)}/reply/",
            {"text": "DEMO reply", "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 302, response.status_code

    measure("reply (POST)", n, reply)

    def take_next() -> None:
        response = operator.post("/console/queue/next/", {"csrfmiddlewaretoken": token})
        assert response.status_code == 302, response.status_code

    measure("take next (POST)", n, take_next)
    return 0


if __name__ == "__main__":
    sys.exit(main())
