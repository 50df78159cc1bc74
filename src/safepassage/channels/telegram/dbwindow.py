"""The per-bot call window in PostgreSQL, for senders of one bot that share no Redis (issue 12).

The same rule as the Redis gate (``limiter``): a call may start only while fewer than 30 calls
of the bot are in flight or finished within the last second; a 429 pauses every sender of the
bot; a sender that died frees its places after ``IN_FLIGHT_SECONDS``. Here the window is 30
rows per bot (``TelegramCallSlot``), one per place: a call takes a place that has been free for
a second (its last call finished at least one second ago, or its holder died) and gives it back
with its finishing time. Calls in flight or finished within the last second each hold a place
of their own, so there are never more than 30 of them. Times are the database's
(``clock_timestamp()``), so the machines' clocks need not agree.

A place is taken in one statement, ``FOR UPDATE SKIP LOCKED`` (two senders asking at once take
two different places, neither waits for the other), and given back in another: two round trips
per call, about 0.3 ms each on a local PostgreSQL. The window keeps its own connection in
autocommit (the sender's event loop asks it, where Django's connection may not be used).

SQLite has one process sending (``serve`` runs the sender), whose own window in memory
(``sender.Sender``) suffices: no window is kept there.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any

import psycopg
import structlog
from django.db import connection

log = structlog.get_logger(__name__)

LIMIT = 30  # calls per bot in any one second (the same as limiter.LIMIT)
IN_FLIGHT_SECONDS = 60.0  # a sender that died mid-call frees its place after this
RETRY_SECONDS = 2.0  # after the database failed to answer, the sender's own window decides
POLL = 0.02  # how long to wait before asking again while every place holds a call in flight
TABLE = "channels_telegramcallslot"  # named in full in the statements below

# The bot's places, created once (any sender may be first).
_PLACES = """
INSERT INTO channels_telegramcallslot (bot, number, ends_at, token, paused_until)
SELECT %(bot)s, n, 'epoch', '', 'epoch' FROM generate_series(0, %(limit)s - 1) AS n
ON CONFLICT (bot, number) DO NOTHING
"""
# Takes a free place (the token is the call's), or says how long to wait: the pause's end, the
# moment the oldest finished call leaves the window, or -1 while every place is in flight.
_ENTER = """
WITH now AS MATERIALIZED (SELECT clock_timestamp() AS t),
free AS (
  SELECT s.id FROM channels_telegramcallslot s, now
  WHERE s.bot = %(bot)s AND s.ends_at <= now.t - interval '1 second' AND s.paused_until <= now.t
  ORDER BY s.ends_at LIMIT 1 FOR UPDATE OF s SKIP LOCKED
),
taken AS (
  UPDATE channels_telegramcallslot s
  SET ends_at = now.t + make_interval(secs => %(flight)s), token = %(token)s
  FROM free, now WHERE s.id = free.id RETURNING s.id
)
SELECT (SELECT id FROM taken),
  (SELECT CASE
     WHEN max(paused_until) > now.t THEN extract(epoch FROM max(paused_until) - now.t)
     WHEN min(ends_at) > now.t THEN -1
     ELSE extract(epoch FROM min(ends_at) + interval '1 second' - now.t) END
   FROM channels_telegramcallslot WHERE bot = %(bot)s)
FROM now
"""
_LEAVE = (
    "UPDATE channels_telegramcallslot SET ends_at = clock_timestamp() WHERE id = %s AND token = %s"
)
_PAUSE = """
UPDATE channels_telegramcallslot SET paused_until = greatest(paused_until,
  clock_timestamp() + make_interval(secs => %(seconds)s)) WHERE bot = %(bot)s
"""


def available() -> bool:
    return connection.vendor == "postgresql"


class DatabaseWindow:
    """One bot's window in PostgreSQL: :meth:`try_enter` before a call, :meth:`leave` after."""

    connections_opened = 0  # by every window of this process (the tests clear the table after)

    def __init__(self, bot_id: str) -> None:
        self.bot = bot_id
        params = connection.get_connection_params()  # read here: not inside the event loop
        for django_only in ("cursor_factory", "context"):
            params.pop(django_only, None)
        params.setdefault("connect_timeout", 2)
        # A database cut off mid-statement must not hold the sender (and its calls) for the
        # minutes TCP would wait: unacknowledged data fails the statement after 2 s.
        params.setdefault("tcp_user_timeout", 2000)
        self.params = params
        self.conn: Any = None
        self.down_until = 0.0

    def usable(self) -> bool:
        return self.down_until <= time.monotonic()

    def _connection(self) -> Any:
        if self.conn is None or self.conn.closed:
            conn = psycopg.connect(**self.params, autocommit=True)
            conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            # Nothing here needs to outlive a crash (the table is UNLOGGED): a commit does not
            # wait for the disk, which would cost milliseconds per call.
            conn.execute("SET synchronous_commit TO off")
            conn.execute("SET statement_timeout TO '1s'")
            conn.execute(_PLACES, {"bot": self.bot, "limit": LIMIT})
            self.conn = conn
            DatabaseWindow.connections_opened += 1
        return self.conn

    def _failed(self, exc: Exception) -> None:
        self.down_until = time.monotonic() + RETRY_SECONDS
        log.warning(
            "telegram.shared_window_unreachable", store="database", error=type(exc).__name__
        )
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
        self.conn = None

    def try_enter(self) -> tuple[str | None, float]:
        """(token, 0) when the call may start now; (None, seconds) to wait first; (None, 0)
        when the database cannot be asked (the sender's own window decides)."""
        if not self.usable():
            return None, 0.0
        token = secrets.token_hex(8)
        args = {"bot": self.bot, "token": token, "flight": IN_FLIGHT_SECONDS}
        try:
            place, wait = self._connection().execute(_ENTER, args).fetchone()
        except psycopg.Error as exc:
            self._failed(exc)
            return None, 0.0
        if place is not None:
            return f"{place}:{token}", 0.0
        wait = float(wait) if wait is not None else POLL
        return None, POLL if wait < 0 else max(wait, 0.001)

    def leave(self, token: str | None) -> None:
        if token is None or not self.usable():
            return
        place, _, secret = token.partition(":")
        try:
            self._connection().execute(_LEAVE, (int(place), secret))
        except psycopg.Error as exc:
            self._failed(exc)

    def pause(self, seconds: float) -> None:
        if not self.usable():
            return
        try:
            self._connection().execute(_PAUSE, {"bot": self.bot, "seconds": seconds})
        except psycopg.Error as exc:
            self._failed(exc)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None
