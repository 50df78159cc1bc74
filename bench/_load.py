"""The load generator (its own process): applicants each send /start, three button presses
and one text, one after another; many applicants at once. Prints JSON figures.

    python bench/_load.py URL SECRET USERS CONCURRENCY FIRST_USER_ID

It plays Telegram's part, which in production runs on Telegram's machines, not ours; here it
shares the cores with the server it measures, so it spends as little CPU as it can: one event
loop, every request's bytes built before the clock starts, and a response read by its
Content-Length rather than through a full HTTP client.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

PRESSES = [("who", "self"), ("whereabouts", "front"), ("readiness", "days")]


def updates(user_id: int, base_update_id: int) -> list[dict[str, object]]:
    user = {"id": user_id, "is_bot": False, "first_name": "DEMO", "language_code": "ru"}
    chat = {"id": user_id, "first_name": "DEMO", "type": "private"}
    bot = {"id": 7000000001, "is_bot": True, "first_name": "Help desk", "username": "b_bot"}
    now = int(time.time())
    out: list[dict[str, object]] = [
        {
            "update_id": base_update_id,
            "message": {
                "message_id": 1,
                "from": user,
                "chat": chat,
                "date": now,
                "text": "/start",
                "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
            },
        }
    ]
    for n, (step, value) in enumerate(PRESSES, start=1):
        out.append(
            {
                "update_id": base_update_id + n,
                "callback_query": {
                    "id": str(user_id * 10 + n),
                    "from": user,
                    "message": {
                        "message_id": n + 1,
                        "from": bot,
                        "chat": chat,
                        "date": now,
                        "text": "DEMO question",
                    },
                    "chat_instance": "-4011920468345530651",
                    "data": f"c|{step}|{value}",
                },
            }
        )
    out.append(
        {
            "update_id": base_update_id + 4,
            "message": {
                "message_id": 9,
                "from": user,
                "chat": chat,
                "date": now,
                "text": "DEMO sector",
            },
        }
    )
    return out


def request(host: str, port: int, path: str, secret: str, update: dict[str, object]) -> bytes:
    body = json.dumps(update).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """The status of one HTTP/1.1 response; its body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def run(url: str, secret: str, users: int, concurrency: int, first: int) -> dict[str, float]:
    target = urlparse(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    applicants = [
        [
            request(host, port, target.path, secret, update)
            for update in updates(first + index, ((first + index) % 100_000_000) * 10)
        ]
        for index in reversed(range(users))
    ]
    latencies: list[float] = []
    errors: list[int] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while applicants:
                for raw in applicants.pop():
                    started = time.perf_counter()
                    writer.write(raw)
                    status = await read_response(reader)
                    latencies.append(time.perf_counter() - started)
                    if status != 200:
                        errors.append(status)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "updates": len(latencies),
        "errors": len(errors),
        "seconds": wall,
        "per_second": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    url, secret, users, concurrency, first = sys.argv[1:6]
    runner: Callable[..., Any]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(run(url, secret, int(users), int(concurrency), int(first)))))


if __name__ == "__main__":
    main()
