"""The anonymous side of bench/webchat_flood.py (its own process): visitors posting a first
answer to the web chat (each, if taken, creates a case), paced at RATE posts/s over
CONNECTIONS keep-alive connections for SECONDS (RATE 0: as fast as the server answers, to
measure its capacity). Prints JSON figures.

    python bench/_webchat_load.py URL RATE CONNECTIONS SECONDS

Like a hostile script, it opens the first question once for a CSRF cookie and token and then
posts with them again and again, and never follows the redirect. 302: the answer was taken
(a case was created); 503: it was deferred (the page that keeps it); anything else: an error.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import urllib.request
from urllib.parse import urlencode, urlparse

from _load import read_response


def csrf(url: str) -> tuple[str, str]:
    """The CSRF cookie and a form token for it, from one visit of the first question."""
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
        page = response.read().decode()
        cookies = response.headers.get_all("Set-Cookie") or []
    cookie = next(c.split(";")[0] for c in cookies if c.startswith("spc="))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    return cookie, token.group(1)


async def run(url: str, rate: float, connections: int, seconds: float) -> dict[str, float]:
    target = urlparse(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    cookie, token = csrf(url)
    body = urlencode({"csrfmiddlewaretoken": token, "choice": "self"}).encode()
    raw = (
        f"POST {target.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nCookie: {cookie}\r\n\r\n"
    ).encode("latin-1") + body
    sent = taken = deferred = errors = 0
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds

    async def connection() -> None:
        nonlocal sent, taken, deferred, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                now = time.perf_counter()
                if now >= deadline:
                    return
                if rate > 0:  # paced: the n-th post of the whole flood is due at n / rate
                    due = started + sent / rate
                    if due > now:
                        await asyncio.sleep(due - now)
                        if time.perf_counter() >= deadline:
                            return
                sent += 1
                at = time.perf_counter()
                writer.write(raw)
                status = await read_response(reader)
                latencies.append(time.perf_counter() - at)
                if status == 302:
                    taken += 1
                elif status == 503:
                    deferred += 1
                else:
                    errors += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    wall = time.perf_counter() - started
    latencies.sort()
    done = len(latencies) or 1
    return {
        "sent": sent,
        "taken": taken,
        "deferred": deferred,
        "errors": errors,
        "seconds": wall,
        "per_second": sent / wall,
        "taken_per_second": taken / wall,
        "p50_ms": latencies[done // 2] * 1000 if latencies else 0.0,
        "p95_ms": latencies[int(done * 0.95) - 1] * 1000 if latencies else 0.0,
    }


def main() -> None:
    url, rate, connections, seconds = sys.argv[1:5]
    result = asyncio.run(run(url, float(rate), int(connections), float(seconds)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
