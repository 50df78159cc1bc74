"""Django's PostgreSQL backend, whose pool waits long behind a flood and briefly for a database
that is away (docs/operations.md, "Connection budget").

A request that finds every connection of the process's budget lent out waits for one to come
back (``FLOOD_WAIT``): under a flood one does within moments, and a longer queue only sheds
what the machine could still have served. A request that finds the pool with room to grow, or
PostgreSQL known to refuse connections, waits at most ``OUTAGE_WAIT``: a new connection takes
milliseconds when PostgreSQL is up, so a longer wait means it is away, and the request answers
503 (errors.is_outage) instead of hanging. Django's own backend gives the pool one wait for
both (its ``timeout``), too short for the one or too long for the other.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg_pool import ConnectionPool

FLOOD_WAIT = 10.0
OUTAGE_WAIT = 2.0
# After a reconnection given up (the pool's reconnect_timeout), connections are taken to be
# refused until one is made again, or for at most this long.
AWAY_FOR = 30.0

__all__ = ["FLOOD_WAIT", "OUTAGE_WAIT", "BudgetPool", "DatabaseWrapper"]


class BudgetPool(ConnectionPool):
    """psycopg's pool, choosing each request's wait as the module says."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.away_until = 0.0
        self.lent = 0  # connections in a client's hands now
        self._count = threading.Lock()
        super().__init__(*args, **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        if timeout is None:
            timeout = FLOOD_WAIT if self._all_lent_out() else OUTAGE_WAIT
        connection = super().getconn(timeout)
        with self._count:
            self.lent += 1
        return connection

    def putconn(self, conn: Any) -> None:
        with self._count:
            self.lent -= 1
        super().putconn(conn)

    def _all_lent_out(self) -> bool:
        """Every connection the budget allows is in a client's hands (dead ones that wait to be
        replaced, as during an outage, are not)."""
        return self.away_until <= time.monotonic() and self.lent >= self.max_size

    def mark_away(self) -> None:
        self.away_until = time.monotonic() + AWAY_FOR


def _mark_away(pool: ConnectionPool[Any]) -> None:
    if isinstance(pool, BudgetPool):
        pool.mark_away()


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's backend with ``BudgetPool`` (Django 5.2's ``pool`` property, pool class aside),
    checking each connection before it is lent: after a restart the idle ones are dead."""

    @property
    def pool(self) -> BudgetPool | None:
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        pools: dict[str, BudgetPool] = self._connection_pools  # type: ignore[attr-defined]
        if self.alias not in pools:
            kwargs = self.get_connection_params()
            kwargs["autocommit"] = True
            configure = self._configure_connection  # type: ignore[attr-defined]

            def made(connection: Connection[Any]) -> None:
                created.away_until = 0.0  # PostgreSQL answers again
                configure(connection)

            created = BudgetPool(
                kwargs=kwargs,
                open=False,
                configure=made,
                check=BudgetPool.check_connection,
                reconnect_failed=_mark_away,
                **(options if isinstance(options, dict) else {}),
            )
            # Threads starting together may build one each: the first stays (as in Django).
            pools.setdefault(self.alias, created)
        return pools[self.alias]
