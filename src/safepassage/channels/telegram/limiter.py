"""The per-bot call window shared by every sender of a bot, on any machine (issue 12).

Each sender keeps its own spacing and one-second window in memory (``sender.Sender``); with a
shared window every call also passes it, so that any number of senders of one bot together keep
Telegram's limit: a call may start only while fewer than 30 calls of the bot are in flight or
finished within the last second. Telegram stamps a call between its start and its finish, so no
30 calls of all senders together can land inside one second (the same rule the single sender's
window keeps, docs/architecture.md). A 429 pauses every sender of the bot.

Where the window is kept (``shared_window``):

- ``SAFEPASSAGE_REDIS_URL`` set: one sorted set per bot in Redis (``SharedWindow``, below). A
  call enters it before it starts (scored "in flight") and is scored with its finishing time
  when it ends. Times come from Redis' own clock (``TIME``), so the machines' clocks need not
  agree.
- PostgreSQL without Redis: 30 rows per bot in the database (``dbwindow.DatabaseWindow``), the
  same rule on the database's clock.
- SQLite: one process sends (``serve``), and its own window in memory suffices: no gate.

The per-chat gap needs no gate: it is ``TelegramChat.next_send_at`` in the database, and a
chat has one message in flight at a time whichever sender claimed it (``claims``).

An unreachable Redis does not stop the outbox: on PostgreSQL the senders pass the database's
window instead, so the limit still holds when Redis is away for all of them; on SQLite (one
sender) its own window decides. Redis is tried again after ``RETRY_SECONDS``; for as long again
after it answers, a sender passes both windows, because the others may not have come back to
Redis yet. A sender that alone cannot reach Redis (a partition) while the others can is not
held to their window: it may meet 429s, which pause it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Protocol

import redis
import structlog

from safepassage import config
from safepassage.channels.telegram import dbwindow

log = structlog.get_logger(__name__)

LIMIT = 30  # calls per bot in any one second
IN_FLIGHT_SECONDS = 60.0  # a sender that died mid-call frees its place after this
RETRY_SECONDS = 30.0
POLL = 0.02  # how long to wait before asking again while the window is full of calls in flight

# KEYS: the bot's calls, its pause. ARGV: token, limit, in-flight seconds.
# Returns "0" when the call may start (it is now in flight), else seconds to wait.
_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return tostring(pause - now) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1.0)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = tonumber(oldest[2]) + 1.0 - now
  if tonumber(oldest[2]) > now then wait = -1 end
  return tostring(wait)
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], 120)
return '0'
"""
_LEAVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return 1
"""
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > old then redis.call('SET', KEYS[1], tostring(until_), 'EX', math.ceil(ARGV[1]) + 1) end
return 1
"""


class Window(Protocol):
    """What a sender asks of a shared window (Redis, the database)."""

    def try_enter(self) -> tuple[str | None, float]: ...
    def leave(self, token: str | None) -> None: ...
    def pause(self, seconds: float) -> None: ...
    def close(self) -> None: ...


class SharedWindow:
    """One bot's gate in Redis. Use :meth:`try_enter` before a call and :meth:`leave` after it.
    ``fallback`` (PostgreSQL) is passed instead while Redis does not answer."""

    def __init__(
        self, url: str, bot_id: str, fallback: dbwindow.DatabaseWindow | None = None
    ) -> None:
        self.client: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.calls = f"sp:tg:{bot_id}:calls"
        self.paused = f"sp:tg:{bot_id}:pause"
        self._enter = self.client.register_script(_ENTER)
        self._leave = self.client.register_script(_LEAVE)
        self._pause = self.client.register_script(_PAUSE)
        self.down_until = 0.0
        self.fallback = fallback
        self.was_down = False
        self.both_until = 0.0  # back on Redis: the fallback too, until the others are back

    def usable(self) -> bool:
        return self.down_until <= time.monotonic()

    def _failed(self, exc: Exception) -> None:
        self.down_until = time.monotonic() + RETRY_SECONDS
        self.was_down = True
        log.warning("telegram.shared_window_unreachable", error=type(exc).__name__)

    def try_enter(self) -> tuple[str | None, float]:
        """(token, 0) when the call may start now; (None, seconds) to wait first; (None, 0)
        when no shared window can be asked (the sender's own window decides)."""
        token, wait = self._try_redis()
        if token is None and wait > 0:
            return None, wait
        if self.fallback is None:
            return token, wait
        if token is not None and self.both_until <= time.monotonic():
            return token, 0.0
        fallen, wait = self.fallback.try_enter()  # Redis away, or just back
        if token is not None and fallen is None and wait > 0:
            self.leave(token)  # counts as a call just finished: safe, a little slower
            return None, wait
        if token is None and fallen is None:
            return None, wait
        return f"{token or ''}|{fallen or ''}", 0.0

    def _try_redis(self) -> tuple[str | None, float]:
        if not self.usable():
            return None, 0.0
        token = secrets.token_hex(8)
        try:
            answer = float(
                self._enter(keys=[self.calls, self.paused], args=[token, LIMIT, IN_FLIGHT_SECONDS])
            )
        except redis.RedisError as exc:
            self._failed(exc)
            return None, 0.0
        if self.was_down:
            self.was_down = False
            self.both_until = time.monotonic() + RETRY_SECONDS
        if answer == 0:
            return token, 0.0
        return None, POLL if answer < 0 else max(answer, 0.001)

    def leave(self, token: str | None) -> None:
        if token is None:
            return
        token, _, fallen = token.partition("|")
        if fallen and self.fallback is not None:
            self.fallback.leave(fallen)
        if not token or not self.usable():
            return
        try:
            self._leave(keys=[self.calls], args=[token])
        except redis.RedisError as exc:
            self._failed(exc)

    def pause(self, seconds: float) -> None:
        if self.fallback is not None:
            self.fallback.pause(seconds)  # wherever the others are: they all pause
        if not self.usable():
            return
        try:
            self._pause(keys=[self.paused], args=[seconds])
        except redis.RedisError as exc:
            self._failed(exc)

    def close(self) -> None:
        if self.fallback is not None:
            self.fallback.close()
        self.client.close()


def shared_window(bot_id: str) -> Window | None:
    """The bot's window shared by its senders: Redis (the database while Redis is away),
    the database on PostgreSQL, none on SQLite (one sender)."""
    url = config.get().redis_url
    fallback = dbwindow.DatabaseWindow(bot_id) if dbwindow.available() else None
    if url:
        return SharedWindow(url, bot_id, fallback)
    return fallback
