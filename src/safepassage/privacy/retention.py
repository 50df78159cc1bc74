"""Retention: personal data that is no longer needed is erased.

Now: applications abandoned before confirmation are erased after 24 hours (the answers shown
back in the summary need not be kept longer). Closed-case retention follows with the case
workflow (issue 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from safepassage.cases import services as cases
from safepassage.cases.models import Case, Status

ABANDONED_DRAFT_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class PurgeReport:
    abandoned_drafts: int


def purge_expired() -> PurgeReport:
    cutoff = timezone.now() - ABANDONED_DRAFT_AFTER
    drafts = Case.objects.filter(status=Status.DRAFT, updated_at__lt=cutoff)
    count = 0
    for case in drafts.iterator():
        cases.do_purge_case(case)
        count += 1
    return PurgeReport(abandoned_drafts=count)
