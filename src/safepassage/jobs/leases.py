"""Leases: a named role held by one process at a time (a bot's long polling, a bot's
attachment fetching). The holder renews its lease well before it runs out; a holder that died
stops renewing, and another process takes the role once the lease expired."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from safepassage.jobs.models import Lease


def acquire(name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until now + ``ttl``. True when it is
    ``holder``'s now. Under concurrency exactly one contender wins: a conditional UPDATE (its
    row lock makes a second one re-read the row) or, for a new name, the primary key."""
    now = timezone.now()
    with transaction.atomic():
        if (
            Lease.objects.filter(name=name)
            .filter(Q(holder=holder) | Q(expires_at__lt=now))
            .update(holder=holder, expires_at=now + ttl)
        ):
            return True
        if Lease.objects.filter(name=name).exists():
            return False
        try:
            with transaction.atomic():
                Lease.objects.create(name=name, holder=holder, expires_at=now + ttl)
        except IntegrityError:
            return False
    return True


def release(name: str, holder: str) -> None:
    """Give the role up (a clean stop): another process takes it at once."""
    Lease.objects.filter(name=name, holder=holder).delete()


def holder_of(name: str) -> str | None:
    lease = Lease.objects.filter(name=name, expires_at__gte=timezone.now()).first()
    return lease.holder if lease else None
