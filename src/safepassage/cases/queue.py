"""The operators' queue: open cases, most urgent first, with filters. Read-only."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from safepassage.cases import workflow
from safepassage.cases.models import Case
from safepassage.privacy import references


@dataclass(frozen=True)
class Filters:
    status: str = ""
    language: str = ""
    channel: str = ""
    sector: str = ""
    campaign: str = ""
    mine: bool = False
    overdue: bool = False
    reference: str = ""

    @property
    def active(self) -> bool:
        return any(
            (self.status, self.language, self.channel, self.sector, self.campaign, self.mine)
        ) or bool(self.overdue or self.reference)


def apply(cases: QuerySet[Case], filters: Filters, user: User) -> QuerySet[Case]:
    if filters.reference:
        # References are stored only as an HMAC digest: search by exact (normalised) value.
        return cases.filter(reference_digest=references.reference_digest(filters.reference) or "-")
    if filters.status:
        cases = cases.filter(status=filters.status)
    else:
        cases = cases.filter(status__in=workflow.OPEN_STATUSES)
    if filters.language:
        cases = cases.filter(language=filters.language)
    if filters.channel:
        cases = cases.filter(channel=filters.channel)
    if filters.sector:
        # ``sector`` is the keyed index (privacy.crypto.sector_index): no name in the URL either.
        cases = cases.filter(handovers__sector_index=filters.sector, handovers__active=True)
    if filters.campaign:
        code = filters.campaign.lower()
        cases = cases.filter(Q(contact__campaign_code__code=code) | Q(contact__campaign__code=code))
    if filters.mine:
        cases = cases.filter(assigned_to=user)
    if filters.overdue:
        cases = cases.filter(reply_due_at__lt=timezone.now())
    return cases


def reader_rank(reads: Collection[str]) -> models.Case:
    """How well a case suits a member who reads ``reads``, used only between cases of equal
    urgency: a case ready now first, whatever its language (it is never held back waiting
    for a reader), then one marked as needing a reader of a language they read, then one in
    a language they read (unless marked as needing a reader of another), then the rest."""
    languages = list(reads)
    return models.Case(
        models.When(ready_now_at__isnull=False, then=models.Value(3)),
        models.When(needs_reader__in=languages, then=models.Value(2)),
        models.When(needs_reader="", language__in=languages, then=models.Value(1)),
        default=models.Value(0),
        output_field=models.IntegerField(),
    )


def ordered(cases: QuerySet[Case], reads: Collection[str] = ()) -> QuerySet[Case]:
    """Urgency first; within one urgency, for a member who reads some languages, the cases
    they can read (reader_rank); then whoever has waited longest since writing."""
    cases = cases.filter(merged_into__isnull=True)
    if not reads:
        # Walks the case_triage index (bench/console.py).
        return cases.order_by("-urgency", "last_applicant_at", "id")
    return cases.annotate(reader_rank=reader_rank(reads)).order_by(
        "-urgency", "-reader_rank", "last_applicant_at", "id"
    )


def own_or_unassigned(user: User) -> Q:
    return Q(assigned_to=user) | Q(assigned_to__isnull=True)


def workload() -> list[dict[str, object]]:
    """Open cases and overdue replies per assignee (None: unassigned), busiest first."""
    from django.db.models import Count

    now = timezone.now()
    rows = (
        Case.objects.filter(status__in=workflow.OPEN_STATUSES, merged_into__isnull=True)
        .values("assigned_to", "assigned_to__username")
        .annotate(
            open=Count("id"),
            overdue=Count("id", filter=Q(reply_due_at__lt=now)),
        )
        .order_by("-open")
    )
    return [dict(row) for row in rows]
