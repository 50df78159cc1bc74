"""Flood counters: how often one pseudonymous sender, one channel or one campaign code was seen
lately (issue 12, flood defence).

Unlike ``privacy.ratelimit`` (login and reference guessing, where every count must hold across
processes and a database row per hit is cheap next to a password check), these are counted on
every update a channel receives, thousands a second in a flood. So they live in this process
by default (one dictionary, windows of a few seconds) and in Redis when
``SAFEPASSAGE_REDIS_URL`` is set (shared by every process and machine; an unreachable Redis
hands over to this process's counters for ``ratelimit.REDIS_RETRY_SECONDS``). Keys are keyed
digests (``ratelimit._keys``), never the sender, code or text itself.

A count over its limit never refuses anything: callers park (defer) the sender's automatic
replies and raise a suspicion signal; what a person wrote is always applied.
"""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings

from safepassage.privacy import ratelimit

_lock = threading.Lock()
_counts: dict[str, int] = {}
_expiry: dict[str, float] = {}
_next_prune = 0.0


def _local_incr(current: str, previous: str, ttl: int) -> tuple[int, int]:
    global _next_prune
    now = time.monotonic()
    with _lock:
        if now > _next_prune:  # forget windows that ended (the dictionary stays small)
            for key in [k for k, at in _expiry.items() if at < now]:
                _counts.pop(key, None)
                _expiry.pop(key, None)
            _next_prune = now + 5.0
        hits = _counts.get(current, 0) + 1
        _counts[current] = hits
        _expiry.setdefault(current, now + ttl)
        return hits, _counts.get(previous, 0)


def hit(scope: str, key: str, limit: int, window: int) -> bool:
    """Count one event on (scope, key); True when the sliding count went over ``limit``."""
    now = time.time()
    current, previous, elapsed = ratelimit._keys(f"flood/{scope}", key, window, now)
    ttl = 2 * window + 1
    store = ratelimit._redis() if getattr(settings, "SAFEPASSAGE_REDIS_URL", "") else None
    counts: tuple[int, int] | None = None
    if store is not None:
        try:
            counts = store.incr(current, previous, ttl)
        except redis.RedisError:
            ratelimit._redis_down_until[settings.SAFEPASSAGE_REDIS_URL] = (
                time.monotonic() + ratelimit.REDIS_RETRY_SECONDS
            )
    if counts is None:
        counts = _local_incr(current, previous, ttl)
    hits, before = counts
    return hits + before * (1.0 - elapsed) > limit


def reset() -> None:
    """Forget this process's counters (tests)."""
    with _lock:
        _counts.clear()
        _expiry.clear()
