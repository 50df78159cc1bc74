"""A small load generator for the fault tests: plays Telegram against `POST /tg/main/webhook`.

Each applicant sends /start, three button presses and one text, in order, each update again
and again until it is answered 200 (as Telegram redelivers); several applicants at once. It
records what was acknowledged, and every other answer, so a test can check that nothing
acknowledged was lost and that refusals were 503s (never a 500).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.telegram_support import SECRET

PRESSES = [("who", "self"), ("whereabouts", "front"), ("readiness", "days")]


def applicant_updates(user_id: int) -> list[dict[str, Any]]:
    user = {"id": user_id, "is_bot": False, "first_name": "DEMO", "language_code": "ru"}
    chat = {"id": user_id, "first_name": "DEMO", "type": "private"}
    bot = {"id": 7000000001, "is_bot": True, "first_name": "Help desk", "username": "b_bot"}
    now = int(time.time())
    base = (user_id % 100_000_000) * 10
    out: list[dict[str, Any]] = [
        {
            "update_id": base,
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
        message = {"message_id": n + 1, "from": bot, "chat": chat, "date": now, "text": "DEMO"}
        out.append(
            {
                "update_id": base + n,
                "callback_query": {
                    "id": str(user_id * 10 + n),
                    "from": user,
                    "message": message,
                    "chat_instance": "-4011920468345530651",
                    "data": f"c|{step}|{value}",
                },
            }
        )
    text = {"message_id": 9, "from": user, "chat": chat, "date": now, "text": "DEMO sector"}
    out.append({"update_id": base + 4, "message": text})
    return out


@dataclass
class Stream:
    port: int
    users: int
    first_user: int
    connections: int = 4
    pause: float = 0.0  # between one applicant's updates: stretches the stream over a fault
    acked: set[int] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)
    _threads: list[threading.Thread] = field(default_factory=list)
    _todo: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Stream:
        self._todo = list(reversed(range(self.first_user, self.first_user + self.users)))
        for _ in range(self.connections):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        assert not any(t.is_alive() for t in self._threads), "the stream did not finish"

    @property
    def progress(self) -> int:
        with self._lock:
            return len(self.acked)

    def _run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        while True:
            with self._lock:
                if not self._todo:
                    break
                user = self._todo.pop()
            for update in applicant_updates(user):
                body = json.dumps(update).encode()
                while True:  # Telegram delivers the update again until it is answered 200
                    try:
                        if connection is None:
                            connection = http.client.HTTPConnection(
                                "127.0.0.1", self.port, timeout=60
                            )
                        connection.request(
                            "POST",
                            "/tg/main/webhook",
                            body,
                            {
                                "Content-Type": "application/json",
                                "X-Telegram-Bot-Api-Secret-Token": SECRET,
                            },
                        )
                        response = connection.getresponse()
                        response.read()
                        status = str(response.status)
                    except (OSError, http.client.HTTPException) as exc:
                        status = type(exc).__name__
                        if connection is not None:
                            connection.close()
                        connection = None
                    with self._lock:
                        self.answers[status] += 1
                        if status == "200":
                            self.acked.add(int(update["update_id"]))
                    if status == "200":
                        break
                    time.sleep(0.2)
                if self.pause:
                    time.sleep(self.pause)
        if connection is not None:
            connection.close()
