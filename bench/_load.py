"""The load generator (its own process): applicants each send /start, three button presses
and one text, one after another; many applicants at once. Prints JSON figures.

    python bench/_load.py URL SECRET USERS CONCURRENCY FIRST_USER_ID
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import threading
import time
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


def main() -> None:
    url, secret, users, concurrency, first = sys.argv[1:6]
    target = urlparse(url)
    queue = list(range(int(users)))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[int] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                index = queue.pop()
            user_id = int(first) + index
            for update in updates(user_id, (user_id % 100_000_000) * 10):
                body = json.dumps(update)
                started = time.perf_counter()
                conn.request(
                    "POST",
                    target.path,
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": secret,
                    },
                )
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status != 200:
                        errors.append(response.status)

    threads = [threading.Thread(target=worker) for _ in range(int(concurrency))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    print(
        json.dumps(
            {
                "updates": len(latencies),
                "errors": len(errors),
                "seconds": wall,
                "per_second": len(latencies) / wall,
                "p50_ms": statistics.median(latencies) * 1000,
                "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            }
        )
    )


if __name__ == "__main__":
    main()
