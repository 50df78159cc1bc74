"""Who else has a case page open, or is writing a reply on it: a few seconds' presence.

Shared by every web process: in Redis when ``SAFEPASSAGE_REDIS_URL`` is set (one hash per case,
expiring by itself), in the database otherwise (``console.CasePresence``: rows that expire, which
reads skip at once and a case page deletes once every ``SWEEP_SECONDS``). A Redis that does not
answer hands over to the database for a while, as the rate limiter does. What is kept: the
case's id, the staff member's id and name, whether they are writing, and until when; never a
message or anything they typed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
import structlog
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from safepassage.console.models import CasePresence

log = structlog.get_logger(__name__)

# A page reports every 2 s (console.js); a presence outlives a few missed reports, no more.
TTL_SECONDS = 8
REDIS_TIMEOUT_SECONDS = 0.25
REDIS_RETRY_SECONDS = 30.0
# How often a process deletes the expired rows of the database store: reads skip them anyway,
# so a sweep at every case page (a statement and a transaction each) bought nothing.
SWEEP_SECONDS = 60.0


@dataclass(frozen=True)
class Present:
    name: str
    writing: bool


_clients: dict[str, Any] = {}
_down_until: dict[str, float] = {}
_next_sweep = 0.0  # time.monotonic() after which this process sweeps again


def _redis() -> Any | None:
    url: str = getattr(settings, "SAFEPASSAGE_REDIS_URL", "") or ""
    if not url or _down_until.get(url, 0.0) > time.monotonic():
        return None
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    return _clients[url]


def _redis_failed() -> None:
    _down_until[settings.SAFEPASSAGE_REDIS_URL] = time.monotonic() + REDIS_RETRY_SECONDS
    log.warning("presence.redis_unreachable", fallback="database")


def _key(case_id: uuid.UUID) -> str:
    return f"sp:presence:{case_id}"


def do_report(case_id: uuid.UUID, user: User, *, writing: bool) -> None:
    """``user`` has the case open (and is writing a reply, if ``writing``) for the next seconds."""
    until = time.time() + TTL_SECONDS
    client = _redis()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=True)
            pipe.hset(
                _key(case_id), str(user.pk), f"{int(writing)}:{until:.1f}:{user.get_username()}"
            )
            pipe.expire(_key(case_id), TTL_SECONDS)
            pipe.execute()
            return
        except redis.RedisError:
            _redis_failed()
    _report_in_database(case_id, user, writing)


def _report_in_database(case_id: uuid.UUID, user: User, writing: bool) -> None:
    until = timezone.now() + timedelta(seconds=TTL_SECONDS)
    # Within a transaction (the case page's writes), one upsert. Alone (the 2-second reports),
    # an UPDATE finds the row in one statement, without the BEGIN and COMMIT an upsert brings;
    # only when it finds none (or the member's other tab made it meanwhile) the upsert follows.
    rows = CasePresence.objects.filter(case_id=case_id, user=user)
    if connection.in_atomic_block or not rows.update(writing=writing, until=until):
        CasePresence.objects.bulk_create(
            [CasePresence(case_id=case_id, user=user, writing=writing, until=until)],
            update_conflicts=True,
            unique_fields=["case", "user"],
            update_fields=["writing", "until"],
        )


def do_sweep() -> None:
    """Delete the database store's presences that ran out, at most once every
    ``SWEEP_SECONDS`` in this process (a case page being loaded calls it; its 2-second reports
    do not). Nothing to do when Redis keeps them: its hashes expire by themselves."""
    global _next_sweep
    if _redis() is not None or time.monotonic() < _next_sweep:
        return
    _next_sweep = time.monotonic() + SWEEP_SECONDS
    CasePresence.objects.filter(until__lt=timezone.now()).delete()


def others(case_id: uuid.UUID, user: User) -> list[Present]:
    """Everyone but ``user`` who has the case open now, by name."""
    client = _redis()
    if client is not None:
        try:
            raw = client.hgetall(_key(case_id))
        except redis.RedisError:
            _redis_failed()
        else:
            return _from_redis(raw, user)
    rows = (
        CasePresence.objects.filter(case_id=case_id, until__gte=timezone.now())
        .exclude(user=user)
        .order_by("user__username")
        .values_list("user__username", "writing")  # asked every 2 s: no rows made into objects
    )
    return [Present(name, writing) for name, writing in rows]


def _from_redis(raw: dict[bytes, bytes], user: User) -> list[Present]:
    now = time.time()
    found = []
    for member, value in raw.items():
        writing, until, name = value.decode().split(":", 2)
        if member.decode() != str(user.pk) and float(until) >= now:
            found.append(Present(name, writing == "1"))
    return sorted(found, key=lambda p: p.name)
