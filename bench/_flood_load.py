"""The hostile side of bench/flood.py (its own process): SENDERS chats each writing texts, paced
at RATE updates/s in all over CONNECTIONS connections for SECONDS. Prints JSON figures.

    python bench/_flood_load.py URL SECRET SENDERS RATE CONNECTIONS SECONDS FIRST_USER_ID

Like Telegram, it never sends a chat's next update before the previous one was answered, and
keeps at most CONNECTIONS requests in flight (Telegram's max_connections); what the server
cannot take at RATE waits here, as it would wait at Telegram.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlparse

from _load import read_response, request


async def run(
    url: str, secret: str, senders: int, rate: float, connections: int, seconds: float, first: int
) -> dict[str, float]:
    target = urlparse(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    now = int(time.time())
    free = list(range(senders))  # senders with no update in flight
    sent = errors = 0
    next_id = 0
    started = time.perf_counter()
    deadline = started + seconds

    def build(index: int) -> bytes:
        nonlocal next_id
        next_id += 1
        user_id = first + index
        user = {"id": user_id, "is_bot": False, "first_name": "DEMO", "language_code": "ru"}
        update = {
            "update_id": 100_000_000 + next_id,
            "message": {
                "message_id": next_id,
                "from": user,
                "chat": {"id": user_id, "first_name": "DEMO", "type": "private"},
                "date": now,
                "text": f"DEMO flood text {next_id % 7}",
            },
        }
        return request(host, port, target.path, secret, update)

    async def connection() -> None:
        nonlocal sent, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                # Paced: the n-th update of the whole flood is due at n / rate.
                due = started + sent / rate
                now_ = time.perf_counter()
                if now_ >= deadline:
                    return
                if due > now_:
                    await asyncio.sleep(due - now_)
                index = free.pop(0)
                sent += 1
                writer.write(build(index))
                status = await read_response(reader)
                free.append(index)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    wall = time.perf_counter() - started
    return {"updates": sent, "errors": errors, "seconds": wall, "per_second": sent / wall}


def main() -> None:
    url, secret, senders, rate, connections, seconds, first = sys.argv[1:8]
    result = asyncio.run(
        run(url, secret, int(senders), float(rate), int(connections), float(seconds), int(first))
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
