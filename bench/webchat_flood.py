"""A web chat flood beside genuine visitors (issue 12): `safepassage serve` on PostgreSQL,
anonymous visitors posting first answers (each taken one creates a case) from a load
generator in another process (bench/_webchat_load.py), and GENUINE visitors with a
conversation in progress stepping through the flow meanwhile, a think time apart.

    .venv/bin/python bench/webchat_flood.py [--seconds 40] [--times 5] [--genuine 20]
                                            [--limit 8] [--new-cases 4[,0...]] [--compare]
                                            [--offered RATE] [--pool 4]

1. Capacity: a server with shedding off (SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT=0) takes
   anonymous first answers as fast as it can over 16 connections: first answers/s.
2. A fresh server with the limit (--limit): the genuine visitors each answer the first
   question, step alone for a few seconds (the quiet figures), then anonymous visitors arrive
   at --times the capacity for --seconds while the genuine ones keep stepping. Meanwhile a
   few more visitors answer for the first time, are deferred, and press "continue" after the
   flood. --new-cases sets SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND (the ration of new
   cases per process under pressure); several values, comma-separated, run the flood once
   for each. --compare runs the flood once more with shedding off.
   --offered RATE skips step 1 and floods at RATE first answers/s (runs compared at one rate).

Prints genuine page p50/p95 (every request a genuine visitor's browser makes: the answer's
POST and the page after its redirect), anonymous first answers deferred vs taken, errors,
and the CPU the web processes used during the flood (from /proc: steadier than latencies
when other work shares the cores).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _setup import database, free_port, start_serve, wait_port  # noqa: E402

# A visitor in progress goes forward three answers and back three, again and again.
CYCLE = [
    {"choice": "front"},
    {"choice": "days"},
    {"text": "DEMO-SECTOR Sentinel-1"},
    {"nav": "back"},
    {"nav": "back"},
    {"nav": "back"},
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * share + 0.5) - 1))]


class Visitor:
    """One browser with JavaScript off: cookies, forms, redirects; every request timed."""

    def __init__(self, port: int, lang: str = "ru") -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.path = f"/chat/{lang}/"
        self.cookies: dict[str, str] = {}
        self.page = ""
        self.latencies: list[float] = []
        self.errors = 0
        self.timing = True

    def _request(self, method: str, body: dict[str, str] | None = None) -> int:
        headers = {
            "Host": "127.0.0.1",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        for attempt in (1, 2):  # a keep-alive connection the server closed: a browser reconnects
            try:
                self.conn.request(method, self.path, body=data, headers=headers)
                response = self.conn.getresponse()
                content = response.read().decode()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                if attempt == 2:
                    self.errors += 1
                    return 0
                started = time.perf_counter()
        if self.timing:
            self.latencies.append(time.perf_counter() - started)
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";")[0].partition("=")
            self.cookies[name] = value
        if response.status in (200, 400, 503):
            self.page = content
        return response.status

    def field(self, name: str) -> str:
        found = re.search(rf'name="{name}" value="([^"]*)"', self.page)
        return found.group(1) if found else ""

    def open(self) -> None:
        if self._request("GET") != 200:
            self.errors += 1

    def post(self, data: dict[str, str]) -> int:
        form = {"csrfmiddlewaretoken": self.field("csrfmiddlewaretoken"), **data}
        if self.field("t"):
            form["t"] = self.field("t")
        status = self._request("POST", form)
        if status == 302:
            if self._request("GET") != 200:
                self.errors += 1
        elif status != 503:
            self.errors += 1
        return status


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and every process under it, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, seconds in times.items():
        up = pid
        while up not in (root, 0, 1) and up in parents:
            up = parents[up]
        if up == root:
            total += seconds
    return total


def genuine_run(visitor: Visitor, stop: threading.Event, think: float) -> None:
    step = 0
    while not stop.is_set():
        visitor.post(CYCLE[step % len(CYCLE)])
        step += 1
        stop.wait(think)


def serve(
    url: str, limit: int, pool: int, new_cases: float = 0
) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="sp-webflood-")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        SAFEPASSAGE_DATA_DIR=data,
        DATABASE_URL=url,
        SAFEPASSAGE_LOG_LEVEL="WARNING",
        SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT=str(limit),
        SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND=str(new_cases),
        SAFEPASSAGE_DATABASE_POOL=str(pool),
    )
    server = start_serve(env, data, port)
    wait_port(port, "/healthz", seconds=120)
    return server, port, data


def anonymous(port: int, rate: float, connections: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_webchat_load.py"),
            f"http://127.0.0.1:{port}/chat/ru/",
            str(rate),
            str(connections),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def capacity(url: str, seconds: float, pool: int) -> dict[str, float]:
    server, port, _ = serve(url, 0, pool)
    try:
        out, _ = anonymous(port, 0, 16, seconds).communicate(timeout=seconds + 300)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result: dict[str, float] = json.loads(out)
    return result


def flood(
    url: str, args: argparse.Namespace, limit: int, new_cases: float, rate: float
) -> dict[str, object]:
    server, port, _ = serve(url, limit, args.pool, new_cases)
    try:
        people = [Visitor(port) for _ in range(args.genuine)]
        for person in people:  # before the flood: each has a conversation in progress
            person.timing = False
            person.open()
            person.post({"choice": "self"})
            person.timing = True
        stop = threading.Event()
        threads = [threading.Thread(target=genuine_run, args=(p, stop, args.think)) for p in people]
        for thread in threads:
            time.sleep(args.think / len(threads))
            thread.start()
        time.sleep(args.quiet)
        quiet = [lat for p in people for lat in p.latencies]
        for person in people:
            person.latencies = []
        cpu_before, flood_began = tree_cpu(server.pid), time.perf_counter()
        load = anonymous(port, rate, args.connections, args.seconds)
        # New visitors who answer for the first time during the flood, then press continue.
        late = [Visitor(port) for _ in range(5)]
        time.sleep(args.seconds / 2)
        statuses = []
        for visitor in late:
            visitor.timing = False
            visitor.open()
            statuses.append(visitor.post({"choice": "relative"}))
        out, _ = load.communicate(timeout=args.seconds + 300)
        server_cpu = (tree_cpu(server.pid) - cpu_before) / (time.perf_counter() - flood_began)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        time.sleep(2)  # the load has dropped
        continued = 0
        for visitor, status in zip(late, statuses, strict=True):
            if status == 503 and visitor.post({"k": visitor.field("k")}) == 302:
                continued += 1
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM cases_case").fetchone()
    finally:
        server.terminate()
        server.wait(timeout=30)
    genuine = [lat for p in people for lat in p.latencies]
    return {
        "anonymous": json.loads(out),
        "quiet": quiet,
        "genuine": genuine,
        "genuine_errors": sum(p.errors for p in people),
        "late_deferred": statuses.count(503),
        "late_taken": statuses.count(302),
        "late_continued": continued,
        "cases": row[0] if row else 0,
        "server_cpu": server_cpu,
    }


def report(title: str, figures: dict[str, object], rate: float) -> None:
    anon = figures["anonymous"]
    assert isinstance(anon, dict)
    quiet, genuine = figures["quiet"], figures["genuine"]
    assert isinstance(quiet, list) and isinstance(genuine, list)
    print(f"-- {title}")
    print(
        f"genuine pages before the flood  {len(quiet)} requests:"
        f" p50 {percentile(quiet, 0.5) * 1000:.0f} ms  p95 {percentile(quiet, 0.95) * 1000:.0f} ms"
    )
    print(
        f"genuine pages during the flood  {len(genuine)} requests: p50"
        f" {percentile(genuine, 0.5) * 1000:.0f} ms  p95 {percentile(genuine, 0.95) * 1000:.0f} ms"
        f"  max {max(genuine, default=0) * 1000:.0f} ms; errors {figures['genuine_errors']}"
    )
    print(
        f"anonymous first answers         offered {rate:.0f}/s, sent {anon['per_second']:.0f}/s"
        f" ({anon['sent']}): taken {anon['taken']} ({anon['taken_per_second']:.0f}/s),"
        f" deferred {anon['deferred']}, errors {anon['errors']};"
        f" their p50 {anon['p50_ms']:.0f} ms p95 {anon['p95_ms']:.0f} ms"
    )
    print(
        f"first answers during the flood  5 visitors: deferred {figures['late_deferred']},"
        f" taken {figures['late_taken']}; continued after it {figures['late_continued']}"
    )
    print(f"cases in the database           {figures['cases']}")
    print(f"web processes' CPU in the flood {figures['server_cpu']:.2f} cores")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--capacity-seconds", type=float, default=15)
    parser.add_argument("--times", type=float, default=5, help="flood rate / capacity")
    parser.add_argument("--genuine", type=int, default=20)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between steps")
    parser.add_argument("--quiet", type=float, default=8, help="seconds before the flood")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--limit", type=int, default=8, help="SAFEPASSAGE_WEBCHAT_MAX_IN_FLIGHT")
    parser.add_argument(
        "--new-cases", default="4", help="SAFEPASSAGE_WEBCHAT_NEW_CASES_PER_SECOND (a,b,...)"
    )
    parser.add_argument("--offered", type=float, default=0, help="flood rate (skips capacity)")
    parser.add_argument(  # 4: serve's own default (0 opened a connection per request)
        "--pool", type=int, default=4, help="SAFEPASSAGE_DATABASE_POOL"
    )
    parser.add_argument("--compare", action="store_true", help="the flood again, no shedding")
    args = parser.parse_args()

    with database("postgres") as url:
        assert url is not None
        rate = args.offered
        if not rate:
            cap = capacity(url, args.capacity_seconds, args.pool)
            rate = cap["taken_per_second"] * args.times
            print(
                f"capacity: {cap['taken_per_second']:.0f} anonymous first answers/s taken"
                f" ({cap['taken']} in {cap['seconds']:.0f} s, 16 connections, shedding off;"
                f" p50 {cap['p50_ms']:.0f} ms, errors {cap['errors']})"
            )
        runs = [
            (
                f"shedding on (limit {args.limit} in flight, {new_cases:g} new cases/s"
                " under pressure, per process)",
                args.limit,
                new_cases,
            )
            for new_cases in (float(v) for v in args.new_cases.split(","))
        ]
        if args.compare:
            runs.append(("shedding off (limit 0, no ration)", 0, 0.0))
        for title, limit, new_cases in runs:
            report(title, flood(url, args, limit, new_cases, rate), rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
