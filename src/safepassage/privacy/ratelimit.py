"""One rate limiter, shared by every web process: sliding-window counters in a shared store.

A bucket is a scope (``"login.user"``) and a key (a username, a reference, a source address).
The store sees only a keyed digest of the two (privacy.crypto.pseudonym, under a key derived
from the master key), never the value. The store is Redis when ``SAFEPASSAGE_REDIS_URL`` is set,
the database otherwise (rows expire within two windows and are purged as new ones come). A Redis
that does not answer hands over to the database for ``REDIS_RETRY_SECONDS``: counts restart
there, so the limits hold (they are not lifted) and no request fails for it.

The window slides: a bucket's count is this window's hits plus the previous window's, weighted
by how much of it the sliding window still covers, so a burst at a window's edge does not get
twice the limit.

Limiting is not refusing: callers decide per scope whether being over a limit refuses the
source or only slows the attempt down (``backoff``), see docs/threat-model.md.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import redis
import structlog
from django.conf import settings
from django.db import connection
from django.http import HttpRequest

from safepassage.privacy import crypto
from safepassage.privacy.models import RateCounter

log = structlog.get_logger(__name__)

REDIS_RETRY_SECONDS = 30.0
REDIS_TIMEOUT_SECONDS = 0.25

# One statement, atomic on SQLite (3.35+) and PostgreSQL alike: two processes hitting one bucket
# at once both count. The table name is fixed text; only values are parameters.
_UPSERT = (
    'INSERT INTO privacy_ratecounter ("key", hits, expires_at) VALUES (%s, 1, %s) '
    'ON CONFLICT ("key") DO UPDATE SET hits = privacy_ratecounter.hits + 1 RETURNING hits'
)


@dataclass(frozen=True)
class Decision:
    """What a bucket says: ``allowed`` is false once ``count`` went over ``limit``."""

    allowed: bool
    count: float  # hits in the sliding window (the previous window's weighted)
    limit: int
    retry_after: int  # seconds until the current window ends (an estimate)


class Store(Protocol):
    def incr(self, current: str, previous: str, ttl: int) -> tuple[int, int]:
        """Count one hit on ``current``; the hits of ``current`` and ``previous``."""

    def read(self, current: str, previous: str) -> tuple[int, int]: ...


class DatabaseStore:
    def incr(self, current: str, previous: str, ttl: int) -> tuple[int, int]:
        expires = datetime.fromtimestamp(time.time() + ttl, tz=UTC)
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT, [current, connection.ops.adapt_datetimefield_value(expires)])
            row = cursor.fetchone()
        hits = int(row[0]) if row else 1
        if hits == 1:
            # A new row: about as many have expired meanwhile, so the table stays small.
            RateCounter.objects.filter(expires_at__lt=datetime.now(tz=UTC)).delete()
        return hits, self._hits(previous)

    def read(self, current: str, previous: str) -> tuple[int, int]:
        return self._hits(current), self._hits(previous)

    @staticmethod
    def _hits(key: str) -> int:
        row = (
            RateCounter.objects.filter(key=key, expires_at__gte=datetime.now(tz=UTC))
            .values_list("hits", flat=True)
            .first()
        )
        return int(row or 0)


class RedisStore:
    def __init__(self, url: str) -> None:
        self.client: Any = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )

    def incr(self, current: str, previous: str, ttl: int) -> tuple[int, int]:
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(f"sp:rl:{current}")
        pipe.expire(f"sp:rl:{current}", ttl)
        pipe.get(f"sp:rl:{previous}")
        hits, _, before = pipe.execute()
        return int(hits), int(before or 0)

    def read(self, current: str, previous: str) -> tuple[int, int]:
        now_hits, before = self.client.mget(f"sp:rl:{current}", f"sp:rl:{previous}")
        return int(now_hits or 0), int(before or 0)


_DATABASE = DatabaseStore()
_redis_stores: dict[str, RedisStore] = {}
_redis_down_until: dict[str, float] = {}


def _redis() -> RedisStore | None:
    url: str = getattr(settings, "SAFEPASSAGE_REDIS_URL", "") or ""
    if not url or _redis_down_until.get(url, 0.0) > time.monotonic():
        return None
    if url not in _redis_stores:
        _redis_stores[url] = RedisStore(url)
    return _redis_stores[url]


def _counts(current: str, previous: str, ttl: int | None) -> tuple[int, int]:
    """Hits of the current and previous window; ``ttl`` set: count one hit first."""
    store: Store = _redis() or _DATABASE
    try:
        return store.read(current, previous) if ttl is None else store.incr(current, previous, ttl)
    except redis.RedisError:
        if store is _DATABASE:
            raise
        _redis_down_until[settings.SAFEPASSAGE_REDIS_URL] = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning("ratelimit.redis_unreachable", fallback="database")
    if ttl is None:
        return _DATABASE.read(current, previous)
    return _DATABASE.incr(current, previous, ttl)


def _keys(scope: str, key: str, window: int, now: float) -> tuple[str, str, float]:
    digest = crypto.pseudonym(f"ratelimit/{scope}", key)[:40]
    number = math.floor(now / window)
    elapsed = (now - number * window) / window
    return f"{digest}:{window}:{number}", f"{digest}:{window}:{number - 1}", elapsed


def _decide(
    hits: int, before: int, elapsed: float, limit: int, window: int, *, strict: bool
) -> Decision:
    count = hits + before * (1.0 - elapsed)
    allowed = count < limit if strict else count <= limit
    retry = 0 if allowed else max(1, math.ceil(window * (1.0 - elapsed)))
    return Decision(allowed, count, limit, retry)


def hit(scope: str, key: str, limit: int, window: int) -> Decision:
    """Count one hit on the bucket; allowed while the count (with this hit) is within limit."""
    now = time.time()
    current, previous, elapsed = _keys(scope, key, window, now)
    hits, before = _counts(current, previous, 2 * window + 1)
    return _decide(hits, before, elapsed, limit, window, strict=False)


def check(scope: str, key: str, limit: int, window: int) -> Decision:
    """Whether one more hit would be allowed, without counting one."""
    now = time.time()
    current, previous, elapsed = _keys(scope, key, window, now)
    hits, before = _counts(current, previous, None)
    return _decide(hits, before, elapsed, limit, window, strict=True)


def backoff(decision: Decision, free: int, base: float, cap: float) -> float:
    """A delay that doubles with every hit past ``free`` (0 until then), at most ``cap``."""
    excess = decision.count - free
    if excess <= 0:
        return 0.0
    return float(min(cap, base * 2 ** min(excess - 1, 32)))


def source_of(request: HttpRequest) -> str | None:
    """The client address as this server sees it, or None when it is shared by everyone.

    Behind the onion service (and any proxy on this host) every visitor comes from loopback,
    so a bucket per such "source" would be one bucket for everybody: callers must not refuse
    on it (docs/threat-model.md). No proxy header is trusted.
    """
    raw = str(request.META.get("REMOTE_ADDR") or "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return None
    return address.compressed
