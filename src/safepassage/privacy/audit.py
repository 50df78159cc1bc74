"""Writing and verifying the hash-chained audit log."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from safepassage.privacy import crypto
from safepassage.privacy.models import AuditEvent

GENESIS = "0" * 64
# PostgreSQL advisory lock serialising appends to the chain, held until the transaction ends:
# record last, after every row lock (docs/architecture.md, "Lock order with the audit chain").
_LOCK_ID = 0x5AFE_A0D1


def _digest(prev_hash: str, event: AuditEvent) -> str:
    body = json.dumps(
        {
            "prev": prev_hash,
            "at": event.at.isoformat(),
            "actor": event.actor_id,
            "action": event.action,
            "case": str(event.case_id) if event.case_id else None,
            "detail": event.detail,
        },
        sort_keys=True,
    )
    # Keyed: whoever can write the table cannot recompute a consistent chain without the key.
    return crypto.audit_mac(body.encode())


def record(
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    case_id: uuid.UUID | None = None,
    detail: str = "",
) -> AuditEvent:
    """Append one record. ``detail`` must never hold personal data."""
    return _append(actor, action, [(case_id, detail)])[0]


def record_many(
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    entries: list[tuple[uuid.UUID | None, str]],
) -> None:
    """Append one record per (case id, detail) at once: one lock and one insert for them all
    (the queue's previews: a hundred rows seen for the first time are one write, not a hundred
    turns of the chain's lock). ``detail`` must never hold personal data."""
    if entries:
        _append(actor, action, entries)


def _append(
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    entries: list[tuple[uuid.UUID | None, str]],
) -> list[AuditEvent]:
    """The records chained after the newest one, under the chain's lock, in one insert."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # The foreign keys of the rows this transaction wrote are checked now, before
                # the lock, not at COMMIT under it (Django's are deferred): a check that waits
                # for a row (a case the applicant's reply holds) then holds up no other audit
                # record, and no cycle closes through the lock. Deferred again afterwards, as
                # Django's own check_constraints() leaves them.
                cursor.execute(
                    "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED;"
                    " SELECT pg_advisory_xact_lock(%s)",
                    [_LOCK_ID],
                )
        last = AuditEvent.objects.order_by("-id").only("hash").first()
        prev = last.hash if last else GENESIS
        actor_id = actor.pk if actor is not None and actor.is_authenticated else None
        now = timezone.now()
        events = []
        for case_id, detail in entries:
            event = AuditEvent(
                at=now, actor_id=actor_id, action=action, case_id=case_id, detail=detail
            )
            event.prev_hash = prev
            event.hash = prev = _digest(prev, event)
            events.append(event)
        return AuditEvent.objects.bulk_create(events)  # in chain order: ids follow it


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None
    reason: str = ""
    head: str = GENESIS  # record it elsewhere: a later verify proves nothing was cut off

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify() -> ChainReport:
    prev = GENESIS
    count = 0
    for event in AuditEvent.objects.order_by("id").iterator():
        if event.prev_hash != prev:
            return ChainReport(count, event.id, "does not point at the record before it")
        if _digest(prev, event) != event.hash:
            return ChainReport(count, event.id, "its content does not match its hash")
        prev = event.hash
        count += 1
    return ChainReport(count, None, head=prev)
