"""Signals of fake or provocation applications, and operators' marks (issue 12, flood defence).

A signal raises a case's ``fake_score`` (0-100); the score lowers the case in the queue (it is
folded into the stored ``urgency``, so the queue's index keeps its order) and the priority of
its automatic replies (channels' outboxes read :func:`suspect`). An operator's mark, "fake" or
"genuine", overrides the score either way and is recorded as a case event. Nothing is deleted
or refused on suspicion: a marked case stays in the queue, lower, and can be marked again.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from safepassage import fastsave
from safepassage.cases import triage
from safepassage.cases.models import Case, CaseEvent, ChannelIdentity, FakeMark

# What each signal adds; a case's score is capped at 100.
SIGNAL_POINTS = {
    "flooding": 30,  # the sender went over its own limit (parked)
    "campaign_burst": 20,  # many first contacts from one campaign code within seconds
    "repeated_text": 30,  # the same text from many senders within a minute
    "contradictory": 20,  # answers that cannot all be true (e.g. changed back and forth)
    "marked_sender": 50,  # an earlier case of this sender was marked fake
}
SUSPECT_SCORE = 50  # from here on, automatic replies wait behind first contacts
MAX_SCORE = 100


def suspect(case: Case | None) -> bool:
    if case is None or case.fake_mark == FakeMark.GENUINE:
        return False
    return case.fake_mark == FakeMark.FAKE or case.fake_score >= SUSPECT_SCORE


def _restore_urgency(case: Case) -> None:
    case.urgency = triage.urgency(
        case.triage, case.ready_now_at is not None, case.fake_score, case.fake_mark
    )


def do_raise(case: Case, signal: str) -> None:
    """One signal seen for ``case`` (inside the caller's transaction). A case an operator
    marked genuine keeps its mark; the score still records what was seen."""
    points = SIGNAL_POINTS[signal]
    score = min(MAX_SCORE, case.fake_score + points)
    if score == case.fake_score:
        return
    case.fake_score = score
    _restore_urgency(case)
    fastsave.update_fields(case, ["fake_score", "urgency"])


def marked_fake_before(pseudonym: str, channel: str) -> bool:
    """Whether an operator marked a case of this sender fake (the mark feeds back)."""
    identity = ChannelIdentity.objects.filter(channel=channel, pseudonym=pseudonym).first()
    if identity is None:
        return False
    return Case.objects.filter(contact_id=identity.contact_id, fake_mark=FakeMark.FAKE).exists()


def do_mark(case: Case, actor: User, mark: str, expected_version: int | None = None) -> Case:
    """An operator's verdict: "fake", "genuine", or "" (unmarked again). Recorded as a case
    event (who, when, which mark); the case is never closed or deleted by it."""
    from safepassage.cases import casework  # the workflow's locking helpers

    if mark not in FakeMark.values:
        raise ValueError("unknown mark")
    with transaction.atomic():
        fresh = casework._locked(case, expected_version)
        if fresh.fake_mark == mark:
            return fresh
        old = fresh.fake_mark or "none"
        fresh.fake_mark = mark
        if mark == FakeMark.GENUINE:
            fresh.fake_score = 0  # cleared: later signals start from nothing
        _restore_urgency(fresh)
        casework._bump(fresh, ["fake_mark", "fake_score", "urgency"])
        CaseEvent.objects.create(
            case=fresh,
            actor=actor,
            kind="fake_mark",
            from_status=fresh.status,
            to_status=fresh.status,
            detail=f"{old} -> {mark or 'none'}",
        )
    return fresh
