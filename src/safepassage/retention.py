"""Retention: personal data that is no longer needed is erased.

Closed cases are erased 90 days after closing, and cases with no contact either way for 365
days (surrendered cases are kept: their recorded wishes outlive contact). Applications abandoned
before confirmation are erased after 24 hours, and within 1-3 hours when they never got past
the first two answers (anyone can start one: a flood of them must cost little); answers an applicant
changed but never confirmed, replies an applicant saw more than 24 hours ago and replies
unread after 72 hours are sealed for staff (the server can no longer read them), and the
applicant's own copy of what they wrote (which only their browser's key opens) goes after 72
hours. Aggregate
counts (safepassage.analytics) survive every erasure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from safepassage.analytics import service
from safepassage.cases import sealed
from safepassage.cases import services as cases
from safepassage.cases.models import Case, CaseEvent, Direction, Message, Status
from safepassage.conversations.models import Conversation
from safepassage.privacy.models import RateCounter

ABANDONED_DRAFT_AFTER = timedelta(hours=24)
# Case.updated_at is floored to the hour, so 2 hours here is 1-3 hours after the last answer
# with the hourly purge: never while the applicant is still answering.
SHORT_DRAFT_AFTER = timedelta(hours=2)
SHORT_DRAFT_ANSWERS = 2
CLOSED_KEPT = timedelta(days=90)  # after closing, the personal data of a closed case goes
SILENT_KEPT = timedelta(days=365)  # no contact for a year: the application goes


PENDING_AT_MOST = timedelta(hours=24)
# A reply nobody reads is sealed anyway: it may name a meeting place and time.
UNREAD_REPLY_AT_MOST = timedelta(hours=72)


@dataclass(frozen=True)
class PurgeReport:
    abandoned_drafts: int
    closed_purged: int
    silent_purged: int
    answers_sealed: int
    replies_sealed: int
    sessions_ended: int


def purge_expired() -> PurgeReport:
    now = timezone.now()
    drafts = Case.objects.filter(status=Status.DRAFT, updated_at__lt=now - ABANDONED_DRAFT_AFTER)
    purged = 0
    for case in drafts.iterator():
        cases.do_purge_case(case)
        purged += 1
    purged += _purge_short_drafts(now)
    closed = _closed_before(now - CLOSED_KEPT)
    for case in closed:
        cases.do_purge_case(case)
    # Surrendered cases are kept: the wishes they record (not to be exchanged) outlive contact.
    silent = (
        Case.objects.exclude(status__in=[Status.DRAFT, Status.SURRENDERED])
        .filter(last_applicant_at__lt=now - SILENT_KEPT)
        .filter(Q(last_operator_at__isnull=True) | Q(last_operator_at__lt=now - SILENT_KEPT))
    )
    silent_count = 0
    for case in silent.iterator():
        cases.do_purge_case(case)
        silent_count += 1
    answers_sealed = replies_sealed = 0
    # An edit the applicant never confirmed, or a reply they saw a day ago: seal for staff.
    for case_id in (
        Case.objects.exclude(status=Status.DRAFT)
        .filter(last_applicant_at__lt=now - PENDING_AT_MOST)
        .values_list("pk", flat=True)
        .iterator()
    ):
        answers_sealed += _seal_pending_answers(case_id, now - PENDING_AT_MOST)
    for message in Message.objects.filter(
        Q(shown_at__lt=now - PENDING_AT_MOST) | Q(created_at__lt=now - UNREAD_REPLY_AT_MOST),
        direction=Direction.OUTBOUND,
    ).select_related("case"):
        if sealed.open_message_for_server(message.case, message) is not None:
            sealed.seal_message_now(message.case, message)
            replies_sealed += 1
    # The applicant's own copies open only under their browser's key; after 72 hours even the
    # ciphertext goes (their thread then shows that they wrote, not what).
    Message.objects.filter(
        direction=Direction.INBOUND,
        applicant_copy__isnull=False,
        created_at__lt=now - UNREAD_REPLY_AT_MOST,
    ).update(applicant_copy=None)
    sessions_ended, _ = Session.objects.filter(expire_date__lt=now).delete()
    RateCounter.objects.filter(expires_at__lt=now).delete()
    cases.record_waiting_peaks()  # the analyst's "waiting list over time": counts only
    service.mark(service.RETENTION_PURGE, force=True)  # the admin's landing page shows it
    return PurgeReport(
        purged, len(closed), silent_count, answers_sealed, replies_sealed, sessions_ended
    )


def _purge_short_drafts(now: datetime) -> int:
    """Drafts of at most SHORT_DRAFT_ANSWERS answers, idle for SHORT_DRAFT_AFTER: a flood of
    first answers costs rows for hours, not a day, and no genuine applicant is refused."""
    idle = Case.objects.filter(
        status=Status.DRAFT, updated_at__lt=now - SHORT_DRAFT_AFTER
    ).select_related("conversation")
    purged = 0
    for case in idle.iterator():
        conversation = getattr(case, "conversation", None)
        answered = len(conversation.state.get("history", ())) if conversation else 0
        if answered <= SHORT_DRAFT_ANSWERS:
            cases.do_purge_case(case)
            purged += 1
    return purged


def _seal_pending_answers(case_id: uuid.UUID, cutoff: datetime) -> int:
    """Seal one case's unconfirmed edits, under the locks an applicant's reply takes
    (conversations.actions.do_reply: the conversation with its case), re-read under them: a
    reply landing meanwhile would otherwise be overwritten with the map read before it."""
    with transaction.atomic():
        list(Conversation.objects.select_for_update().select_related("case").filter(case=case_id))
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None or case.status == Status.DRAFT:  # erased or withdrawn meanwhile
            return 0
        if case.last_applicant_at is None or case.last_applicant_at >= cutoff:
            return 0  # the applicant is back: their edits are theirs to confirm again
        if not sealed.has_pending_answers(case):
            return 0
        sealed.seal_answers(case)
        case.save(update_fields=["sealed_answers"])
        return 1


def _closed_before(cutoff: datetime) -> list[Case]:
    """Closed cases whose closing (the last move to 'closed') is older than ``cutoff``."""
    closing = (
        CaseEvent.objects.filter(case=OuterRef("pk"), to_status=Status.CLOSED)
        .order_by("-at")
        .values("at")[:1]
    )
    return list(
        Case.objects.filter(status=Status.CLOSED)
        .annotate(closed_at=Subquery(closing))
        .filter(closed_at__lt=cutoff)
    )
