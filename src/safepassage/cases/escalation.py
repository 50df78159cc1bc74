"""Response-time escalation: a case whose reply deadline (``reply_due_at``, from the targets of
cases.triage) has passed is raised to supervisors once per deadline: a ``CaseEvent`` of kind
``escalated`` (no actor), the flag the console's queue shows, and the ``escalated`` daily count
(analytics). Run by a scheduled task (safepassage.tasks) every minute; safe to run twice at
once (each case is re-read under its row lock)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from safepassage.analytics import counters
from safepassage.cases import triage, workflow
from safepassage.cases.models import Case, CaseEvent

ESCALATED = "escalated"
BATCH = 500


def overdue(now: datetime) -> Q:
    return Q(status__in=workflow.OPEN_STATUSES, merged_into__isnull=True, reply_due_at__lt=now) & (
        Q(escalated_due_at__isnull=True) | ~Q(escalated_due_at=F("reply_due_at"))
    )


def is_escalated(case: Case) -> bool:
    """What the queue shows: the current deadline passed and was raised to supervisors."""
    return case.reply_due_at is not None and case.escalated_due_at == case.reply_due_at


def do_escalate_overdue(now: datetime | None = None) -> int:
    """Raise every case past its deadline and not raised for it yet; how many were."""
    now = now or timezone.now()
    raised = 0
    for case_id in Case.objects.filter(overdue(now)).values_list("pk", flat=True)[:BATCH]:
        with transaction.atomic():
            case = Case.objects.select_for_update().filter(overdue(now), pk=case_id).first()
            if case is None:  # answered, closed or raised meanwhile
                continue
            case.escalated_due_at = case.reply_due_at
            # Not a staff change: the case's version stays, so no operator's form goes stale.
            case.save(update_fields=["escalated_due_at"])
            label = triage.urgency_label(case.urgency)
            CaseEvent.objects.create(
                case=case, actor=None, kind=ESCALATED, detail=f"reply target passed ({label})"
            )
            counters.count(ESCALATED, case.channel, case.language)
            raised += 1
    return raised
