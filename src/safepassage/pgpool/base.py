"""Django's PostgreSQL backend, whose pool waits long behind a flood and briefly for a database
that is away (docs/operations.md, "Connection budget").

A request waits for a connection in turns of ``OUTAGE_WAIT`` (2 s), up to ``FLOOD_WAIT`` (10 s)
in all: behind a flood a connection comes back within moments, and a shorter wait would only
shed what the machine could still serve. After a turn without one, it gives up if PostgreSQL is
known to be away (a connection failed its check before being lent, or the pool gave up a
reconnection) and answers 503 (errors.is_outage) instead of hanging. The first connection made
again clears that. Django's own backend gives the pool one wait for both (its ``timeout``):
too short for the one or too long for the other.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg_pool import ConnectionPool, PoolTimeout

FLOOD_WAIT = 10.0
OUTAGE_WAIT = 2.0
# After a reconnection given up (the pool's reconnect_timeout), connections are taken to be
# refused until one is made again, or for at most this long.
AWAY_FOR = 30.0

__all__ = ["FLOOD_WAIT", "OUTAGE_WAIT", "BudgetPool", "DatabaseWrapper"]


class BudgetPool(ConnectionPool):
    """psycopg's pool, cutting a request's wait short once PostgreSQL is known to be away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.away_until = 0.0
        super().__init__(*args, **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        """Wait in turns of OUTAGE_WAIT, up to FLOOD_WAIT in all; after a turn without a
        connection, give up if PostgreSQL is away (a connection failed its check, or the pool
        gave up reconnecting, since the last connection was made)."""
        if timeout is not None:
            return super().getconn(timeout)
        deadline = time.monotonic() + FLOOD_WAIT
        while True:
            try:
                return super().getconn(min(OUTAGE_WAIT, max(deadline - time.monotonic(), 0.01)))
            except PoolTimeout:
                if self.away() or time.monotonic() >= deadline - 0.01:
                    raise

    def away(self) -> bool:
        return self.away_until > time.monotonic()

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

            def checked(connection: Connection[Any]) -> None:
                try:
                    BudgetPool.check_connection(connection)
                except Exception:
                    created.mark_away()  # until a new connection is made: at once if it is up
                    raise

            created = BudgetPool(
                kwargs=kwargs,
                open=False,
                configure=made,
                check=checked,
                reconnect_failed=_mark_away,
                **(options if isinstance(options, dict) else {}),
            )
            # Threads starting together may build one each: the first stays (as in Django).
            pools.setdefault(self.alias, created)
        return pools[self.alias]
