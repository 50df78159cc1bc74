"""Service health without personal data: when things last went right, and probes that other
apps register at start-up (the console never imports a channel: docs/architecture.md).

``mark`` is cheap to call often: within one process it writes at most once a minute per name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError
from django.utils import timezone

from safepassage.analytics.models import ServiceMark

RETENTION_PURGE = "retention.purge"
MARK_EVERY_SECONDS = 60.0


def telegram_contact(slug: str) -> str:
    return f"telegram.contact.{slug}"[:64]


@dataclass(frozen=True)
class Gauge:
    """One line of the admin's health page: a label, a value, and whether it is worrying."""

    label: str
    value: str
    warn: bool = False


Probe = Callable[[], list[Gauge]]
_probes: dict[str, Probe] = {}
_written: dict[str, float] = {}
_lock = threading.Lock()


def register_probe(name: str, probe: Probe) -> None:
    """Called by an app at start-up (channels: the outbox's depth)."""
    _probes[name] = probe


def probes() -> list[Gauge]:
    gauges: list[Gauge] = []
    for probe in _probes.values():
        gauges.extend(probe())
    return gauges


def mark(name: str, *, force: bool = False) -> None:
    """Record that ``name`` went right now. A failure to write is no failure of the caller."""
    now = time.monotonic()
    with _lock:
        if not force and now - _written.get(name, -MARK_EVERY_SECONDS) < MARK_EVERY_SECONDS:
            return
        _written[name] = now
    try:
        ServiceMark.objects.update_or_create(name=name, defaults={"at": timezone.now()})
    except DatabaseError:
        with _lock:
            _written.pop(name, None)


def last(name: str) -> datetime | None:
    found = ServiceMark.objects.filter(name=name).values_list("at", flat=True).first()
    return found
